"""The bridge's guide: the Griffin-Lim waveform of a mel, the audio the mel implies with consistent phase."""
from __future__ import annotations

from typing import Optional

import torch

from gradwave.common.griffin_lim import GriffinLim


def guide_audio(mel: torch.Tensor, griffin_lim: GriffinLim, iterations: Optional[int] = None) -> torch.Tensor:
    """Griffin-Lim of the mel (..., n_mels, frames) in fp32, from a fixed phase seed, so that one mel always
    gives one guide (in training crops and in the vocoder); `iterations` overrides the module's."""
    with torch.autocast(mel.device.type, enabled=False):
        return griffin_lim.reconstruct(mel.float(), torch.Generator().manual_seed(0), iterations)

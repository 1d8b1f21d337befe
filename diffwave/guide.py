"""The bridge's guide: the Griffin-Lim waveform of a mel, the audio the mel implies with consistent phase."""
from __future__ import annotations

import torch

from gradwave.common.griffin_lim import griffin_lim
from gradwave.common.mel import MelSpectrogram


def guide_audio(mel: torch.Tensor, extractor: MelSpectrogram, iterations: int) -> torch.Tensor:
    """Griffin-Lim of the mel (..., n_mels, frames) in fp32, from a fixed phase seed, so that one mel always
    gives one guide (in training crops and in the vocoder)."""
    with torch.autocast(mel.device.type, enabled=False):
        return griffin_lim(mel.float(), extractor, n_iter=iterations, generator=torch.Generator().manual_seed(0))

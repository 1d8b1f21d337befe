"""What every DiffWave model is: a network (the `backbone`: lmnt's, philsyn's WaveNet, SaShiMi or the
frame-rate ConvNeXt) with its diffusion process (ddpm.py or bridge.py), its noise prior (prior.py) and its
noise schedule.

A network implements `condition(mel)` (whatever stays fixed over the sampling steps of one batch; None for
an unconditional model) and `denoise(audio (B, T), step (B,), conditioning) -> prediction (B, 1, T)`: the
noise under the DDPM, the clean signal under the bridge. Training and every sampler go through those two.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from gradwave.common.griffin_lim import GriffinLim
from gradwave.common.mel import MelConfig, MelSpectrogram

from . import bridge, ddpm, prior
from .config import DiffWaveModelConfig, TrainingStatistics
from .prior import NoisePrior, Prior
from .s4 import LAYOUTS
from .schedules import noise_levels, training_betas
from .spectral_loss import loss_extractors

BACKBONES = ("diffwave", "wavenet", "sashimi", "convnext")
PROCESSES = {"ddpm": ddpm, "bridge": bridge}


def check_config(c: DiffWaveModelConfig) -> None:
    if c.backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, not {c.backbone!r}")
    if c.bands < 1 or c.hop_samples % c.bands:
        raise ValueError(f"bands ({c.bands}) must be a positive divisor of hop_samples ({c.hop_samples})")
    if c.bands > 1 and c.backbone != "diffwave":
        raise ValueError(f"bands > 1 is an option of the diffwave backbone, not of {c.backbone}")
    if c.backbone == "sashimi" and c.sashimi.layout not in LAYOUTS:
        raise ValueError(f"sashimi.layout must be one of {', '.join(LAYOUTS)}, not {c.sashimi.layout!r}")
    if c.process not in PROCESSES:
        raise ValueError(f"process must be one of {', '.join(PROCESSES)}, not {c.process!r}")
    training_betas(c)
    prior.check(c)
    PROCESSES[c.process].check(c)


class DiffusionModel(nn.Module):
    """`mel`: the mel config of the model's features (the bridge's guide and loss, the prior's bands use
    it); `statistics`: what training measured on its data."""

    def __init__(self, config: DiffWaveModelConfig, mel: Optional[MelConfig] = None,
                 statistics: Optional[TrainingStatistics] = None):
        super().__init__()
        check_config(config)
        self.config = config
        self.statistics = statistics or TrainingStatistics()
        self.prior = Prior(config, self.statistics.prior_energy_min, mel)
        # alpha_bar of every training step, built once (not per training step) on the model's device
        self.register_buffer("alpha_bar", noise_levels(config), persistent=False)
        if config.process == "bridge":
            if mel is None:
                raise ValueError("process 'bridge' inverts the mel for its guide: the model needs its mel config")
            self.guide_extractor = MelSpectrogram(mel)
            # the sampler's guide; training's crops bring theirs (data.py) at `bridge.guide_iterations`
            self.guide_griffin_lim = GriffinLim(self.guide_extractor, bridge.sampling_iterations(config),
                                                persistent=False)
            self.loss_extractors = nn.ModuleList(loss_extractors(mel, config.bridge.mel_loss_fft_sizes))

    @property
    def process(self):
        """The module of the model's diffusion process: ddpm or bridge."""
        return PROCESSES[self.config.process]

    def noise_prior(self, mel: Optional[torch.Tensor]) -> NoisePrior:
        return self.prior.for_mel(mel)

    def condition(self, spectrogram: Optional[torch.Tensor], hoist: bool = True,
                  guide: Optional[torch.Tensor] = None) -> Any:
        """What `denoise` needs of the mel, computed once per batch. `hoist` lets a network precompute
        per-layer projections when it can (see `conditioning_bytes`). `guide`: the bridge's guide audio."""
        if self.config.unconditional:
            return None
        if spectrogram is None:
            raise ValueError(f"this {self.config.backbone} model is conditional: pass a mel spectrogram")
        if spectrogram.shape[1] != self.config.n_mels:
            raise ValueError(f"mel has {spectrogram.shape[1]} bands, the model expects {self.config.n_mels}")
        return spectrogram

    def conditioning_bytes(self, batch: int, samples: int) -> int:
        """Memory that hoisting the conditioning would take (0: this network does not hoist)."""
        return 0

    def denoise(self, audio: torch.Tensor, step: torch.Tensor, conditioning: Any) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, audio: torch.Tensor, diffusion_step: torch.Tensor,
                spectrogram: Optional[torch.Tensor] = None, guide: Optional[torch.Tensor] = None) -> torch.Tensor:
        """lmnt's signature (and the bridge's guide audio): the prediction (B, 1, samples)."""
        return self.denoise(audio, diffusion_step, self.condition(spectrogram, hoist=False, guide=guide))

    def compute_loss(self, batch: dict) -> dict:
        return self.process.training_loss(self, batch)

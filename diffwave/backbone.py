"""The contract between diffusion (diffusion.py) and a noise-predicting network.

A backbone has a `config` (DiffWaveModelConfig: the diffusion fields and its own shape),
`condition(mel)` (whatever stays fixed over the sampling steps of one batch; None for an
unconditional model) and `denoise(audio (B, T), step (B,), conditioning) -> predicted noise (B, 1, T)`.
Training and every sampler go through those two methods only.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from .config import DiffWaveModelConfig
from .diffusion import noise_levels, training_loss
from .s4 import LAYOUTS

BACKBONES = ("diffwave", "wavenet", "sashimi")


def check_config(c: DiffWaveModelConfig) -> None:
    if c.backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, not {c.backbone!r}")
    if c.bands < 1 or c.hop_samples % c.bands:
        raise ValueError(f"bands ({c.bands}) must be a positive divisor of hop_samples ({c.hop_samples})")
    if c.bands > 1 and c.backbone != "diffwave":
        raise ValueError(f"bands > 1 is an option of the diffwave backbone, not of {c.backbone}")
    if c.prior_grad and c.unconditional:
        raise ValueError("prior_grad needs a mel: it cannot be used with an unconditional model")
    if c.prior_bands and (c.hop_samples % c.prior_bands or not c.prior_grad):
        raise ValueError(f"prior_bands ({c.prior_bands}) needs prior_grad and must divide hop_samples")
    if c.prior_scale not in ("energy", "amplitude"):
        raise ValueError(f"prior_scale must be 'energy' or 'amplitude', not {c.prior_scale!r}")
    if c.prior_scale == "amplitude" and not c.prior_bands:
        raise ValueError("prior_scale 'amplitude' scales bands: it needs prior_bands > 0")
    if c.whitened and (not c.prior_grad or c.predict != "noise" or c.stft_loss_weight > 0):
        raise ValueError("whitened needs prior_grad, predict 'noise' and no STFT loss")
    if c.predict not in ("noise", "clean"):
        raise ValueError(f"predict must be 'noise' or 'clean', not {c.predict!r}")
    if c.loss not in ("l1", "l2"):
        raise ValueError(f"loss must be 'l1' or 'l2', not {c.loss!r}")
    if c.griffin_lim_guide < 0:
        raise ValueError(f"griffin_lim_guide ({c.griffin_lim_guide}) counts iterations: it cannot be negative")
    if c.griffin_lim_guide and (c.backbone != "diffwave" or c.unconditional or c.whitened):
        raise ValueError("griffin_lim_guide is an option of the conditional diffwave backbone without whitened")
    if c.guide_residual and (not c.griffin_lim_guide or c.predict != "clean"):
        raise ValueError("guide_residual needs griffin_lim_guide and predict 'clean'")
    if c.process not in ("ddpm", "bridge"):
        raise ValueError(f"process must be 'ddpm' or 'bridge', not {c.process!r}")
    if c.process == "bridge" and (not c.griffin_lim_guide or c.predict != "clean"):
        raise ValueError("process 'bridge' starts at the guide: it needs griffin_lim_guide and predict 'clean'")
    if c.process == "bridge" and (c.bridge_noise < 0 or not 1 <= c.bridge_steps <= len(c.noise_schedule)):
        raise ValueError(f"bridge_noise ({c.bridge_noise}) must be >= 0 and bridge_steps ({c.bridge_steps}) "
                         f"between 1 and the {len(c.noise_schedule)} training steps")
    if c.clean_loss_weight < 0 or (c.clean_loss_weight == 0 and c.stft_loss_weight <= 0 and c.mel_loss_weight <= 0):
        raise ValueError(f"clean_loss_weight ({c.clean_loss_weight}) must be >= 0, and > 0 without a spectral loss")
    if c.mel_loss_weight > 0 and (not c.griffin_lim_guide or c.whitened):
        raise ValueError("mel_loss_weight is taken in the guide's mel definition: it needs griffin_lim_guide")
    if c.griffin_lim_guide and not c.guide_mel:
        raise ValueError("griffin_lim_guide needs guide_mel, the mel config (training sets it)")
    if c.backbone == "sashimi" and c.sashimi.layout not in LAYOUTS:
        raise ValueError(f"sashimi.layout must be one of {', '.join(LAYOUTS)}, not {c.sashimi.layout!r}")


class Backbone(nn.Module):
    def __init__(self, config: DiffWaveModelConfig):
        super().__init__()
        check_config(config)
        self.config = config
        # alpha_bar of every training step, built once (not per training step) on the model's device
        self.register_buffer("alpha_bar", noise_levels(config), persistent=False)

    def condition(self, spectrogram: Optional[torch.Tensor], hoist: bool = True,
                  guide: Optional[torch.Tensor] = None) -> Any:
        """What `denoise` needs of the mel, computed once per batch. `hoist` lets a backbone precompute
        per-layer projections when it can (see `conditioning_bytes`). `guide`: the Griffin-Lim audio
        (B, samples) of a `griffin_lim_guide` model when the caller has it (training crops)."""
        if self.config.unconditional:
            return None
        if spectrogram is None:
            raise ValueError(f"this {self.config.backbone} model is conditional: pass a mel spectrogram")
        if spectrogram.shape[1] != self.config.n_mels:
            raise ValueError(f"mel has {spectrogram.shape[1]} bands, the model expects {self.config.n_mels}")
        return spectrogram

    def conditioning_bytes(self, batch: int, samples: int) -> int:
        """Memory that hoisting the conditioning would take (0: this backbone does not hoist)."""
        return 0

    def denoise(self, audio: torch.Tensor, step: torch.Tensor, conditioning: Any) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, audio: torch.Tensor, diffusion_step: torch.Tensor,
                spectrogram: Optional[torch.Tensor] = None, guide: Optional[torch.Tensor] = None) -> torch.Tensor:
        """lmnt's signature (and a `griffin_lim_guide` model's guide audio): predicted noise (B, 1, samples)."""
        return self.denoise(audio, diffusion_step, self.condition(spectrogram, hoist=False, guide=guide))

    def compute_loss(self, batch: dict) -> dict:
        return training_loss(self, batch)

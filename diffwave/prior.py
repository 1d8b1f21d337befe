"""PriorGrad (Lee et al., 2022): the diffusion's noise is N(0, Sigma) with Sigma from the mel, so quiet
frames get quiet noise. Sigma is diagonal per sample, scaled by the frame energy, or with `prior.bands`
per frame and per band of an orthogonal block DCT, so the noise also carries the mel's coarse spectral
envelope (in the spirit of SpecGrad). Both processes draw their noise through a `NoisePrior`."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from gradwave.common.mel import MelConfig

from .bands import band_basis, from_bands, to_bands
from .config import DiffWaveModelConfig


def check(c: DiffWaveModelConfig) -> None:
    if c.prior.enabled and c.unconditional:
        raise ValueError("prior.enabled needs a mel: PriorGrad cannot be used with an unconditional model")
    if c.prior.bands and (c.hop_samples % c.prior.bands or not c.prior.enabled):
        raise ValueError(f"prior.bands ({c.prior.bands}) needs prior.enabled and must divide hop_samples")


def energy_to_std(energy: torch.Tensor, config: DiffWaveModelConfig, energy_min: float) -> torch.Tensor:
    """PriorGrad's map of an energy, clamped to the energy range, to a scale in [prior.std_min, 1]."""
    energy = energy.clamp(max=config.prior.energy_max)
    std = (energy - energy_min) / (config.prior.energy_max - energy_min)
    return std.clamp(min=config.prior.std_min)


def per_sample(std: torch.Tensor, samples_per_frame: int) -> torch.Tensor:
    """(..., frames) -> (..., frames * samples_per_frame), each frame's value repeated (as repeat_interleave,
    written so that ONNX exports it for any rank)."""
    return std.unsqueeze(-1).expand(*std.shape, samples_per_frame).reshape(*std.shape[:-1], -1)


def linear_power(mel: torch.Tensor, config: DiffWaveModelConfig) -> torch.Tensor:
    """exp(mel), each bin clamped where it alone saturates the energy (energy_max^2): the same scales, and no
    overflow to inf (then NaN in the per-band product) for a mel far outside any audio's range."""
    return mel.float().clamp(max=2 * math.log(config.prior.energy_max)).exp()


def prior_std(mel: torch.Tensor, config: DiffWaveModelConfig, energy_min: float) -> torch.Tensor:
    """The noise scale per sample (B, frames * hop) from a natural-log mel (B, n_mels, frames): frame
    energy sqrt(sum exp(mel)) through `energy_to_std`."""
    std = energy_to_std(linear_power(mel, config).sum(1).sqrt(), config, energy_min)
    return per_sample(std, config.hop_samples)


def band_std(mel: torch.Tensor, config: DiffWaveModelConfig, energy_min: float,
             mel_band: Sequence[int]) -> torch.Tensor:
    """The scale per band and frame, (B, prior.bands, frames * hop / prior.bands): the energy of the mel
    bins in each band (`mel_band` maps each bin to its band) through `energy_to_std`."""
    members = torch.nn.functional.one_hot(torch.tensor(mel_band, device=mel.device), config.prior.bands)
    energy = (members.T.float() @ linear_power(mel, config)).sqrt()  # a sum per band, as a product ONNX exports
    std = energy_to_std(energy, config, energy_min)
    return per_sample(std, config.hop_samples // config.prior.bands)


def mel_band_map(mel: MelConfig, bands: int) -> list[int]:
    """The block-DCT band (centred at k * sample_rate / (2 * bands)) nearest to each mel bin's centre."""
    import librosa

    centres = librosa.mel_frequencies(mel.n_mels + 2, fmin=mel.f_min, fmax=mel.upper_frequency,
                                      htk=mel.mel_scale == "htk")[1:-1]
    width = mel.sample_rate / 2 / bands
    return [min(bands - 1, int(round(f / width))) for f in centres]


def frame_energy_range(mels: list[torch.Tensor]) -> tuple[float, float]:
    """Smallest and largest frame energy over a list of natural-log mels (n_mels, frames)."""
    energies = torch.cat([m.float().exp().sum(0).sqrt() for m in mels])
    return float(energies.min()), float(energies.max())


class NoisePrior:
    """The noise N(0, Sigma) of one batch of mels: white (`std` None), scaled per sample, or per band
    (`basis` the block DCT). Training draws `shape(white)` and weighs errors by `whiten`; sampling starts
    from and adds `shape(white)`."""

    def __init__(self, std: Optional[torch.Tensor] = None, basis: Optional[torch.Tensor] = None):
        self.std = std
        self.basis = basis

    def shape(self, white: torch.Tensor) -> torch.Tensor:
        if self.std is None:
            return white
        if self.basis is None:
            return white * self.std
        return from_bands(to_bands(white, self.basis) * self.std, self.basis)

    def whiten(self, residual: torch.Tensor) -> torch.Tensor:
        if self.std is None:
            return residual
        if self.basis is None:
            return residual / self.std
        return to_bands(residual, self.basis) / self.std


class Prior:
    """A model's prior: its config, the training set's smallest frame energy and, per band, the mel bins'
    band map; `for_mel(mel)` gives one batch's `NoisePrior`."""

    def __init__(self, config: DiffWaveModelConfig, energy_min: float, mel: Optional[MelConfig]):
        if config.prior.bands and mel is None:
            raise ValueError("prior.bands maps the mel's bins to bands: the model needs its mel config")
        self.config = config
        self.energy_min = energy_min
        self.mel_band = mel_band_map(mel, config.prior.bands) if config.prior.bands else None

    def for_mel(self, mel: Optional[torch.Tensor]) -> NoisePrior:
        if not self.config.prior.enabled:
            return NoisePrior()
        if self.mel_band is None:
            return NoisePrior(prior_std(mel, self.config, self.energy_min))
        basis = band_basis(self.config.prior.bands).to(mel.device)
        return NoisePrior(band_std(mel, self.config, self.energy_min, self.mel_band), basis)

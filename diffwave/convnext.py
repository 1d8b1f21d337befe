"""A frame-rate network for DiffWave's processes (the `convnext` backbone): the process state enters as its
STFT at the mel's hop, ConvNeXt blocks (Vocos, Siuzdak 2023) run once per mel frame instead of once per
sample, and the prediction leaves as a complex STFT through the inverse STFT.

Under the bridge the network also sees the guide's STFT, and with `bridge.guide_residual` its output is a complex
gain on the guide's spectrum (a log-magnitude and a phase added to the guide's), zero at the start, so the
untrained model returns the guide. Under the DDPM it predicts the noise's STFT directly (real, imaginary).
Spectra are normalised by the window's energy, so that white noise of unit variance has bins of unit variance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gradwave.common.convnext import ConvNeXtBlock
from gradwave.common.mel import MelConfig
from gradwave.common.stft import ConvSTFT

from .base import DiffusionModel
from .bridge import guide_waveform
from .config import DiffWaveModelConfig, TrainingStatistics
from .model import DiffusionEmbedding

MAGNITUDE_FLOOR = 1e-4  # of a normalised bin: about -80 dB of a full-scale sine's (~13)
MAGNITUDE_CEILING = 100.0  # above any bin of audio in [-1, 1]


def check_stft(config: DiffWaveModelConfig, mel: Optional[MelConfig]) -> None:
    """The STFT must frame audio as the mel does: same size and hop, HiFi-GAN's padding."""
    if mel is None:
        return
    mine = f"n_fft {config.convnext.n_fft}, hop {config.hop_samples}"
    if (config.convnext.n_fft, config.hop_samples) != (mel.n_fft, mel.hop_length):
        raise ValueError(f"the convnext backbone's STFT ({mine}) disagrees with the mel config "
                         f"(n_fft {mel.n_fft}, hop {mel.hop_length})")
    if mel.padding != "hifigan":
        raise ValueError(f"the convnext backbone frames audio as the hifigan mel padding does, not {mel.padding!r}")


def polar(real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
    """A spectrum (B, bins, frames) as features (B, 3 * bins, frames): log(|X| + floor) and X / (|X| + floor),
    smooth in X (a hard unit phasor would flip with the rounding of near-silent bins). The first times the
    other two is X itself."""
    size = torch.sqrt(real ** 2 + imag ** 2) + MAGNITUDE_FLOOR
    return torch.cat([torch.log(size), real / size, imag / size], dim=1)


@dataclass
class FrameConditioning:
    """What stays the same across the sampling steps: the input convolution's share of the mel and, under the
    bridge, of the guide's features (computed once, not once per step), and the guide's features."""

    projected: torch.Tensor  # (B, dim, frames), the convolution's bias included
    guide: Optional[torch.Tensor] = None  # polar features of the guide's spectrum (B, 3 * bins, frames)


class ConvNeXtVocoder(DiffusionModel):
    def __init__(self, config: DiffWaveModelConfig, mel: Optional[MelConfig] = None,
                 statistics: Optional[TrainingStatistics] = None):
        super().__init__(config, mel, statistics)
        if mel is None and not config.unconditional:
            raise ValueError("the convnext backbone checks its STFT against the mel: a conditional model needs "
                             "its mel config")
        check_stft(config, mel)
        c = config.convnext
        window = torch.hann_window(c.n_fft)
        self.transform = ConvSTFT(c.n_fft, config.hop_samples, window, pad=(c.n_fft - config.hop_samples) // 2)
        self.spectral_gain = float(window.pow(2).sum().sqrt())
        bins = self.transform.bins
        guided = config.process == "bridge"
        self.state_channels = 3 * bins  # the input's first channels: the process state's; then the guide's, the mel
        inputs = self.state_channels * (2 if guided else 1) + (0 if config.unconditional else config.n_mels)
        self.input_conv = nn.Conv1d(inputs, c.dim, c.input_width(), padding=c.input_width() // 2)
        self.input_norm = nn.LayerNorm(c.dim)
        self.diffusion_embedding = DiffusionEmbedding(len(self.alpha_bar))
        self.blocks = nn.ModuleList([ConvNeXtBlock(c.dim, c.intermediate_dim, c.kernel_size, c.layer_scale,
                                                   self.diffusion_embedding.projection2.out_features)
                                     for _ in range(c.layers)])
        self.output_norm = nn.LayerNorm(c.dim)
        self.output = nn.Linear(c.dim, 2 * bins)
        if not guided or config.bridge.guide_residual:  # zero noise (DDPM) or the guide itself (bridge) at the start
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)

    def condition(self, spectrogram: Optional[torch.Tensor], hoist: bool = True,
                  guide: Optional[torch.Tensor] = None) -> Optional[FrameConditioning]:
        mel = super().condition(spectrogram)
        if mel is None:
            return None
        fixed, features = [mel], None
        if self.config.process == "bridge":
            guide = (guide_waveform(self, mel) if guide is None else guide).float()
            features = polar(*self.spectrum(guide))
            fixed.insert(0, features)
        weight = self.input_conv.weight[:, self.state_channels:]
        inputs = torch.cat([part.to(weight.dtype) for part in fixed], dim=1)
        return FrameConditioning(F.conv1d(inputs, weight, self.input_conv.bias, padding=self.input_conv.padding),
                                 features)

    def spectrum(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised STFT (B, bins, frames) of audio (B, samples), in fp32 even under autocast."""
        with torch.autocast(audio.device.type, enabled=False):
            real, imag = self.transform.stft(audio.float())
        return real / self.spectral_gain, imag / self.spectral_gain

    def waveform(self, real: torch.Tensor, imag: torch.Tensor, length: int) -> torch.Tensor:
        """The inverse of `spectrum`, in fp32 even under autocast."""
        with torch.autocast(real.device.type, enabled=False):
            return self.transform.istft(real.float() * self.spectral_gain, imag.float() * self.spectral_gain, length)

    def denoise(self, audio: torch.Tensor, step: torch.Tensor, cond: Optional[FrameConditioning]) -> torch.Tensor:
        length = audio.shape[-1]
        audio = F.pad(audio, (0, -length % self.config.hop_samples))
        state = polar(*self.spectrum(audio))
        if cond is None:
            x = self.input_conv(state)
        else:
            weight = self.input_conv.weight[:, :self.state_channels]
            x = F.conv1d(state, weight, padding=self.input_conv.padding) + cond.projected
        x = self.input_norm(x.transpose(1, 2)).transpose(1, 2)
        step_embedding = self.diffusion_embedding(step)
        for block in self.blocks:
            x = block(x, step_embedding)
        first, second = self.output(self.output_norm(x.transpose(1, 2))).transpose(1, 2).float().chunk(2, dim=1)
        if self.config.process == "bridge":
            residual = self.config.bridge.guide_residual
            real, imag = self.spectrum_of_gain(first, second, cond.guide.float() if residual else None)
        else:
            real, imag = first, second
        return self.waveform(real, imag, audio.shape[-1])[:, :length].unsqueeze(1)

    @staticmethod
    def spectrum_of_gain(log_gain: torch.Tensor, phase: torch.Tensor,
                         guide: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The predicted spectrum from a log-magnitude and a phase: on their own, or added to the guide's
        (`guide`: its polar features), which is the guide's spectrum times exp(log_gain + i phase)."""
        if guide is not None:
            log_magnitude, cos, sin = guide.chunk(3, dim=1)
            log_gain = log_gain + log_magnitude
            cos, sin = cos * torch.cos(phase) - sin * torch.sin(phase), sin * torch.cos(phase) + cos * torch.sin(phase)
        else:
            cos, sin = torch.cos(phase), torch.sin(phase)
        magnitude = torch.exp(log_gain.clamp(max=math.log(MAGNITUDE_CEILING)))
        return magnitude * cos, magnitude * sin

"""DiffWave (Kong et al., 2021): a WaveNet-like noise predictor conditioned on the diffusion step
and, for vocoding, on a mel spectrogram upsampled to the sample rate. Parameter names follow
lmnt-com/diffwave so its published weights load with strict=True.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gradwave.common.mel import MelConfig
from gradwave.common.autotune import fastest

from .bands import band_basis, from_bands, to_bands
from .base import DiffusionModel
from .bridge import guide_waveform
from .config import DiffWaveModelConfig, TrainingStatistics
from .fast_convolutions import Dilated, Pointwise, after, batched_linear, projected_after


def conv1d(*args, kind: type = Pointwise, **kwargs) -> nn.Conv1d:
    layer = kind(*args, **kwargs)
    nn.init.kaiming_normal_(layer.weight)
    return layer


class DiffusionEmbedding(nn.Module):
    def __init__(self, max_steps: int):
        super().__init__()
        steps = torch.arange(max_steps).unsqueeze(1)
        dims = torch.arange(64).unsqueeze(0)
        table = steps * 10.0 ** (dims * 4.0 / 63.0)
        self.register_buffer("embedding", torch.cat([torch.sin(table), torch.cos(table)], dim=1), persistent=False)
        self.projection1 = nn.Linear(128, 512)
        self.projection2 = nn.Linear(512, 512)

    def lookup(self, step: torch.Tensor) -> torch.Tensor:
        """Integer steps index the table; fractional steps interpolate between neighbours."""
        if not step.is_floating_point():
            return self.embedding[step]
        low_index = torch.floor(step).long()
        low = self.embedding[low_index]
        high = self.embedding[torch.ceil(step).long()]
        return low + (high - low) * (step - low_index).unsqueeze(-1)

    def forward(self, step: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.projection1(self.lookup(step)))
        return F.silu(self.projection2(x))


def upsampler_strides(hop: int) -> list[int]:
    """Two strides whose product is `hop`, as equal as possible and even where that exists
    (even strides with kernel 2s and padding s/2 give exactly s outputs per input)."""
    pairs = [(a, hop // a) for a in range(1, hop + 1) if hop % a == 0]
    even = [p for p in pairs if p[0] % 2 == 0 and p[1] % 2 == 0]
    a, b = min(even or pairs, key=lambda p: abs(p[0] - p[1]))
    return [max(a, b), min(a, b)]


class SpectrogramUpsampler(nn.Module):
    """Mel frames -> sample rate with two transposed 2-D convolutions (upstream: 16 x 16 = 256)."""

    def __init__(self, hop: int = 256):
        super().__init__()
        self.hop = hop
        s1, s2 = upsampler_strides(hop)
        self.conv1 = nn.ConvTranspose2d(1, 1, [3, 2 * s1], stride=[1, s1], padding=[1, s1 // 2])
        self.conv2 = nn.ConvTranspose2d(1, 1, [3, 2 * s2], stride=[1, s2], padding=[1, s2 // 2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[-1]
        x = F.leaky_relu(self.conv1(x.unsqueeze(1)), 0.4)
        x = F.leaky_relu(self.conv2(x), 0.4)
        return x.squeeze(1)[..., :frames * self.hop]


class ResidualBlock(nn.Module):
    def __init__(self, n_mels: int, residual_channels: int, dilation: int, unconditional: bool = False):
        super().__init__()
        self.dilated_conv = conv1d(residual_channels, 2 * residual_channels, 3, padding=dilation, dilation=dilation,
                                   kind=Dilated)
        self.diffusion_projection = nn.Linear(512, residual_channels)
        self.conditioner_projection = None if unconditional else conv1d(n_mels, 2 * residual_channels, 1)
        self.output_projection = conv1d(residual_channels, 2 * residual_channels, 1)

    def forward(self, x, step_embedding, conditioner=None, projected_conditioner=None):
        """`projected_conditioner` is this layer's `conditioner_projection(conditioner)`, when the
        caller has computed it already (once per utterance instead of once per step)."""
        y = self.dilated_conv(x + self.diffusion_projection(step_embedding).unsqueeze(-1))
        if projected_conditioner is not None:
            y = y + projected_conditioner
        elif self.conditioner_projection is not None:
            y = y + projected_after(self.conditioner_projection, conditioner, y)
        gate, filter_ = torch.chunk(y, 2, dim=1)
        y = self.output_projection(torch.sigmoid(gate) * torch.tanh(filter_))
        residual, skip = torch.chunk(y, 2, dim=1)
        return (x + residual) / math.sqrt(2.0), skip


@dataclass
class Conditioning:
    """What stays the same across the sampling steps of one batch of utterances."""

    upsampled: Optional[torch.Tensor]  # (B, n_mels, samples)
    projected: Optional[list[torch.Tensor]]  # per layer (B, 2C, samples), or None when not hoisted
    guide: Optional[torch.Tensor] = None  # the bridge's guide audio in bands


class DiffWave(DiffusionModel):
    """lmnt's network (the `diffwave` backbone); under the bridge it also takes the guide audio as input
    channels beside the noisy signal, and with `bridge.guide_residual` adds its output to the guide."""

    def __init__(self, config: DiffWaveModelConfig, mel: Optional[MelConfig] = None,
                 statistics: Optional[TrainingStatistics] = None):
        super().__init__(config, mel, statistics)
        c = config
        if c.bands > 1:  # orthogonal, so white noise stays white and the diffusion is unchanged
            self.register_buffer("basis", band_basis(c.bands), persistent=False)
        self.input_projection = conv1d(c.bands * (2 if c.bridge.guide_iterations else 1), c.residual_channels, 1)
        self.diffusion_embedding = DiffusionEmbedding(len(self.alpha_bar))
        self.spectrogram_upsampler = None if c.unconditional else SpectrogramUpsampler(c.hop_samples // c.bands)
        self.residual_layers = nn.ModuleList([
            ResidualBlock(c.n_mels, c.residual_channels, 2 ** (i % c.dilation_cycle_length), c.unconditional)
            for i in range(c.residual_layers)
        ])
        self.skip_projection = conv1d(c.residual_channels, c.residual_channels, 1)
        self.output_projection = conv1d(c.residual_channels, c.bands, 1)
        nn.init.zeros_(self.output_projection.weight)
        if c.bridge.guide_residual:  # then the untrained network's clean estimate is the guide exactly
            nn.init.zeros_(self.output_projection.bias)
        self.cpu_kernels_chosen = False

    def choose_cpu_kernels(self, samples: int) -> None:
        """On the CPU, the first time: the faster form of the dilated convolutions (`Dilated.as_2d`) for this
        CPU, timed on this model's layers over up to a second of positions (gradwave.common.autotune)."""
        if self.cpu_kernels_chosen or self.alpha_bar.device.type != "cpu":
            return
        self.cpu_kernels_chosen = True
        c = self.config
        layers = [block.dilated_conv for block in self.residual_layers[:c.dilation_cycle_length]]
        x = torch.randn(1, c.residual_channels, min(samples, c.sample_rate) // c.bands,
                        generator=torch.Generator().manual_seed(0))  # not the training's random stream

        def run(as_2d: bool):
            def forward():
                for layer in layers:
                    layer.as_2d = as_2d
                    layer(x)
            return forward

        with torch.no_grad():
            name = (f"dilated convolutions of {c.residual_channels} channels, cycle {c.dilation_cycle_length}, "
                    f"{x.shape[-1]} positions")
            as_2d = fastest(name, {"conv1d": run(False), "conv2d": run(True)}) == "conv2d"
        for block in self.residual_layers:
            block.dilated_conv.as_2d = as_2d

    def condition(self, spectrogram: Optional[torch.Tensor], hoist: bool = True,
                  guide: Optional[torch.Tensor] = None) -> Conditioning:
        """Upsample the mel once; with `hoist`, also apply every layer's conditioner projection in one
        batched convolution (2 * residual_channels * residual_layers values per sample of memory)."""
        self.choose_cpu_kernels(self.config.audio_len if spectrogram is None else
                                spectrogram.shape[-1] * self.config.hop_samples)
        if self.spectrogram_upsampler is None:
            return Conditioning(None, None)
        mel = super().condition(spectrogram)
        if self.config.process == "bridge":
            guide = self.to_bands((guide_waveform(self, mel) if guide is None else guide).float())
        else:
            guide = None
        upsampled = self.spectrogram_upsampler(mel)
        if not hoist:
            return Conditioning(upsampled, None, guide)
        weight = torch.cat([layer.conditioner_projection.weight for layer in self.residual_layers])
        bias = torch.cat([layer.conditioner_projection.bias for layer in self.residual_layers])
        projected = (batched_linear(weight.squeeze(-1), bias, upsampled) if upsampled.device.type == "cpu"
                     else F.conv1d(upsampled, weight, bias))
        return Conditioning(upsampled, list(projected.chunk(len(self.residual_layers), dim=1)), guide)

    def conditioning_bytes(self, batch: int, samples: int) -> int:
        c = self.config
        return 4 * batch * samples // c.bands * 2 * c.residual_channels * c.residual_layers

    def to_bands(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, bands, samples / bands)."""
        if self.config.bands == 1:
            return audio.unsqueeze(1)
        return to_bands(audio, self.basis)

    def from_bands(self, bands: torch.Tensor) -> torch.Tensor:
        """(B, bands, samples / bands) -> (B, 1, samples)."""
        if self.config.bands == 1:
            return bands
        return from_bands(bands, self.basis).unsqueeze(1)

    def denoise(self, audio: torch.Tensor, step: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        x = self.to_bands(audio)
        if cond.guide is not None:
            x = torch.cat([x, cond.guide.to(x.dtype)], dim=1)
        x = F.relu(self.input_projection(x))
        step_embedding = self.diffusion_embedding(step)
        skip = None
        for index, layer in enumerate(self.residual_layers):
            projected = cond.projected[index] if cond.projected is not None else None
            x, skip_connection = layer(x, step_embedding, cond.upsampled, projected)
            skip = skip_connection if skip is None else skip + skip_connection
            x = after(x, skip)
        x = skip / math.sqrt(len(self.residual_layers))
        x = self.output_projection(F.relu(self.skip_projection(x)))
        if self.config.bridge.guide_residual:
            x = x + cond.guide.to(x.dtype)
        return self.from_bands(x)

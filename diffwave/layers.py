"""Layers of the SaShiMi+DiffWave research code's backbones (philsyn's WaveNet and SaShiMi), under
their parameter names: weight-normalised convolutions store `weight_g` and `weight_v` as
`torch.nn.utils.weight_norm` did, so the seed projects' checkpoints load with strict=True."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import DiffusionModel


def normalised(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Weight normalisation along dim 0: g * v / ||v||, the norm over every other dimension."""
    return v * (g / v.flatten(1).norm(dim=1).view(g.shape))


class WeightNormConv1d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        conv = nn.Conv1d(in_channels, out_channels, kernel_size)
        self.padding = dilation * (kernel_size - 1) // 2
        self.dilation = dilation
        self.weight_v = nn.Parameter(conv.weight.detach().clone())
        self.weight_g = nn.Parameter(conv.weight.detach().flatten(1).norm(dim=1).view(-1, 1, 1))
        self.bias = nn.Parameter(conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, normalised(self.weight_g, self.weight_v), self.bias, padding=self.padding,
                        dilation=self.dilation)


class Conv(nn.Module):
    """Upstream's `Conv`: a weight-normalised Conv1d under `.conv`, padded to keep the length."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1):
        super().__init__()
        self.conv = WeightNormConv1d(in_channels, out_channels, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ZeroConv1d(nn.Module):
    """A 1x1 convolution that starts at zero (so a fresh model predicts zero noise)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, 1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class WeightNormConvTranspose2d(nn.Module):
    def __init__(self, stride: int):
        super().__init__()
        conv = nn.ConvTranspose2d(1, 1, (3, 2 * stride), stride=(1, stride), padding=(1, stride // 2))
        self.stride = stride
        self.weight_v = nn.Parameter(conv.weight.detach().clone())
        self.weight_g = nn.Parameter(conv.weight.detach().flatten(1).norm(dim=1).view(-1, 1, 1, 1))
        self.bias = nn.Parameter(conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, normalised(self.weight_g, self.weight_v), self.bias,
                                  stride=(1, self.stride), padding=(1, self.stride // 2))


def mel_upsampler(strides: list[int]) -> nn.ModuleList:
    """Upstream's per-layer `upsample_conv2d`: one weight-normalised transposed 2-D convolution per stride."""
    return nn.ModuleList([WeightNormConvTranspose2d(s) for s in strides])


def upsample_mel(convs: nn.ModuleList, mel: torch.Tensor, length: int) -> torch.Tensor:
    """Mel frames (B, n_mels, F) -> (B, n_mels, length) through `convs` with leaky ReLU; upstream keeps
    the first `length` values, also in SaShiMi's pooled layers, where they cover only the clip's start."""
    x = mel.unsqueeze(1)
    for conv in convs:
        x = F.leaky_relu(conv(x), 0.4)
    x = x.squeeze(1)
    if x.shape[-1] < length:
        raise ValueError(f"the mel covers {x.shape[-1]} samples, the audio has {length}")
    return x[..., :length]


@dataclass
class MelConditioning:
    """The mel for backbones whose blocks each upsample and project it (`block.mel_term(mel, length)`).
    That term does not change over the sampling steps, so with `terms` (block -> term) it is computed
    once per batch instead of at every step."""

    mel: torch.Tensor
    terms: Optional[dict] = None

    def term(self, block: nn.Module, length: int) -> torch.Tensor:
        if self.terms is not None:
            return self.terms[block]
        return block.mel_term(self.mel, length)


class BlockwiseMelModel(DiffusionModel):
    """A network whose blocks each take the mel through their own upsampler and projection (philsyn's
    WaveNet, SaShiMi); `mel_blocks(samples)` names those blocks with the length each runs at."""

    def mel_blocks(self, samples: int):
        raise NotImplementedError

    def condition(self, spectrogram: Optional[torch.Tensor], hoist: bool = True,
                  guide: Optional[torch.Tensor] = None) -> Optional[MelConditioning]:
        """With `hoist`, every block's upsampled and projected mel, computed once for all the steps."""
        mel = super().condition(spectrogram)
        if mel is None:
            return None
        if not hoist:
            return MelConditioning(mel)
        samples = mel.shape[-1] * self.config.hop_samples
        return MelConditioning(mel, {block: block.mel_term(mel, length) for block, length in self.mel_blocks(samples)})


def step_embedding(steps: torch.Tensor, dim: int = 128) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) diffusion steps (B,) -> (B, dim):
    sin and cos of t * 10000^(-k / (dim/2 - 1)), as upstream's `calc_diffusion_step_embedding`."""
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, device=steps.device) * -(math.log(10000) / (half - 1)))
    angles = steps.float().view(-1, 1) * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def embed_steps(fc_t1: nn.Linear, fc_t2: nn.Linear, steps: torch.Tensor) -> torch.Tensor:
    """The step embedding through the shared two swish layers (`fc_t1`, `fc_t2`)."""
    x = F.silu(fc_t1(step_embedding(steps, fc_t1.in_features)))
    return F.silu(fc_t2(x))

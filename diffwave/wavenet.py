"""philsyn's DiffWave WaveNet, as in the SaShiMi+DiffWave code (albertfgu/diffwave-sashimi) and RF5's
DiffWave-unconditional: weight-normalised convolutions, separate residual and skip convolutions, a
sinusoidal step embedding of 10000^(-k/63) frequencies, and for vocoding one mel upsampler per layer.
Parameter names are upstream's, so the seed projects' SC09 checkpoints load with strict=True.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from gradwave.common.mel import MelConfig

from .config import DiffWaveModelConfig, TrainingStatistics
from .layers import (BlockwiseMelModel, Conv, MelConditioning, WeightNormConv1d, ZeroConv1d, embed_steps, mel_upsampler,
                     upsample_mel)
from .model import upsampler_strides


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, skip_channels: int, dilation: int, embedding_dim: int,
                 n_mels: Optional[int], hop: int):
        super().__init__()
        self.channels = channels
        self.fc_t = nn.Linear(embedding_dim, channels)
        self.dilated_conv_layer = Conv(channels, 2 * channels, kernel_size=3, dilation=dilation)
        if n_mels is not None:
            self.upsample_conv2d = mel_upsampler(upsampler_strides(hop))
            self.mel_conv = Conv(n_mels, 2 * channels, kernel_size=1)
        self.res_conv = WeightNormConv1d(channels, channels)
        self.skip_conv = WeightNormConv1d(channels, skip_channels)

    def mel_term(self, mel: torch.Tensor, length: int) -> torch.Tensor:
        return self.mel_conv(upsample_mel(self.upsample_conv2d, mel, length))

    def forward(self, x: torch.Tensor, embedding: torch.Tensor, mel: Optional[MelConditioning]):
        h = self.dilated_conv_layer(x + self.fc_t(embedding).unsqueeze(-1))
        if mel is not None:
            h = h + mel.term(self, x.shape[-1])
        out = torch.tanh(h[:, :self.channels]) * torch.sigmoid(h[:, self.channels:])
        return (x + self.res_conv(out)) * math.sqrt(0.5), self.skip_conv(out)


class ResidualGroup(nn.Module):
    """Upstream's `residual_layer`: the step embedding's shared layers and the residual blocks."""

    def __init__(self, c: DiffWaveModelConfig):
        super().__init__()
        dims = c.step_embedding_dims
        self.fc_t1 = nn.Linear(dims[0], dims[1])
        self.fc_t2 = nn.Linear(dims[1], dims[2])
        skip = c.skip_channels or c.residual_channels
        self.residual_blocks = nn.ModuleList([
            ResidualBlock(c.residual_channels, skip, 2 ** (n % c.dilation_cycle_length), dims[2],
                          None if c.unconditional else c.n_mels, c.hop_samples)
            for n in range(c.residual_layers)
        ])

    def forward(self, x: torch.Tensor, steps: torch.Tensor, mel: Optional[MelConditioning]) -> torch.Tensor:
        embedding = embed_steps(self.fc_t1, self.fc_t2, steps)
        skip = 0
        for block in self.residual_blocks:
            x, skip_n = block(x, embedding, mel)
            skip = skip + skip_n
        return skip * math.sqrt(1.0 / len(self.residual_blocks))


class WaveNet(BlockwiseMelModel):
    def __init__(self, config: DiffWaveModelConfig, mel: Optional[MelConfig] = None,
                 statistics: Optional[TrainingStatistics] = None):
        super().__init__(config, mel, statistics)
        c = config
        skip = c.skip_channels or c.residual_channels
        self.init_conv = nn.Sequential(Conv(1, c.residual_channels, kernel_size=1), nn.ReLU())
        self.residual_layer = ResidualGroup(c)
        self.final_conv = nn.Sequential(Conv(skip, skip, kernel_size=1), nn.ReLU(), ZeroConv1d(skip, 1))

    def mel_blocks(self, samples: int):
        return ((block, samples) for block in self.residual_layer.residual_blocks)

    def conditioning_bytes(self, batch: int, samples: int) -> int:
        c = self.config
        return 0 if c.unconditional else 4 * batch * samples * 2 * c.residual_channels * c.residual_layers

    def denoise(self, audio: torch.Tensor, step: torch.Tensor, conditioning: Optional[MelConditioning]) -> torch.Tensor:
        x = self.init_conv(audio.unsqueeze(1))
        return self.final_conv(self.residual_layer(x, step, conditioning))

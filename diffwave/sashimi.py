"""SaShiMi (Goel et al., "It's Raw! Audio Generation with State-Space Models", 2022) as a diffusion
backbone: a multi-scale U-Net of bidirectional S4 layers and feed-forward layers, with the step
embedding added in every S4 block and, for vocoding, a mel upsampler per S4 block. Two upstream
layouts (`model.sashimi.layout`), under their parameter names:
- "diffwave_sashimi", the SaShiMi+DiffWave code (albertfgu/diffwave-sashimi): one block holds an S4
  layer and a feed-forward layer, each normalised by a TransposedLN; pools are 1x1 convolutions;
- "state_spaces", the state-spaces repo's SaShiMi as RF5/DiffWave-unconditional trains it: separate
  pre-LayerNorm residual blocks for S4 and feed-forward layers, up-pool blocks nested per level, pools
  and feed-forward layers as transposed linear maps, every S4 kernel set up for the full `l_max`.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from gradwave.common.mel import MelConfig

from .config import DiffWaveModelConfig, TrainingStatistics
from .layers import (BlockwiseMelModel, Conv, MelConditioning, ZeroConv1d, embed_steps, mel_upsampler, normalised,
                     upsample_mel)
from .model import upsampler_strides
from .s4 import S4, TransposedLinear

STD_FLOOR = 1e-5


class TransposedLN(nn.Module):
    """Upstream's normalisation over channels with one learnt scale and shift: s/std * (x - mean + m).
    The standard deviation is floored at STD_FLOOR: upstream divides by zero where every channel
    holds the same value, which a narrow model meets right after its first ReLU (all channels 0)."""

    def __init__(self):
        super().__init__()
        self.m = nn.Parameter(torch.zeros(1))
        self.s = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std, mean = torch.std_mean(x, dim=-2, unbiased=False, keepdim=True)
        return self.s / std.clamp_min(STD_FLOOR) * (x - mean + self.m)


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of (B, H, L), as the state-spaces code applies it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(-1, -2)).transpose(-1, -2)


class WeightNormLinear(nn.Module):
    """A weight-normalised `TransposedLinear` (`weight_g` (out, 1), `weight_v` (out, in), bias (out, 1))."""

    def __init__(self, d_input: int, d_output: int):
        super().__init__()
        linear = TransposedLinear(d_input, d_output)
        self.weight_v = nn.Parameter(linear.weight.detach().clone())
        self.weight_g = nn.Parameter(linear.weight.detach().norm(dim=1, keepdim=True))
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bil,oi->bol", x, normalised(self.weight_g, self.weight_v)) + self.bias


class FF(nn.Module):
    def __init__(self, d_model: int, expand: int):
        super().__init__()
        self.ff = nn.Sequential(Conv(d_model, expand * d_model, 1), nn.GELU(), Conv(expand * d_model, d_model, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


def pool_linear(d_input: int, d_output: int, layout: str) -> nn.Module:
    return Conv(d_input, d_output, 1) if layout == "diffwave_sashimi" else WeightNormLinear(d_input, d_output)


class DownPool(nn.Module):
    """(B, H, L) -> (B, H * expand, L / pool): fold `pool` neighbours into channels, then a linear map."""

    def __init__(self, d_input: int, d_output: int, pool: int, layout: str):
        super().__init__()
        self.pool = pool
        self.linear = pool_linear(d_input * pool, d_output, layout)

    def forward(self, x: torch.Tensor, embedding=None, mel=None) -> torch.Tensor:
        b, h, length = x.shape
        x = x.reshape(b, h, length // self.pool, self.pool).transpose(2, 3).reshape(b, h * self.pool, -1)
        return self.linear(x)


class UpPool(nn.Module):
    """(B, H * expand, L) -> (B, H, L * pool): a linear map, then unfold channels into neighbours."""

    def __init__(self, d_input: int, d_output: int, pool: int, layout: str):
        super().__init__()
        self.pool = pool
        self.linear = pool_linear(d_input, d_output * pool, layout)

    def forward(self, x: torch.Tensor, embedding=None, mel=None) -> torch.Tensor:
        x = self.linear(x)
        b, hs, length = x.shape
        return x.reshape(b, hs // self.pool, self.pool, length).transpose(2, 3).reshape(b, hs // self.pool, -1)


class S4Block(nn.Module):
    """What an S4 block shares in both layouts: the step embedding joins the normalised input of the
    S4 layer, the mel (upsampled and projected) its output."""

    def __init__(self, d_model: int, l_max: int, c: DiffWaveModelConfig):
        super().__init__()
        self.fc_t = nn.Linear(c.step_embedding_dims[2], d_model)
        self.layer = S4(d_model, c.sashimi.d_state, l_max, c.sashimi.conjugate_pairs, c.sashimi.layout)
        if not c.unconditional:
            self.upsample_conv2d = mel_upsampler(upsampler_strides(c.hop_samples))
            self.mel_conv = Conv(c.n_mels, d_model, kernel_size=1)

    def mel_term(self, mel: torch.Tensor, length: int) -> torch.Tensor:
        return self.mel_conv(upsample_mel(self.upsample_conv2d, mel, length))

    def s4_branch(self, normalised_x: torch.Tensor, embedding: torch.Tensor,
                  mel: Optional[MelConditioning]) -> torch.Tensor:
        y = self.layer(normalised_x + self.fc_t(embedding).unsqueeze(-1))
        if mel is not None:
            y = y + mel.term(self, normalised_x.shape[-1])
        return y


class DiffWaveBlock(S4Block):
    """diffwave_sashimi: the S4 and feed-forward residual layers in one block, each pre-normalised."""

    def __init__(self, d_model: int, l_max: int, c: DiffWaveModelConfig):
        super().__init__(d_model, l_max, c)
        self.ff = FF(d_model, c.sashimi.ff)
        self.norm1 = TransposedLN()
        self.norm2 = TransposedLN()

    def forward(self, x: torch.Tensor, embedding: torch.Tensor, mel: Optional[MelConditioning]) -> torch.Tensor:
        x = x + self.s4_branch(self.norm1(x), embedding, mel)
        return x + self.ff(self.norm2(x))


class ResidualS4Block(S4Block):
    """state_spaces: x + S4(LayerNorm(x) + step embedding) (+ mel)."""

    def __init__(self, d_model: int, l_max: int, c: DiffWaveModelConfig):
        super().__init__(d_model, l_max, c)
        self.norm = ChannelLayerNorm(d_model)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor, mel: Optional[MelConditioning]) -> torch.Tensor:
        return x + self.s4_branch(self.norm(x), embedding, mel)


class FeedForward(nn.Module):
    """The state-spaces code's FFBlock: linear to expand * H, GELU, linear back (`ff.0.0`, `ff.2`)."""

    def __init__(self, d_model: int, expand: int):
        super().__init__()
        self.ff = nn.Sequential(nn.Sequential(TransposedLinear(d_model, expand * d_model), nn.GELU()),
                                nn.Identity(), TransposedLinear(expand * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class ResidualFFBlock(nn.Module):
    """state_spaces: x + FeedForward(LayerNorm(x))."""

    def __init__(self, d_model: int, expand: int):
        super().__init__()
        self.layer = FeedForward(d_model, expand)
        self.norm = ChannelLayerNorm(d_model)

    def forward(self, x: torch.Tensor, embedding=None, mel=None) -> torch.Tensor:
        return x + self.layer(self.norm(x))


class Sashimi(BlockwiseMelModel):
    def __init__(self, config: DiffWaveModelConfig, mel: Optional[MelConfig] = None,
                 statistics: Optional[TrainingStatistics] = None):
        super().__init__(config, mel, statistics)
        s = config.sashimi
        dims = config.step_embedding_dims
        self.unet = s.unet
        self.layout = s.layout
        self.init_conv = nn.Sequential(Conv(1, s.d_model, kernel_size=1), nn.ReLU())
        self.fc_t1 = nn.Linear(dims[0], dims[1])
        self.fc_t2 = nn.Linear(dims[1], dims[2])
        width, length = s.d_model, s.l_max
        down = []
        for pool in s.pool:
            if s.unet:
                down += self.level_blocks(width, length)
            down.append(DownPool(width, width * s.expand, pool, s.layout))
            length //= pool
            width *= s.expand
        self.d_layers = nn.ModuleList(down)
        self.c_layers = nn.ModuleList(self.level_blocks(width, length))
        up = []
        for pool in reversed(s.pool):
            width //= s.expand
            length *= pool
            up.append([UpPool(width * s.expand, width, pool, s.layout)] + self.level_blocks(width, length))
        if s.layout == "diffwave_sashimi":
            self.u_layers = nn.ModuleList([layer for level in up for layer in level])
        else:
            self.u_layers = nn.ModuleList([nn.ModuleList(level) for level in up])
        self.stride = math.prod(s.pool)
        self.norm = TransposedLN() if s.layout == "diffwave_sashimi" else ChannelLayerNorm(s.d_model)
        self.final_conv = nn.Sequential(Conv(s.d_model, s.d_model, kernel_size=1), nn.ReLU(),
                                        ZeroConv1d(s.d_model, 1))

    def level_blocks(self, width: int, length: int) -> list[nn.Module]:
        """The `n_layers` blocks of one level. state_spaces: residual S4 blocks, each followed by a
        residual feed-forward block when `ff` > 0, and every S4 kernel set up for `l_max`, as upstream."""
        s = self.config.sashimi
        if s.layout == "diffwave_sashimi":
            return [DiffWaveBlock(width, length, self.config) for _ in range(s.n_layers)]
        blocks = []
        for _ in range(s.n_layers):
            blocks.append(ResidualS4Block(width, s.l_max, self.config))
            if s.ff > 0:
                blocks.append(ResidualFFBlock(width, s.ff))
        return blocks

    def up_levels(self) -> list[list[nn.Module]]:
        """The up path one level at a time, each starting with its UpPool."""
        if self.layout != "diffwave_sashimi":
            return [list(level) for level in self.u_layers]
        levels = []
        for layer in self.u_layers:
            if isinstance(layer, UpPool):
                levels.append([])
            levels[-1].append(layer)
        return levels

    def mel_blocks(self, samples: int):
        """Each S4 block with the length it runs at, for an input of `samples`."""
        length = samples
        for layer in [*self.d_layers, *self.c_layers, *(layer for level in self.up_levels() for layer in level)]:
            if isinstance(layer, DownPool):
                length //= layer.pool
            elif isinstance(layer, UpPool):
                length *= layer.pool
            elif isinstance(layer, S4Block):
                yield layer, length

    def conditioning_bytes(self, batch: int, samples: int) -> int:
        if self.config.unconditional:
            return 0
        return sum(4 * batch * length * block.fc_t.out_features for block, length in self.mel_blocks(samples))

    def denoise(self, audio: torch.Tensor, step: torch.Tensor, conditioning: Optional[MelConditioning]) -> torch.Tensor:
        if audio.shape[-1] % self.stride:
            raise ValueError(f"SaShiMi needs a length divisible by {self.stride} (the product of its pools), "
                             f"got {audio.shape[-1]} samples")
        x = self.init_conv(audio.unsqueeze(1))
        embedding = embed_steps(self.fc_t1, self.fc_t2, step)
        outputs = []
        for layer in self.d_layers:
            outputs.append(x)
            x = layer(x, embedding, conditioning)
        outputs.append(x)
        for layer in self.c_layers:
            x = layer(x, embedding, conditioning)
        x = x + outputs.pop()
        # Skip connections: after every up-path layer in a U-Net; otherwise after each UpPool, and (state
        # spaces) also around each level's blocks.
        around_level = not self.unet and self.layout == "state_spaces"
        for level in self.up_levels():
            for layer in level:
                x = layer(x, embedding, conditioning)
                if self.unet or isinstance(layer, UpPool):
                    x = x + outputs.pop()
                if around_level and isinstance(layer, UpPool):
                    outputs.append(x)
            if around_level:
                x = x + outputs.pop()
        return self.final_conv(self.norm(x))

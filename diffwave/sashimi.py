"""SaShiMi (Goel et al., "It's Raw! Audio Generation with State-Space Models", 2022) as a diffusion
backbone, as in the SaShiMi+DiffWave code (albertfgu/diffwave-sashimi): a multi-scale U-Net whose
residual blocks are bidirectional S4 layers plus feed-forward layers, with the step embedding added
in every block and, for vocoding, a mel upsampler per block. Parameter names are upstream's.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .backbone import Backbone
from .config import DiffWaveModelConfig
from .layers import Conv, MelConditioning, ZeroConv1d, embed_steps, mel_upsampler, upsample_mel
from .model import upsampler_strides
from .s4 import S4

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


class FF(nn.Module):
    def __init__(self, d_model: int, expand: int):
        super().__init__()
        self.ff = nn.Sequential(Conv(d_model, expand * d_model, 1), nn.GELU(), Conv(expand * d_model, d_model, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class DownPool(nn.Module):
    """(B, H, L) -> (B, H * expand, L / pool): fold `pool` neighbours into channels, then a 1x1 conv."""

    def __init__(self, d_input: int, d_output: int, pool: int):
        super().__init__()
        self.pool = pool
        self.linear = Conv(d_input * pool, d_output, 1)

    def forward(self, x: torch.Tensor, embedding=None, mel=None) -> torch.Tensor:
        b, h, length = x.shape
        x = x.reshape(b, h, length // self.pool, self.pool).transpose(2, 3).reshape(b, h * self.pool, -1)
        return self.linear(x)


class UpPool(nn.Module):
    """(B, H * expand, L) -> (B, H, L * pool): a 1x1 conv, then unfold channels into neighbours."""

    def __init__(self, d_input: int, d_output: int, pool: int):
        super().__init__()
        self.pool = pool
        self.linear = Conv(d_input, d_output * pool, 1)

    def forward(self, x: torch.Tensor, embedding=None, mel=None) -> torch.Tensor:
        x = self.linear(x)
        b, hs, length = x.shape
        return x.reshape(b, hs // self.pool, self.pool, length).transpose(2, 3).reshape(b, hs // self.pool, -1)


class DiffWaveBlock(nn.Module):
    """S4 and feed-forward residual layers, each pre-normalised; the step embedding (and the mel)
    join the S4 branch."""

    def __init__(self, d_model: int, l_max: int, c: DiffWaveModelConfig):
        super().__init__()
        self.fc_t = nn.Linear(c.step_embedding_dims[2], d_model)
        self.layer = S4(d_model, c.sashimi.d_state, l_max, c.sashimi.conjugate_pairs)
        self.ff = FF(d_model, c.sashimi.ff)
        self.norm1 = TransposedLN()
        self.norm2 = TransposedLN()
        if not c.unconditional:
            self.upsample_conv2d = mel_upsampler(upsampler_strides(c.hop_samples))
            self.mel_conv = Conv(c.n_mels, d_model, kernel_size=1)

    def mel_term(self, mel: torch.Tensor, length: int) -> torch.Tensor:
        return self.mel_conv(upsample_mel(self.upsample_conv2d, mel, length))

    def forward(self, x: torch.Tensor, embedding: torch.Tensor, mel: Optional[MelConditioning]) -> torch.Tensor:
        y = self.layer(self.norm1(x) + self.fc_t(embedding).unsqueeze(-1))
        if mel is not None:
            y = y + mel.term(self, x.shape[-1])
        x = x + y
        return x + self.ff(self.norm2(x))


class Sashimi(Backbone):
    def __init__(self, config: DiffWaveModelConfig):
        super().__init__(config)
        s = config.sashimi
        dims = config.step_embedding_dims
        self.unet = s.unet
        self.init_conv = nn.Sequential(Conv(1, s.d_model, kernel_size=1), nn.ReLU())
        self.fc_t1 = nn.Linear(dims[0], dims[1])
        self.fc_t2 = nn.Linear(dims[1], dims[2])
        width, length = s.d_model, s.l_max
        down = []
        for pool in s.pool:
            if s.unet:
                down += [DiffWaveBlock(width, length, config) for _ in range(s.n_layers)]
            down.append(DownPool(width, width * s.expand, pool))
            length //= pool
            width *= s.expand
        self.d_layers = nn.ModuleList(down)
        self.c_layers = nn.ModuleList([DiffWaveBlock(width, length, config) for _ in range(s.n_layers)])
        up = []
        for pool in reversed(s.pool):
            width //= s.expand
            length *= pool
            up.append(UpPool(width * s.expand, width, pool))
            up += [DiffWaveBlock(width, length, config) for _ in range(s.n_layers)]
        self.u_layers = nn.ModuleList(up)
        self.stride = math.prod(s.pool)
        self.norm = TransposedLN()
        self.final_conv = nn.Sequential(Conv(s.d_model, s.d_model, kernel_size=1), nn.ReLU(),
                                        ZeroConv1d(s.d_model, 1))

    def blocks_and_lengths(self, samples: int):
        """Each S4 block with the length it runs at, for an input of `samples`."""
        length = samples
        for layer in self.d_layers:
            if isinstance(layer, DownPool):
                length //= layer.pool
            else:
                yield layer, length
        for layer in self.c_layers:
            yield layer, length
        for layer in self.u_layers:
            if isinstance(layer, UpPool):
                length *= layer.pool
            else:
                yield layer, length

    def condition(self, spectrogram: Optional[torch.Tensor], hoist: bool = True) -> Optional[MelConditioning]:
        """With `hoist`, every block's upsampled and projected mel, computed once for all the steps."""
        mel = super().condition(spectrogram)
        if mel is None:
            return None
        if not hoist:
            return MelConditioning(mel)
        samples = mel.shape[-1] * self.config.hop_samples
        return MelConditioning(mel, {block: block.mel_term(mel, length)
                                     for block, length in self.blocks_and_lengths(samples)})

    def conditioning_bytes(self, batch: int, samples: int) -> int:
        if self.config.unconditional:
            return 0
        return sum(4 * batch * length * block.fc_t.out_features for block, length in self.blocks_and_lengths(samples))

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
        for layer in self.u_layers:
            x = layer(x, embedding, conditioning)
            if isinstance(layer, UpPool) or self.unet:
                x = x + outputs.pop()
        return self.final_conv(self.norm(x))

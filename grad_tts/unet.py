"""The Grad-TTS score network: a 2-D U-Net over (mel bands x frames) with linear attention.

Parameter names follow the official `GradLogPEstimator2d`. Two departures, both switchable:
the speaker MLP projects to `n_feats` (upstream always built it for 80 bands), and with
`padding_invariant` the group norms and attention ignore padded frames, so an item's output
does not depend on the other items of its batch.
"""
from __future__ import annotations

import math
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn

from gradwave.common.precision import avx512_cpu


class Mish(nn.Module):
    def forward(self, x):
        return F.mish(x)


Stats = Union[None, int, torch.Tensor]  # what a group norm's statistics cover: see masked_group_norm


def masked_group_norm(norm: nn.GroupNorm, x: torch.Tensor, stats: Stats) -> torch.Tensor:
    """GroupNorm whose statistics use only the valid frames: every frame when `stats` is None; the first
    `stats` frames of every item when it is an int (the fused GroupNorm of those, zeros after them: the
    caller masks the padding anyway); the frames where the mask `stats` (B, 1, 1, W) is 1 otherwise."""
    if stats is None:
        return norm(x)
    if isinstance(stats, int):
        return F.pad(norm(x[..., :stats]), (0, x.shape[-1] - stats))
    mask = stats
    b, c, h, w = x.shape
    groups = x.view(b, norm.num_groups, c // norm.num_groups, h, w)
    weight = mask.view(b, 1, 1, 1, w)
    count = weight.sum(dim=(2, 3, 4), keepdim=True) * (c // norm.num_groups) * h
    mean = (groups * weight).sum(dim=(2, 3, 4), keepdim=True) / count.clamp_min(1)
    var = ((groups - mean).pow(2) * weight).sum(dim=(2, 3, 4), keepdim=True) / count.clamp_min(1)
    normed = ((groups - mean) * torch.rsqrt(var + norm.eps)).view(b, c, h, w)
    return normed * norm.weight.view(1, c, 1, 1) + norm.bias.view(1, c, 1, 1)


class Block(nn.Module):
    def __init__(self, dim, dim_out, groups=8):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(dim, dim_out, 3, padding=1), nn.GroupNorm(groups, dim_out), Mish())

    def forward(self, x, mask, stats: Stats = None):
        conv, norm, act = self.block
        x = conv(x * mask)
        x = masked_group_norm(norm, x, stats)
        return act(x) * mask


class ResnetBlock(nn.Module):
    def __init__(self, dim, dim_out, time_emb_dim, groups=8):
        super().__init__()
        self.mlp = nn.Sequential(Mish(), nn.Linear(time_emb_dim, dim_out))
        self.block1 = Block(dim, dim_out, groups)
        self.block2 = Block(dim_out, dim_out, groups)
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x, mask, time_emb, stats: Stats = None):
        h = self.block1(x, mask, stats)
        h = h + self.mlp(time_emb)[:, :, None, None]
        h = self.block2(h, mask, stats)
        return h + self.res_conv(x * mask)


class LinearAttention(nn.Module):
    def __init__(self, dim, heads=4, dim_head=32):
        super().__init__()
        self.heads = heads
        hidden = dim_head * heads
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x, mask=None):
        b, _, h, w = x.shape
        q, k, v = self.to_qkv(x).view(b, 3, self.heads, -1, h * w).unbind(1)
        if mask is not None:
            valid = mask.expand(b, 1, h, w).reshape(b, 1, 1, h * w) > 0
            k = k.masked_fill(~valid, float("-inf"))
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", context, q)
        return self.to_out(out.reshape(b, -1, h, w))


class Rezero(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.g = nn.Parameter(torch.zeros(1))

    def forward(self, x, mask=None):
        return self.fn(x, mask) * self.g


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, mask=None):
        return self.fn(x, mask) + x


class Downsample(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, 2, 1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.ConvTranspose2d(dim, dim, 4, 2, 1)

    def forward(self, x):
        return self.conv(x)


def sinusoidal_embedding(t: torch.Tensor, dim: int, scale: float) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=t.device).float() * -(math.log(10000) / (half - 1)))
    args = scale * t.unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat((args.sin(), args.cos()), dim=-1)


def preferred_memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on an AVX-512 CPU, where oneDNN's 2-D convolutions run about 20% faster in training
    batches that way; contiguous elsewhere: on an AVX2 CPU channels-last is about 20% slower (a demo
    decoder step 1.55 s against 1.23 s), and CUDA's GroupNorm, in every block, turns channels-last input
    back into contiguous memory, a copy per call."""
    return torch.channels_last if device.type == "cpu" and avx512_cpu() else torch.contiguous_format


class GradLogPEstimator2d(nn.Module):
    """(x_t, mask, mu, t, speaker embedding) -> estimated score-related noise, (B, n_feats, T)."""

    def __init__(self, dim, dim_mults=(1, 2, 4), groups=8, n_spks=1, spk_emb_dim=64, n_feats=80, pe_scale=1000,
                 padding_invariant=True):
        super().__init__()
        self.dim = dim
        self.n_spks = n_spks
        self.pe_scale = pe_scale
        self.padding_invariant = padding_invariant
        if n_spks > 1:
            self.spk_mlp = nn.Sequential(nn.Linear(spk_emb_dim, spk_emb_dim * 4), Mish(),
                                         nn.Linear(spk_emb_dim * 4, n_feats))
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), Mish(), nn.Linear(dim * 4, dim))
        dims = [2 + (1 if n_spks > 1 else 0), *[dim * m for m in dim_mults]]
        in_out = list(zip(dims[:-1], dims[1:]))

        def resnet(a, b):
            return ResnetBlock(a, b, time_emb_dim=dim, groups=groups)

        self.downs = nn.ModuleList()
        for index, (dim_in, dim_out) in enumerate(in_out):
            last = index == len(in_out) - 1
            self.downs.append(nn.ModuleList([
                resnet(dim_in, dim_out), resnet(dim_out, dim_out),
                Residual(Rezero(LinearAttention(dim_out))),
                nn.Identity() if last else Downsample(dim_out),
            ]))
        mid = dims[-1]
        self.mid_block1 = resnet(mid, mid)
        self.mid_attn = Residual(Rezero(LinearAttention(mid)))
        self.mid_block2 = resnet(mid, mid)
        self.ups = nn.ModuleList()
        for dim_in, dim_out in reversed(in_out[1:]):
            self.ups.append(nn.ModuleList([
                resnet(dim_out * 2, dim_in), resnet(dim_in, dim_in),
                Residual(Rezero(LinearAttention(dim_in))), Upsample(dim_in),
            ]))
        self.final_block = Block(dim, dim, groups)
        self.final_conv = nn.Conv2d(dim, 1, 1)
        self.to(memory_format=preferred_memory_format(self.final_conv.weight.device))

    def _apply(self, fn, *args, **kwargs):
        """After a move to another kind of device, the layout that suits it (see
        `preferred_memory_format`); a layout asked for explicitly on the same device stays."""
        before = self.final_conv.weight.device.type
        super()._apply(fn, *args, **kwargs)
        after = self.final_conv.weight.device
        if after.type != before:
            super()._apply(lambda t: t.contiguous(memory_format=preferred_memory_format(after)) if t.dim() == 4 else t)
        return self

    def padding_statistics(self, mask: torch.Tensor) -> tuple[bool, int | None]:
        """Whether the group norms must leave padding out (padding_invariant and some padding), and the
        valid length when every item has the same one (a batch of one always has), whose norms then run
        fused on the frames before it. Decided once per call: one host sync. An exported graph always masks,
        so that it holds for every length."""
        if not self.padding_invariant:
            return False, None
        if torch.onnx.is_in_onnx_export():
            return True, None
        lengths = mask.sum(dim=-1).flatten()
        if bool((lengths == mask.shape[-1]).all()):
            return False, None
        return True, int(lengths[0]) if bool((lengths == lengths[0]).all()) else None

    def levels(self, mask: torch.Tensor) -> list[tuple[torch.Tensor, Stats]]:
        """The mask and the group norms' statistics (masked_group_norm) at each resolution of the U-Net, from
        the full one down: every downsampling keeps every other frame, so a valid length L becomes ceil(L / 2)."""
        masked, valid = self.padding_statistics(mask)
        levels = []
        for k in range(len(self.downs)):
            level = mask[:, :, :, ::2 ** k]
            levels.append((level, None if not masked else level if valid is None else -(-valid // 2 ** k)))
        return levels

    def forward(self, x, mask, mu, t, spk=None):
        t = self.mlp(sinusoidal_embedding(t, self.dim, self.pe_scale))
        if self.n_spks > 1:
            s = self.spk_mlp(spk).unsqueeze(-1).expand(-1, -1, x.shape[-1])
            x = torch.stack([mu, x, s], 1)
        else:
            x = torch.stack([mu, x], 1)
        mask = mask.unsqueeze(1)
        levels = self.levels(mask)
        hiddens = []
        for (level_mask, stats), (resnet1, resnet2, attn, downsample) in zip(levels, self.downs):
            x = resnet1(x, level_mask, t, stats)
            x = resnet2(x, level_mask, t, stats)
            x = attn(x, None if stats is None else level_mask)
            hiddens.append(x)
            x = downsample(x * level_mask)
        mid_mask, stats = levels[-1]
        x = self.mid_block1(x, mid_mask, t, stats)
        x = self.mid_attn(x, None if stats is None else mid_mask)
        x = self.mid_block2(x, mid_mask, t, stats)
        for (level_mask, stats), (resnet1, resnet2, attn, upsample) in zip(reversed(levels), self.ups):
            x = torch.cat((x, hiddens.pop()), dim=1)
            x = resnet1(x, level_mask, t, stats)
            x = resnet2(x, level_mask, t, stats)
            x = attn(x, None if stats is None else level_mask)
            x = upsample(x * level_mask)
        x = self.final_block(x, mask, levels[0][1])
        return (self.final_conv(x * mask) * mask).squeeze(1)

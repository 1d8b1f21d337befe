"""The ConvNeXt block (Liu et al. 2022, over frames as Vocos runs it) that the frame-rate networks share: the
DiffWave `convnext` backbone and the Grad-TTS `convnext` decoder."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class ConvNeXtBlock(nn.Module):
    """Depthwise convolution over frames, LayerNorm, an inverted bottleneck, layer scale; the diffusion step
    enters as a per-channel offset before the convolution, as in DiffWave's residual blocks. With `mask`
    (B, 1, frames) the convolution reads zeros past an item's end, as it would with no padding at all."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float, step_dim: int):
        super().__init__()
        self.step_projection = nn.Linear(step_dim, dim)
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.expand = nn.Linear(dim, intermediate_dim)
        self.contract = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor, step_embedding: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = x + self.step_projection(step_embedding).unsqueeze(-1)
        h = self.depthwise(h if mask is None else h * mask)
        h = self.contract(F.gelu(self.expand(self.norm(h.transpose(1, 2)))))
        return x + (self.gamma * h).transpose(1, 2)

"""A frame-rate network for the Grad-TTS decoder (`model.decoder_network = "convnext"`): the mel bins of x_t
and of the encoder's mu are the channels of ConvNeXt blocks over frames, as Matcha-TTS's decoder treats them,
instead of the U-Net's two image channels over (mel bins, frames). Called as the U-Net is."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gradwave.common.convnext import ConvNeXtBlock

from .config import DecoderConvNeXtConfig
from .unet import sinusoidal_embedding


class ConvNeXtEstimator(nn.Module):
    def __init__(self, config: DecoderConvNeXtConfig, n_feats: int = 80, n_spks: int = 1, spk_emb_dim: int = 64,
                 pe_scale: int = 1000):
        super().__init__()
        dim = config.dim
        self.dim, self.n_spks, self.pe_scale = dim, n_spks, pe_scale
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.SiLU(), nn.Linear(dim * 4, dim))
        if n_spks > 1:
            self.spk_mlp = nn.Sequential(nn.Linear(spk_emb_dim, spk_emb_dim * 4), nn.SiLU(),
                                         nn.Linear(spk_emb_dim * 4, n_feats))
        inputs = n_feats * (3 if n_spks > 1 else 2)
        self.input_conv = nn.Conv1d(inputs, dim, config.kernel_size, padding=config.kernel_size // 2)
        self.input_norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList([ConvNeXtBlock(dim, config.intermediate_dim, config.kernel_size,
                                                   config.layer_scale, dim) for _ in range(config.layers)])
        self.output_norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, n_feats)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, mu: torch.Tensor, t: torch.Tensor,
                spk: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x, mu (B, n_feats, frames), mask (B, 1, frames), t (B,) -> (B, n_feats, frames), zero past the mask."""
        step = self.mlp(sinusoidal_embedding(t, self.dim, self.pe_scale))
        parts = [x, mu]
        if self.n_spks > 1:
            parts.append(self.spk_mlp(spk).unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        h = self.input_conv(torch.cat(parts, dim=1) * mask)
        h = self.input_norm(h.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h, step, mask)
        out = self.output(self.output_norm(h.transpose(1, 2))).transpose(1, 2)
        return out * mask

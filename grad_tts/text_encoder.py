"""Grad-TTS text encoder: prenet, relative-position transformer, mean projection, duration predictor.

Parameter names follow the official implementation so its checkpoints load with strict=True.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sequence_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    max_length = int(lengths.max()) if max_length is None else max_length
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


class LayerNorm(nn.Module):
    """Layer norm over the channel axis of (B, C, T) tensors (upstream names gamma/beta, eps 1e-4)."""

    def __init__(self, channels: int, eps: float = 1e-4):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        mean = x.mean(1, keepdim=True)
        variance = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) * torch.rsqrt(variance + self.eps)
        return x * self.gamma.view(1, -1, 1) + self.beta.view(1, -1, 1)


class ConvReluNorm(nn.Module):
    def __init__(self, in_channels, hidden_channels, out_channels, kernel_size, n_layers, p_dropout):
        super().__init__()
        self.conv_layers = nn.ModuleList()
        self.norm_layers = nn.ModuleList()
        for i in range(n_layers):
            self.conv_layers.append(nn.Conv1d(in_channels if i == 0 else hidden_channels, hidden_channels,
                                              kernel_size, padding=kernel_size // 2))
            self.norm_layers.append(LayerNorm(hidden_channels))
        self.relu_drop = nn.Sequential(nn.ReLU(), nn.Dropout(p_dropout))
        self.proj = nn.Conv1d(hidden_channels, out_channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x, x_mask):
        residual = x
        for conv, norm in zip(self.conv_layers, self.norm_layers):
            x = self.relu_drop(norm(conv(x * x_mask)))
        return (residual + self.proj(x)) * x_mask


class DurationPredictor(nn.Module):
    def __init__(self, in_channels, filter_channels, kernel_size, p_dropout):
        super().__init__()
        self.drop = nn.Dropout(p_dropout)
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_1 = LayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_2 = LayerNorm(filter_channels)
        self.proj = nn.Conv1d(filter_channels, 1, 1)

    def forward(self, x, x_mask):
        x = self.drop(self.norm_1(torch.relu(self.conv_1(x * x_mask))))
        x = self.drop(self.norm_2(torch.relu(self.conv_2(x * x_mask))))
        return self.proj(x * x_mask) * x_mask


class MultiHeadAttention(nn.Module):
    """Self-attention with relative position embeddings (shared by heads) within +-window_size."""

    def __init__(self, channels, out_channels, n_heads, window_size, p_dropout=0.0):
        super().__init__()
        assert channels % n_heads == 0, "channels must divide by n_heads"
        self.n_heads = n_heads
        self.window_size = window_size
        self.k_channels = channels // n_heads
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        std = self.k_channels ** -0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * std)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * std)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = nn.Dropout(p_dropout)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def _relative_embeddings(self, table: torch.Tensor, length: int) -> torch.Tensor:
        """(1, 2*length-1, k) embeddings for offsets -(length-1)..(length-1), zero beyond the window."""
        pad = max(length - (self.window_size + 1), 0)
        start = max((self.window_size + 1) - length, 0)
        if pad > 0:
            table = F.pad(table, (0, 0, pad, pad))
        return table[:, start:start + 2 * length - 1]

    @staticmethod
    def _relative_to_absolute(x: torch.Tensor) -> torch.Tensor:
        """(b, h, l, 2l-1) logits indexed by relative offset -> (b, h, l, l) indexed by key position."""
        b, h, length, _ = x.shape
        x = F.pad(x, (0, 1)).view(b, h, length * 2 * length)
        x = F.pad(x, (0, length - 1))
        return x.view(b, h, length + 1, 2 * length - 1)[:, :, :length, length - 1:]

    @staticmethod
    def _absolute_to_relative(x: torch.Tensor) -> torch.Tensor:
        """Inverse layout change: (b, h, l, l) -> (b, h, l, 2l-1)."""
        b, h, length, _ = x.shape
        x = F.pad(x, (0, length - 1)).view(b, h, length * length + length * (length - 1))
        x = F.pad(x, (length, 0))
        return x.view(b, h, length, 2 * length)[:, :, :, 1:]

    def forward(self, x, attn_mask):
        b, channels, length = x.shape
        shape = (b, self.n_heads, self.k_channels, length)
        query = self.conv_q(x).view(shape).transpose(2, 3)
        key = self.conv_k(x).view(shape).transpose(2, 3)
        value = self.conv_v(x).view(shape).transpose(2, 3)
        scale = math.sqrt(self.k_channels)
        scores = torch.matmul(query, key.transpose(-2, -1)) / scale
        rel_k = self._relative_embeddings(self.emb_rel_k, length)
        rel_logits = torch.matmul(query, rel_k.unsqueeze(0).transpose(-2, -1))
        scores = scores + self._relative_to_absolute(rel_logits) / scale
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        p_attn = self.drop(torch.softmax(scores, dim=-1))
        output = torch.matmul(p_attn, value)
        rel_v = self._relative_embeddings(self.emb_rel_v, length)
        output = output + torch.matmul(self._absolute_to_relative(p_attn), rel_v.unsqueeze(0))
        output = output.transpose(2, 3).contiguous().view(b, channels, length)
        return self.conv_o(output)


class FFN(nn.Module):
    def __init__(self, in_channels, out_channels, filter_channels, kernel_size, p_dropout=0.0):
        super().__init__()
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.drop = nn.Dropout(p_dropout)

    def forward(self, x, x_mask):
        x = self.drop(torch.relu(self.conv_1(x * x_mask)))
        return self.conv_2(x * x_mask) * x_mask


class Encoder(nn.Module):
    def __init__(self, hidden_channels, filter_channels, n_heads, n_layers, kernel_size, p_dropout, window_size):
        super().__init__()
        self.drop = nn.Dropout(p_dropout)
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(MultiHeadAttention(hidden_channels, hidden_channels, n_heads, window_size,
                                                       p_dropout))
            self.norm_layers_1.append(LayerNorm(hidden_channels))
            self.ffn_layers.append(FFN(hidden_channels, hidden_channels, filter_channels, kernel_size, p_dropout))
            self.norm_layers_2.append(LayerNorm(hidden_channels))

    def forward(self, x, x_mask):
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        for attn, norm_1, ffn, norm_2 in zip(self.attn_layers, self.norm_layers_1, self.ffn_layers,
                                             self.norm_layers_2):
            x = x * x_mask
            x = norm_1(x + self.drop(attn(x, attn_mask)))
            x = norm_2(x + self.drop(ffn(x, x_mask)))
        return x * x_mask


class TextEncoder(nn.Module):
    """ids (B, T) -> mean mel per token mu (B, n_feats, T), log-durations (B, 1, T), mask (B, 1, T).

    Speaker-independent, as upstream: speakers condition only the decoder.
    """

    def __init__(self, n_vocab, n_feats, n_channels, filter_channels, filter_channels_dp, n_heads, n_layers,
                 kernel_size, p_dropout, window_size):
        super().__init__()
        self.n_channels = n_channels
        self.emb = nn.Embedding(n_vocab, n_channels)
        nn.init.normal_(self.emb.weight, 0.0, n_channels ** -0.5)
        self.prenet = ConvReluNorm(n_channels, n_channels, n_channels, kernel_size=5, n_layers=3, p_dropout=0.5)
        self.encoder = Encoder(n_channels, filter_channels, n_heads, n_layers, kernel_size, p_dropout, window_size)
        self.proj_m = nn.Conv1d(n_channels, n_feats, 1)
        self.proj_w = DurationPredictor(n_channels, filter_channels_dp, kernel_size, p_dropout)

    def forward(self, x, x_lengths):
        x = self.emb(x) * math.sqrt(self.n_channels)
        x = x.transpose(1, -1)
        x_mask = sequence_mask(x_lengths, x.shape[2]).unsqueeze(1).to(x.dtype)
        x = self.prenet(x, x_mask)
        x = self.encoder(x, x_mask)
        mu = self.proj_m(x) * x_mask
        logw = self.proj_w(x.detach(), x_mask)
        return mu, logw, x_mask

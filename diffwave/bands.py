"""Orthogonal sub-bands: the block DCT of every `bands` samples (FreGrad's idea; 2 bands is the Haar wavelet)."""
from __future__ import annotations

import math

import torch


def band_basis(bands: int) -> torch.Tensor:
    """Orthonormal DCT-II basis (bands x bands), one band per row; for 2 bands, the Haar wavelet."""
    n = torch.arange(bands, dtype=torch.float64)
    basis = torch.cos(math.pi / bands * (n[None, :] + 0.5) * n[:, None]) * math.sqrt(2 / bands)
    basis[0] /= math.sqrt(2)
    return basis.float()


def to_bands(audio: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(B, samples) -> (B, bands, samples / bands): the block DCT of every `bands` samples."""
    return (audio.reshape(audio.shape[0], -1, basis.shape[0]) @ basis.T).transpose(1, 2)


def from_bands(bands: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(B, bands, samples / bands) -> (B, samples), the inverse of `to_bands`."""
    return (bands.transpose(1, 2) @ basis).reshape(bands.shape[0], -1)

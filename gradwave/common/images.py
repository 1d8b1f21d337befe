"""Spectrogram-like tensors as TensorBoard images (no plotting library needed)."""
from __future__ import annotations

import torch


def to_image(matrix: torch.Tensor) -> torch.Tensor:
    """(rows, cols) -> (1, rows, cols) in [0, 1], low rows at the bottom as in spectrogram plots."""
    matrix = matrix.detach().float().cpu()
    low, high = matrix.min(), matrix.max()
    scaled = (matrix - low) / (high - low).clamp_min(1e-8)
    return scaled.flip(0).unsqueeze(0)

"""The STFT and its inverse as (transposed) convolutions with a fixed DFT basis on (real, imaginary) pairs:
the same numbers in torch and in an ONNX graph, where torch.istft and complex tensors do not export."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ConvSTFT(nn.Module):
    """torch.stft / torch.istft on a window (zero-padded to `n_fft`) with onesided spectra, frames `hop` apart
    over the audio reflect-padded by `pad` samples each side (torch's center=True: n_fft // 2, the default;
    HiFi-GAN's mel framing: (n_fft - hop) // 2, which gives one frame per hop, aligned with its mel)."""

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor, pad: int | None = None):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.pad = n_fft // 2 if pad is None else pad
        side = (n_fft - len(window)) // 2
        window = F.pad(window.double(), (side, n_fft - len(window) - side))
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * math.pi * k * n / n_fft
        # persistent, so that an exported graph holds each basis once, not once per use
        self.register_buffer("forward_basis", torch.cat([torch.cos(angle), -torch.sin(angle)])
                             .mul(window).unsqueeze(1).float())
        weight = torch.full_like(k, 2.0)
        weight[0] = weight[-1] = 1.0  # DC and Nyquist appear once in a onesided spectrum
        self.register_buffer("inverse_basis", torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)])
                             .mul(window / n_fft).unsqueeze(1).float())
        self.register_buffer("window_power", window.pow(2).view(1, 1, -1).float())

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def stft(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, samples) -> real, imaginary (B, bins, frames)."""
        padded = F.pad(audio.unsqueeze(1), (self.pad, self.pad), mode="reflect")
        spec = F.conv1d(padded, self.forward_basis.to(audio.dtype), stride=self.hop)
        return spec.chunk(2, dim=1)

    def envelope(self, frames: torch.Tensor) -> torch.Tensor:
        """The overlap-added window power of `frames` (B, bins, frames) frames, the inverse's divisor."""
        ones = torch.ones(1, 1, frames.shape[-1], dtype=frames.dtype, device=frames.device)
        return F.conv_transpose1d(ones, self.window_power.to(frames.dtype), stride=self.hop).clamp_min(1e-11)

    def istft(self, real: torch.Tensor, imag: torch.Tensor, length: int,
              envelope: torch.Tensor | None = None) -> torch.Tensor:
        """real, imaginary (B, bins, frames) -> (B, length), over `envelope(real)` (pass it when it is reused)."""
        if envelope is None:
            envelope = self.envelope(real)
        spec = torch.cat([real, imag], 1)
        audio = F.conv_transpose1d(spec, self.inverse_basis.to(spec.dtype), stride=self.hop)
        return (audio / envelope)[:, 0, self.pad:self.pad + length]

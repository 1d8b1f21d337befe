"""The STFT and its inverse on (real, imaginary) pairs. Exported to ONNX, where torch.istft and complex tensors
do not export, they are (transposed) convolutions with a fixed DFT basis; in torch they are real FFTs of the
framed audio and an overlap-add by slices, the same sums at a tenth of the cost."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Frames (..., count, size) placed `hop` apart and summed: (..., (count - 1) * hop + size) samples."""
    count, size = frames.shape[-2:]
    overlap = -(-size // hop)
    pieces = F.pad(frames, (0, overlap * hop - size)).unflatten(-1, (overlap, hop))
    out = frames.new_zeros(*frames.shape[:-2], count + overlap - 1, hop)
    for j in range(overlap):
        out[..., j:j + count, :] += pieces[..., j, :]
    return out.flatten(-2)[..., :(count - 1) * hop + size]


class ConvSTFT(nn.Module):
    """torch.stft / torch.istft on a window (zero-padded to `n_fft`) with onesided spectra, frames `hop` apart
    over the audio reflect-padded by `pad` samples each side (torch's center=True: n_fft // 2, the default;
    HiFi-GAN's mel framing: (n_fft - hop) // 2, which gives one frame per hop, aligned with its mel).
    `persistent`: whether the bases are in the state dict (a model's, and so an exported graph's, holding
    each basis once rather than once per use); a transform built for torch alone leaves them out."""

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor, pad: int | None = None, persistent: bool = True):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.pad = n_fft // 2 if pad is None else pad
        side = (n_fft - len(window)) // 2
        window = F.pad(window.double(), (side, n_fft - len(window) - side))
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * math.pi * k * n / n_fft
        self.register_buffer("forward_basis", torch.cat([torch.cos(angle), -torch.sin(angle)])
                             .mul(window).unsqueeze(1).float(), persistent=persistent)
        weight = torch.full_like(k, 2.0)
        weight[0] = weight[-1] = 1.0  # DC and Nyquist appear once in a onesided spectrum
        self.register_buffer("inverse_basis", torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)])
                             .mul(window / n_fft).unsqueeze(1).float(), persistent=persistent)
        self.register_buffer("window_power", window.pow(2).view(1, 1, -1).float(), persistent=persistent)
        self.register_buffer("window", window.float(), persistent=False)  # the FFT path's (not in checkpoints)

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def stft(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, samples) -> real, imaginary (B, bins, frames)."""
        padded = F.pad(audio.unsqueeze(1), (self.pad, self.pad), mode="reflect")
        if torch.onnx.is_in_onnx_export():
            return F.conv1d(padded, self.forward_basis.to(audio.dtype), stride=self.hop).chunk(2, dim=1)
        frames = padded.squeeze(1).unfold(-1, self.n_fft, self.hop)
        spec = torch.fft.rfft(frames * self.window.to(audio.dtype), dim=-1).transpose(-1, -2)
        return spec.real, spec.imag

    def envelope(self, frames: torch.Tensor) -> torch.Tensor:
        """The overlap-added window power of `frames` (B, bins, frames) frames, the inverse's divisor."""
        power = self.window_power.to(frames.dtype)
        if torch.onnx.is_in_onnx_export():
            ones = torch.ones(1, 1, frames.shape[-1], dtype=frames.dtype, device=frames.device)
            return F.conv_transpose1d(ones, power, stride=self.hop).clamp_min(1e-11)
        return overlap_add(power.expand(1, frames.shape[-1], -1), self.hop).unsqueeze(1).clamp_min(1e-11)

    def istft(self, real: torch.Tensor, imag: torch.Tensor, length: int,
              envelope: torch.Tensor | None = None) -> torch.Tensor:
        """real, imaginary (B, bins, frames) -> (B, length), over `envelope(real)` (pass it when it is reused)."""
        if envelope is None:
            envelope = self.envelope(real)
        if torch.onnx.is_in_onnx_export():
            spec = torch.cat([real, imag], 1)
            audio = F.conv_transpose1d(spec, self.inverse_basis.to(spec.dtype), stride=self.hop)
        else:
            spec = torch.complex(real, imag).transpose(-1, -2)
            audio = overlap_add(torch.fft.irfft(spec, n=self.n_fft, dim=-1) * self.window, self.hop).unsqueeze(1)
        return (audio / envelope)[:, 0, self.pad:self.pad + length]

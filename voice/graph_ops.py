"""Griffin-Lim in operations that ONNX exports: the STFT and its inverse as (transposed) convolutions with a
fixed DFT basis on (real, imaginary) pairs, where torch.istft and complex tensors do not export. The same
arithmetic as `common.griffin_lim` (tested against it), so an exported voice hears the guide its bridge
vocoder was trained on."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from common.mel import MelSpectrogram


class ConvSTFT(nn.Module):
    """torch.stft / torch.istft with center=True, a Hann window and onesided spectra, as convolutions."""

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        side = (n_fft - len(window)) // 2
        window = F.pad(window.double(), (side, n_fft - len(window) - side))
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * math.pi * k * n / n_fft
        # persistent, so that the exported graph holds each basis once, not once per iteration
        self.register_buffer("forward_basis", torch.cat([torch.cos(angle), -torch.sin(angle)])
                             .mul(window).unsqueeze(1).float())
        weight = torch.full_like(k, 2.0)
        weight[0] = weight[-1] = 1.0  # DC and Nyquist appear once in a onesided spectrum
        self.register_buffer("inverse_basis", torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)])
                             .mul(window / n_fft).unsqueeze(1).float())
        self.register_buffer("window_power", window.pow(2).view(1, 1, -1).float())

    def stft(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, samples) -> real, imaginary (B, bins, frames)."""
        padded = F.pad(audio.unsqueeze(1), (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        spec = F.conv1d(padded, self.forward_basis, stride=self.hop)
        return spec.chunk(2, dim=1)

    def envelope(self, frames: torch.Tensor) -> torch.Tensor:
        """The overlap-added window power of `frames` (B, bins, frames) frames, the inverse's divisor."""
        ones = torch.ones(1, 1, frames.shape[-1], dtype=frames.dtype, device=frames.device)
        return F.conv_transpose1d(ones, self.window_power, stride=self.hop).clamp_min(1e-11)

    def istft(self, real: torch.Tensor, imag: torch.Tensor, length: int, envelope: torch.Tensor) -> torch.Tensor:
        """real, imaginary (B, bins, frames) -> (B, length), over `envelope(real)`."""
        audio = F.conv_transpose1d(torch.cat([real, imag], 1), self.inverse_basis, stride=self.hop)
        start = self.n_fft // 2
        return (audio / envelope)[:, 0, start:start + length]


class GriffinLim(nn.Module):
    """Log-mel (B, n_mels, frames) and the initial phase (bins, frames) -> waveform (B, frames * hop), as
    `common.griffin_lim.griffin_lim` computes it (momentum, the magnitudes' ceiling, the final scaling)."""

    def __init__(self, extractor: MelSpectrogram, iterations: int, momentum: float = 0.99):
        super().__init__()
        cfg = extractor.config
        self.extractor = extractor
        self.iterations, self.momentum, self.hop = iterations, momentum, cfg.hop_length
        self.transform = ConvSTFT(cfg.n_fft, cfg.hop_length, extractor.window)
        self.register_buffer("inverse_mel", torch.linalg.pinv(extractor.mel_basis))
        self.ceiling = extractor.value_range()[1]
        self.gain = float(extractor.window.pow(2).sum().sqrt()) if cfg.stft_normalized else 1.0

    def forward(self, mel: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        linear = self.extractor.decompress(mel.float().clamp(max=self.ceiling))
        magnitude = (self.inverse_mel @ linear).clamp_min(0.0) * self.gain
        length = mel.shape[-1] * self.hop
        real, imag = magnitude * torch.cos(phase), magnitude * torch.sin(phase)
        previous_real, previous_imag = torch.zeros_like(real), torch.zeros_like(imag)
        envelope = self.transform.envelope(real)  # the same for every iteration
        factor = self.momentum / (1 + self.momentum)
        for _ in range(self.iterations):
            audio = self.transform.istft(real, imag, length, envelope)
            rebuilt_real, rebuilt_imag = self.transform.stft(audio)
            rebuilt_real, rebuilt_imag = rebuilt_real[..., :mel.shape[-1]], rebuilt_imag[..., :mel.shape[-1]]
            accelerated_real = rebuilt_real - factor * previous_real
            accelerated_imag = rebuilt_imag - factor * previous_imag
            previous_real, previous_imag = rebuilt_real, rebuilt_imag
            size = torch.sqrt(accelerated_real ** 2 + accelerated_imag ** 2)
            safe = size.clamp_min(torch.finfo(size.dtype).tiny)
            zero = size <= 0
            real = magnitude * torch.where(zero, torch.ones_like(size), accelerated_real / safe)
            imag = magnitude * torch.where(zero, torch.zeros_like(size), accelerated_imag / safe)
        audio = self.transform.istft(real, imag, length, envelope)
        return audio / audio.abs().amax(-1, keepdim=True).clamp_min(1.0)

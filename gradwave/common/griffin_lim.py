"""Griffin-Lim reconstruction from a log-mel, so an acoustic model can be heard without a vocoder. One
module for torch and for ONNX graphs (the STFT pair of `stft.ConvSTFT`, real and imaginary parts apart), so
an exported voice hears the guide its bridge vocoder was trained on."""
from __future__ import annotations

import torch
from torch import nn

from .mel import MelSpectrogram
from .stft import ConvSTFT

GRIFFIN_LIM = "griffin-lim"  # how the command lines and voice files name Griffin-Lim as a vocoder
ITERATIONS = 32  # the Griffin-Lim vocoder's (a bridge's guide has its own count)


class GriffinLim(nn.Module):
    """Log-mel (B, n_mels, frames) in the extractor's definition and the initial phase (bins, frames) ->
    waveform (B, frames * hop), with momentum, each scaled down to [-1, 1] when it exceeds it. Built once
    and kept by whoever reconstructs many mels (the bases cost more than a short reconstruction);
    `persistent=False` keeps its tensors out of the state dict of a model that holds it."""

    def __init__(self, extractor: MelSpectrogram, iterations: int, momentum: float = 0.99, persistent: bool = True):
        super().__init__()
        cfg = extractor.config
        self.extractor = extractor
        self.iterations, self.momentum, self.hop = iterations, momentum, cfg.hop_length
        self.transform = ConvSTFT(cfg.n_fft, cfg.hop_length, extractor.window, persistent=persistent)
        self.register_buffer("inverse_mel", torch.linalg.pinv(extractor.mel_basis), persistent=persistent)
        # no louder than a full-scale waveform can be: an untrained model's mel would overflow the magnitudes
        self.ceiling = extractor.value_range()[1]
        self.gain = float(extractor.window.pow(2).sum().sqrt()) if cfg.stft_normalized else 1.0

    def forward(self, mel: torch.Tensor, phase: torch.Tensor, iterations: int | None = None) -> torch.Tensor:
        linear = self.extractor.decompress(mel.float().clamp(max=self.ceiling))
        magnitude = (self.inverse_mel @ linear).clamp_min(0.0) * self.gain
        length = mel.shape[-1] * self.hop
        real, imag = magnitude * torch.cos(phase), magnitude * torch.sin(phase)
        previous_real, previous_imag = torch.zeros_like(real), torch.zeros_like(imag)
        envelope = self.transform.envelope(real)  # the same for every iteration
        factor = self.momentum / (1 + self.momentum)
        for _ in range(self.iterations if iterations is None else iterations):
            audio = self.transform.istft(real, imag, length, envelope)
            rebuilt_real, rebuilt_imag = self.transform.stft(audio)
            rebuilt_real, rebuilt_imag = rebuilt_real[..., :mel.shape[-1]], rebuilt_imag[..., :mel.shape[-1]]
            accelerated_real = torch.add(rebuilt_real, previous_real, alpha=-factor)
            accelerated_imag = torch.add(rebuilt_imag, previous_imag, alpha=-factor)
            previous_real, previous_imag = rebuilt_real, rebuilt_imag
            # the unit phasor times the magnitude; phase 0 where the rebuilt bin is exactly 0
            power = torch.addcmul(accelerated_real * accelerated_real, accelerated_imag, accelerated_imag)
            scale = magnitude * torch.rsqrt(power.clamp_min(torch.finfo(power.dtype).tiny))
            zero = power <= 0
            real = torch.where(zero, magnitude, accelerated_real * scale)
            imag = torch.where(zero, 0.0, accelerated_imag * scale)
        audio = self.transform.istft(real, imag, length, envelope)
        return audio / audio.abs().amax(-1, keepdim=True).clamp_min(1.0)

    @torch.no_grad()
    def reconstruct(self, mel: torch.Tensor, generator: torch.Generator | None = None,
                    iterations: int | None = None) -> torch.Tensor:
        """Log-mel (..., n_mels, frames) -> waveform (..., frames * hop), every mel of a batch from the same
        random initial phase, drawn from `generator`, in the module's iterations or `iterations`."""
        bins, frames = self.transform.bins, mel.shape[-1]
        phase = torch.rand(bins, frames, generator=generator).to(mel.device) * 2 * torch.pi
        audio = self(mel.reshape(-1, *mel.shape[-2:]), phase, iterations)
        return audio.reshape(*mel.shape[:-2], audio.shape[-1])


def griffin_lim(mel: torch.Tensor, extractor: MelSpectrogram, n_iter: int = ITERATIONS, momentum: float = 0.99,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """One reconstruction (`GriffinLim.reconstruct`) with a module built for it."""
    return GriffinLim(extractor, n_iter, momentum, persistent=False).to(mel.device).reconstruct(mel, generator)

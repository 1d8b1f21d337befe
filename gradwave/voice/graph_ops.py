"""Griffin-Lim in operations that ONNX exports: the STFT and its inverse as the DFT convolutions of
`gradwave.common.stft`, where torch.istft and complex tensors do not export. The same arithmetic as
`gradwave.common.griffin_lim` (tested against it), so an exported voice hears the guide its bridge vocoder was
trained on."""
from __future__ import annotations

import torch
from torch import nn

from gradwave.common.mel import MelSpectrogram
from gradwave.common.stft import ConvSTFT


class GriffinLim(nn.Module):
    """Log-mel (B, n_mels, frames) and the initial phase (bins, frames) -> waveform (B, frames * hop), as
    `gradwave.common.griffin_lim.griffin_lim` computes it (momentum, the magnitudes' ceiling, the final scaling)."""

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

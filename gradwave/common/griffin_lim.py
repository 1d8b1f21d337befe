"""Griffin-Lim reconstruction from a log-mel, so an acoustic model can be heard without a vocoder."""
from __future__ import annotations

import torch

from .mel import MelSpectrogram

GRIFFIN_LIM = "griffin-lim"  # how the command lines and voice files name Griffin-Lim as a vocoder
ITERATIONS = 32  # the Griffin-Lim vocoder's (a bridge's guide has its own count)


def unit_phasor(spec: torch.Tensor) -> torch.Tensor:
    """exp(i angle(spec)) as spec / |spec| (1 where spec is 0): several times faster on CPU."""
    size = spec.abs()
    return torch.where(size > 0, spec / size.clamp_min(torch.finfo(size.dtype).tiny), torch.ones_like(spec))


@torch.no_grad()
def griffin_lim(mel: torch.Tensor, extractor: MelSpectrogram, n_iter: int = ITERATIONS, momentum: float = 0.99,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Log-mel (..., n_mels, frames) in the extractor's definition -> waveform (..., frames * hop), each
    scaled down to [-1, 1] when it exceeds it. Every mel of a batch starts from the same random phase."""
    cfg = extractor.config
    basis = extractor.mel_basis.to(mel.device)
    # no louder than a full-scale waveform can be: an untrained model's mel would overflow the magnitudes
    linear_mel = extractor.decompress(mel.float().clamp(max=extractor.value_range()[1]))
    magnitude = (torch.linalg.pinv(basis) @ linear_mel).clamp_min(0.0)
    if cfg.stft_normalized:
        magnitude = magnitude * extractor.window.pow(2).sum().sqrt()
    window = extractor.window.to(mel.device)
    length = mel.shape[-1] * cfg.hop_length
    # one initial phase (bins, frames) for every mel of a batch
    phase = torch.rand(magnitude.shape[-2:], generator=generator).to(mel.device) * 2 * torch.pi
    spec = magnitude * torch.exp(1j * phase)
    previous = torch.zeros_like(spec)
    stft = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window=window, center=True)
    for _ in range(n_iter):
        audio = torch.istft(spec, length=length, **stft)
        rebuilt = torch.stft(audio, return_complex=True, **stft)[..., :magnitude.shape[-1]]
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        previous = rebuilt
        spec = magnitude * unit_phasor(accelerated)
    audio = torch.istft(spec, length=length, **stft)
    return audio / audio.abs().amax(-1, keepdim=True).clamp_min(1.0)

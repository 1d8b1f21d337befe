"""The log-mel L1 loss on a clean-signal estimate, at one or several resolutions (BigVGAN's multi-scale
mel loss). Unlike an STFT loss's log magnitudes, it leaves out silent bins and the band above the mel's
f_max, which the mel does not determine."""
from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from gradwave.common.mel import MelConfig, MelSpectrogram


def resolution(config: MelConfig, fft_size: int) -> MelConfig:
    """`config` at another FFT size: window `fft_size`, hop a quarter of it, mel bins in proportion."""
    return dataclasses.replace(config, n_fft=fft_size, win_length=fft_size, hop_length=fft_size // 4,
                               n_mels=max(1, config.n_mels * fft_size // config.n_fft))


def loss_extractors(mel: MelConfig, fft_sizes: Sequence[int]) -> list[MelSpectrogram]:
    """The mel definitions of the loss: `mel` at each of `fft_sizes`, or `mel` itself when there are none."""
    return [MelSpectrogram(resolution(mel, size)) for size in fft_sizes] or [MelSpectrogram(mel)]


def mel_loss(extractors: Sequence[MelSpectrogram], estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |log-mel difference| per item (B,), averaged over the mel definitions of `extractors` (a log
    floor keeps silent bins, and f_max the band the mel does not describe, from counting)."""
    total = 0
    for extractor in extractors:
        difference = extractor.differentiable(estimate.float()) - extractor(target.float())
        total = total + difference.abs().flatten(1).mean(1)
    return total / len(extractors)

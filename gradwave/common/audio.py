"""Reading and writing wav files, with clear errors that name the file."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile
import torch

log = logging.getLogger(__name__)


class AudioError(ValueError):
    """An audio file cannot be used; the message names the file and the reason."""


def load_wav(path: str | Path, sample_rate: int | None = None) -> torch.Tensor:
    """Mono float32 waveform in [-1, 1]; resampled (with a log line) when `sample_rate` differs."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no samples")
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sample_rate is not None and rate != sample_rate:
        import librosa

        log.info("%s: resampling from %d Hz to %d Hz", path, rate, sample_rate)
        wav = librosa.resample(wav, orig_sr=rate, target_sr=sample_rate)
    return torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))


def audio_info(path: str | Path) -> soundfile._SoundFileInfo:
    """Header of an audio file (rate, channels, frames) without reading the samples."""
    try:
        return soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err


def pcm16(wav: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float samples -> 16-bit PCM (clipped to [-1, 1], scaled by 32767 and rounded towards zero):
    the one conversion used for wav files and raw PCM streams alike."""
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().float().cpu().numpy()
    return (np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0) * 32767).astype("<i2")


def save_wav(path: str | Path, wav: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    """16-bit PCM wav; samples outside [-1, 1] are clipped."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), pcm16(wav), sample_rate, subtype="PCM_16")

"""Log-mels of audio files, computed with the shared extractor and optionally cached on disk.

The cache lives in `<cache_dir>/<hash of the mel config>/`, one file per audio file named by the
hash of its path, size and modification time: changing any feature setting, or rewriting the audio
(a re-run of data preparation), never serves stale features. Each process writes through its own
temporary file, so data-loader workers and DDP ranks never race on one name.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import torch

from .audio import load_wav
from .config import to_dict
from .mel import MelConfig, MelSpectrogram


def mel_config_key(mel: MelConfig) -> str:
    return hashlib.sha1(json.dumps(to_dict(mel), sort_keys=True).encode()).hexdigest()[:12]


class FeatureLoader:
    def __init__(self, mel: MelConfig, cache_dir: Optional[str | Path] = None):
        self.config = mel
        self.extractor = MelSpectrogram(mel)
        self.cache_dir = Path(cache_dir) / mel_config_key(mel) if cache_dir else None

    def audio(self, path: Path) -> torch.Tensor:
        return load_wav(path, self.config.sample_rate)

    def cache_file(self, path: Path) -> Path:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        key = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}"
        return self.cache_dir / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".pt")

    def mel(self, path: Path, audio: Optional[torch.Tensor] = None) -> torch.Tensor:
        cached = None
        if self.cache_dir is not None:
            cached = self.cache_file(path)
            if cached.is_file():
                return torch.load(cached, weights_only=True)
        mel = self.extractor(self.audio(path) if audio is None else audio)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=cached.parent, prefix=cached.stem + ".", suffix=".tmp")
            os.close(handle)
            try:
                torch.save(mel, tmp)
                os.replace(tmp, cached)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return mel

"""Log-mels of audio files, computed with the shared extractor and optionally cached on disk.

The cache lives in `<cache_dir>/<hash of the mel config>/`, so changing any feature setting
never reuses stale features.
"""
from __future__ import annotations

import hashlib
import json
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

    def mel(self, path: Path, audio: Optional[torch.Tensor] = None) -> torch.Tensor:
        cached = None
        if self.cache_dir is not None:
            cached = self.cache_dir / (hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16] + ".pt")
            if cached.is_file():
                return torch.load(cached, weights_only=True)
        mel = self.extractor(self.audio(path) if audio is None else audio)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(cached.name + ".tmp")
            torch.save(mel, tmp)
            tmp.replace(cached)
        return mel

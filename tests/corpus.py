"""Tiny synthetic corpora for tests: harmonic 'speech' whose length grows with the text."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

SENTENCES = [
    "The cat sat on the mat.", "A quick brown fox jumps.", "Hello world, this is a test.",
    "She sells sea shells by the shore.", "It is ten past three.", "Where are you going today?",
    "Numbers like 42 are read aloud.", "Good morning to you.", "The rain in Spain stays mainly in the plain.",
    "Peter picked a peck of peppers.", "Small models train quickly.", "Diffusion turns noise into speech.",
]


def make_wav(path: Path, seconds: float, seed: int, sample_rate: int = 22050) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 110 + 40 * rng.random()
    wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * 0.2
    wav *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    wav += 0.005 * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, wav.astype(np.float32), sample_rate, subtype="PCM_16")


def make_ljspeech(root: Path, n: int = 10, sample_rate: int = 22050) -> Path:
    """LJSpeech-1.1 layout with `n` utterances: root/metadata.csv and root/wavs/LJ000-00NN.wav."""
    lines = []
    for i in range(n):
        text = SENTENCES[i % len(SENTENCES)]
        uid = f"LJ000-{i:04d}"
        make_wav(root / "wavs" / f"{uid}.wav", 0.6 + 0.045 * len(text), seed=i, sample_rate=sample_rate)
        lines.append(f"{uid}|{text}|{text}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root

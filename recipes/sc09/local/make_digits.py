"""Build an SC09-like corpus without a download: the ten digit words spoken by the speech engines
on this machine (flite's voices and espeak-ng's, at varied rate and pitch), one-second 16 kHz clips,
each word centred; `train/`, `test/` and a `labels.txt` (`wav|digit`) in each.

    python recipes/sc09/local/make_digits.py OUT_DIR [--per-digit 40] [--test-share 0.1] [--jobs 2]

Install the engines with `apt-get install flite espeak-ng`; one is enough.
"""
from __future__ import annotations

import argparse
import itertools
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gradwave.common.audio import load_wav, save_wav

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SAMPLE_RATE = 16000
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
ESPEAK_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp"]
ESPEAK_VARIANTS = ["", "+m3", "+f2", "+f4", "+m7"]


def voices() -> list[tuple]:
    """(engine, voice) pairs available here."""
    found = []
    if shutil.which("flite"):
        found += [("flite", v) for v in FLITE_VOICES]
    if shutil.which("espeak-ng"):
        found += [("espeak-ng", v + variant) for v in ESPEAK_VOICES for variant in ESPEAK_VARIANTS]
    if not found:
        raise SystemExit("no speech engine found: `apt-get install flite espeak-ng` (either is enough)")
    return found


def command(engine: str, voice: str, word: str, target: Path, rate: float, pitch: float) -> list[str]:
    """`rate` scales the speaking rate (1 = the voice's own), `pitch` its mean pitch."""
    if engine == "flite":
        return ["flite", "-voice", voice, "--setf", f"duration_stretch={1 / rate:.3f}",
                "--setf", f"int_f0_target_mean={110 * pitch:.1f}", "-t", word, "-o", str(target)]
    return ["espeak-ng", "-v", voice, "-s", str(int(160 * rate)), "-p", str(int(50 * pitch)), "-w", str(target), word]


def one_second(audio: np.ndarray) -> np.ndarray:
    """The word (where the signal is above 1% of its peak) centred in exactly one second."""
    loud = np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())
    word = audio[loud[0]:loud[-1] + 1] if len(loud) else audio
    word = word[:SAMPLE_RATE]
    out = np.zeros(SAMPLE_RATE, dtype=np.float32)
    start = (SAMPLE_RATE - len(word)) // 2
    out[start:start + len(word)] = word
    return out


def speak(job: tuple) -> None:
    engine, voice, word, rate, pitch, target = job
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(command(engine, voice, word, raw, rate, pitch), check=True, capture_output=True)
        audio = load_wav(raw, SAMPLE_RATE).numpy()
    peak = np.abs(audio).max()
    save_wav(target, one_second(audio * (0.7 / peak if peak > 0 else 1.0)), SAMPLE_RATE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--per-digit", type=int, default=40, help="clips of each digit (train and test together)")
    parser.add_argument("--test-share", type=float, default=0.1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if (out / "train" / "labels.txt").is_file() and (out / "test" / "labels.txt").is_file():
        print(f"{out}: digits corpus already built")
        return 0
    rng = random.Random(args.seed)
    available = voices()
    jobs, labels = [], {"train": [], "test": []}
    for digit, word in enumerate(DIGITS):
        picks = list(itertools.islice(itertools.cycle(rng.sample(available, len(available))), args.per_digit))
        n_test = max(1, round(args.per_digit * args.test_share))
        for k, (engine, voice) in enumerate(picks):
            split = "test" if k < n_test else "train"
            target = out / split / "wavs" / f"{word}_{k:03d}.wav"
            jobs.append((engine, voice, word, rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25), target))
            labels[split].append(f"{target.relative_to(out / split)}|{digit}")
    for split in labels:
        (out / split / "wavs").mkdir(parents=True, exist_ok=True)
    print(f"speaking {len(jobs)} digit clips with {len(available)} voices into {out}")
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(speak, jobs))
    for split, lines in labels.items():
        (out / split / "labels.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

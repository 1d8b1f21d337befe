"""Are these clips spoken digits? `python -m gradwave.evaluation.digits CLIPS [--labels FILE] [--out results.json]`.

Each wav under CLIPS is recognised by pocketsphinx restricted to the ten digit words. Reported: the
share of clips recognised as a digit, how the recognised digits spread over the ten classes (counts
and the normalised entropy: 1 when even, 0 when all one digit) and, with `--labels` (`wav|digit`
lines, wav paths relative to the labels file), the share recognised as their own digit.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Optional

from gradwave.common.audio import load_wav

from .asr import ASR_RATE, DIGITS, DigitRecognizer


def read_labels(path: Path) -> dict[Path, int]:
    labels = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        wav, _, digit = line.rpartition("|")
        if not wav or not digit.strip().isdigit() or not 0 <= int(digit) <= 9:
            raise ValueError(f"{path}, line {number}: expected `wav|digit` with a digit 0-9, got {line!r}")
        labels[(path.parent / wav).resolve()] = int(digit)
    return labels


def score_digits(clips: list[Path], labels: Optional[dict[Path, int]] = None,
                 recognizer: Optional[DigitRecognizer] = None) -> dict:
    recognizer = recognizer or DigitRecognizer()
    heard = {clip: recognizer(load_wav(clip, ASR_RATE), ASR_RATE) for clip in clips}
    recognised = [DIGITS.index(word) for word in heard.values() if word in DIGITS]
    counts = Counter(recognised)
    total = len(recognised)
    entropy = -sum(n / total * math.log(n / total) for n in counts.values()) / math.log(10) if total else 0.0
    result = {"clips": len(clips), "recognised_share": total / len(clips) if clips else 0.0,
              "class_counts": [counts.get(d, 0) for d in range(10)], "class_entropy": entropy}
    if labels is not None:
        known = [clip for clip in clips if clip.resolve() in labels]
        right = sum(heard[clip] == DIGITS[labels[clip.resolve()]] for clip in known)
        result["labelled"] = len(known)
        result["accuracy"] = right / len(known) if known else 0.0
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gradwave-digits", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", help="a folder of wavs (searched recursively)")
    parser.add_argument("--labels", help="`wav|digit` lines for the clips (e.g. the corpus's labels.txt)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    clips = sorted(Path(args.clips).rglob("*.wav"))
    if not clips:
        print(f"{args.clips}: no wav files", file=sys.stderr)
        return 1
    try:
        result = score_digits(clips, read_labels(Path(args.labels)) if args.labels else None)
    except (ValueError, RuntimeError) as err:
        print(f"gradwave-digits: {err}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

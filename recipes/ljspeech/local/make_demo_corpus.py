"""Build the demo corpus in the LJSpeech-1.1 layout by speaking sentences with a system TTS engine:
flite's `slt` voice (Debian package `flite`), or espeak-ng as the second choice.

    python local/make_demo_corpus.py OUT_DIR [--size N] [--text-seed S] [--sentences FILE] [--jobs 2]
                                     [--held-out DIR]

The sentences are demo_text.py's phonetic-coverage selection (--size of them, none with an open-class
word of new_sentences.txt), or those of --sentences FILE. With --held-out DIR, new_sentences.txt is
spoken into DIR, a second corpus in the same layout: a test split of words the corpus never has.
The engine speaks each sentence as the toolkit's cleaners normalise it (numbers, dates, currency), so
the recordings say what the training text says; metadata.csv keeps both forms.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gradwave.common.audio import load_wav, save_wav
from text.cleaners import EnglishCleaner

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import demo_text  # noqa: E402  (the recipe's local scripts are not a package)
SAMPLE_RATE = 22050


def find_engine() -> list[str]:
    """Command prefix of the available engine; the text and output path are appended."""
    if shutil.which("flite"):
        return ["flite", "-voice", "slt"]
    if shutil.which("espeak-ng"):
        return ["espeak-ng", "-v", "en-us"]
    raise SystemExit("no speech engine found: install flite (`apt-get install flite`) or espeak-ng "
                     "(`apt-get install espeak-ng`) to build the demo corpus")


def speak(engine: list[str], text: str, target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        if engine[0] == "flite":
            command = engine + ["-t", text, "-o", str(raw)]
        else:
            command = engine + ["-w", str(raw), text]
        subprocess.run(command, check=True, capture_output=True)
        save_wav(target, load_wav(raw, SAMPLE_RATE), SAMPLE_RATE)


def speak_corpus(out: Path, sentences: list[str], prefix: str, jobs: int) -> None:
    """`out`/metadata.csv (`id|text|normalised text`) and `out`/wavs/<id>.wav; done once."""
    cleaner = EnglishCleaner()
    metadata = out / "metadata.csv"
    entries = [(f"{prefix}-{i:04d}", text, cleaner(text)) for i, text in enumerate(sentences, 1)]
    listing = "".join(f"{uid}|{text}|{normalised}\n" for uid, text, normalised in entries)
    if (metadata.is_file() and metadata.read_text(encoding="utf-8") == listing
            and all((out / "wavs" / f"{uid}.wav").is_file() for uid, _, _ in entries)):
        print(f"{out}: already built ({len(entries)} utterances)")
        return
    engine = find_engine()
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    print(f"speaking {len(entries)} sentences with {engine[0]} into {out}")
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda e: speak(engine, e[2], out / "wavs" / f"{e[0]}.wav"), entries))
    metadata.write_text(listing, encoding="utf-8")


def read_lines(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="corpus folder to create (metadata.csv + wavs/)")
    parser.add_argument("--size", type=int, default=3000, help="sentences demo_text.py chooses")
    parser.add_argument("--text-seed", type=int, default=1, help="seed of demo_text.py's generator")
    parser.add_argument("--sentences", type=Path, help="speak these sentences instead (one per line)")
    parser.add_argument("--new-sentences", type=Path, default=HERE / "new_sentences.txt",
                        help="the held-out sentences whose open-class words the corpus leaves out")
    parser.add_argument("--held-out", type=Path, help="also speak --new-sentences into this folder")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if args.sentences:
        sentences = read_lines(args.sentences)
    else:
        sentences, stats = demo_text.build(args.size, args.text_seed, [args.new_sentences])
        print("demo text: {sentences} sentences, {distinct_words} distinct words; diphone coverage of the "
              "vocabulary {type_coverage:.3f} (3+ times {type_coverage_3:.3f})".format(**stats))
    speak_corpus(Path(args.out), sentences, "DEMO", args.jobs)
    if args.held_out:
        speak_corpus(args.held_out, read_lines(args.new_sentences), "NEW", args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

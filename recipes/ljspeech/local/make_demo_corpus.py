"""Build a small corpus in the LJSpeech-1.1 layout by speaking the shipped sentences with a system
TTS engine: flite's `slt` voice (Debian package `flite`), or espeak-ng as the second choice.

    python local/make_demo_corpus.py OUT_DIR [--sentences FILE] [--limit N] [--jobs 2]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common.audio import load_wav, save_wav

HERE = Path(__file__).resolve().parent
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="corpus folder to create (metadata.csv + wavs/)")
    parser.add_argument("--sentences", default=str(HERE / "demo_sentences.txt"))
    parser.add_argument("--limit", type=int, help="use only the first N sentences")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    sentences = [s.strip() for s in Path(args.sentences).read_text(encoding="utf-8").splitlines() if s.strip()]
    sentences = sentences[: args.limit] if args.limit else sentences
    out = Path(args.out)
    metadata = out / "metadata.csv"
    entries = [(f"DEMO-{i:04d}", text) for i, text in enumerate(sentences, 1)]
    if metadata.is_file() and all((out / "wavs" / f"{uid}.wav").is_file() for uid, _ in entries):
        print(f"{out}: demo corpus already built ({len(entries)} utterances)")
        return 0
    engine = find_engine()
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    print(f"speaking {len(entries)} sentences with {engine[0]} into {out}")
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda e: speak(engine, e[1], out / "wavs" / f"{e[0]}.wav"), entries))
    metadata.write_text("".join(f"{uid}|{text}|{text}\n" for uid, text in entries), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

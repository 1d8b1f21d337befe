"""Check every utterance of an LJSpeech-1.1-style corpus and write the recipe's filelists.

    python local/prepare.py CORPUS OUT [--split-dir DIR] [--sample-rate 22050] [--held-out NAME=CORPUS ...]

Each wav must be readable, non-empty and between --min-seconds and --max-seconds long, with
non-empty text. Stereo files are mixed down and other rates resampled into OUT/wavs/. Entries
that fail are listed in OUT/rejected.tsv (file, line, reason) and left out; the stage goes on
and fails only when nothing usable is left. The split is deterministic (a seeded shuffle of the
ids) unless --split-dir gives {train,valid,test}.ids lists (such as the standard Grad-TTS split).
Writes OUT/{train,valid,test}.txt (`wav|text`) and OUT/test_lines.txt (`id|text`). Each --held-out
corpus (checked the same way) becomes a test split of its own, OUT/NAME.txt and OUT/NAME_lines.txt,
such as the demo's new_sentences: recordings of sentences written apart from the training text.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from gradwave.common.audio import AudioError, audio_info, load_wav, save_wav
from gradwave.common.filelists import CorpusError, read_ljspeech


def split_ids(ids: list[str], valid: float, test: float, seed: int) -> dict[str, list[str]]:
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    n_valid = max(1, round(len(ids) * valid))
    n_test = max(1, round(len(ids) * test))
    return {"valid": shuffled[:n_valid], "test": shuffled[n_valid:n_valid + n_test],
            "train": shuffled[n_valid + n_test:]}


def check(utterances, out: Path, args) -> tuple[dict, list]:
    """The usable utterances ({id: (wav, text)}, resampled into OUT/wavs when needed) and the
    rejected ones as (file, line, reason)."""
    kept, rejected = {}, []
    for utt in utterances:
        line = utt.source.rsplit(":", 1)[-1]
        if not utt.text.strip():
            rejected.append((utt.wav, line, "empty text"))
            continue
        try:
            info = audio_info(utt.wav) if utt.wav.is_file() else None
            if info is None:
                raise AudioError(f"{utt.wav}: missing")
            seconds = info.frames / info.samplerate
            if not args.min_seconds <= seconds <= args.max_seconds:
                raise AudioError(f"{utt.wav}: {seconds:.2f} s, outside [{args.min_seconds}, {args.max_seconds}] s")
            target = utt.wav
            if info.samplerate != args.sample_rate or info.channels != 1:
                target = out / "wavs" / utt.wav.name
                if not target.is_file():
                    save_wav(target, load_wav(utt.wav, args.sample_rate), args.sample_rate)
        except AudioError as err:
            rejected.append((utt.wav, line, str(err)))
            continue
        kept[utt.uid] = (target.resolve(), utt.text.strip())
    return kept, rejected


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus")
    parser.add_argument("out")
    parser.add_argument("--split-dir", help="folder with train.ids, valid.ids, test.ids")
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    parser.add_argument("--valid-share", type=float, default=0.05)
    parser.add_argument("--test-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--held-out", action="append", default=[], metavar="NAME=CORPUS",
                        help="an LJSpeech-style folder that becomes the test split NAME (repeatable)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        utterances = read_ljspeech(args.corpus)
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    kept, rejected = check(utterances, out, args)
    held_out = {}
    for item in args.held_out:
        name, _, folder = item.partition("=")
        try:
            held_out[name], problems = check(read_ljspeech(folder), out, args)
        except CorpusError as err:
            print(f"error: --held-out {item}: {err}", file=sys.stderr)
            return 1
        rejected += problems
    with (out / "rejected.tsv").open("w", encoding="utf-8") as handle:
        handle.write("file\tline\treason\n")
        handle.writelines(f"{w}\t{line}\t{reason}\n" for w, line, reason in rejected)
    for wav, line, reason in rejected:
        print(f"rejected {wav} (metadata.csv line {line}): {reason}", file=sys.stderr)
    if not kept:
        print(f"error: no usable utterances in {args.corpus}", file=sys.stderr)
        return 1
    if args.split_dir:
        split = {name: [i for i in Path(args.split_dir, f"{name}.ids").read_text().split() if i in kept]
                 for name in ("train", "valid", "test")}
    else:
        split = split_ids(list(kept), args.valid_share, args.test_share, args.seed)
    for name, ids in split.items():
        (out / f"{name}.txt").write_text("".join(f"{kept[i][0]}|{kept[i][1]}\n" for i in ids), encoding="utf-8")
    (out / "test_lines.txt").write_text("".join(f"{i}|{kept[i][1]}\n" for i in split["test"]), encoding="utf-8")
    for name, utterances in held_out.items():
        (out / f"{name}.txt").write_text("".join(f"{w}|{t}\n" for w, t in utterances.values()), encoding="utf-8")
        (out / f"{name}_lines.txt").write_text("".join(f"{i}|{t}\n" for i, (_, t) in utterances.items()),
                                               encoding="utf-8")
    print(f"{len(kept)} utterances kept, {len(rejected)} rejected; "
          f"train {len(split['train'])}, valid {len(split['valid'])}, test {len(split['test'])}"
          + "".join(f", {name} {len(u)}" for name, u in held_out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

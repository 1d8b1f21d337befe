"""Speak a text file line by line: `python synthesize.py -f lines.txt -o out/`.

Each non-empty line becomes one wav (`out/0001.wav`, numbered by line, or `out/<id>.wav` for
`id|text` and `id|speaker|text` lines), plus `out/manifest.tsv`. Without --acoustic/--vocoder
the checkpoints that the recipe wrote last are used (exp/grad_tts/last.pt, exp/diffwave/last.pt);
with --voice, an exported ONNX voice (gradwave-export) speaks on --engine instead.
"""
from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gradwave.common.audio import pcm16, save_wav
from gradwave.common.checkpoint import CheckpointError
from gradwave.common.progress import progress_bar
from gradwave.lines import Piece, parse_lines, pieces_of
from gradwave.model_args import add_model_arguments, synthesizer_from_args
from gradwave.synthesizer import BaseSynthesizer, SynthesisError, speak_pieces

log = logging.getLogger("synthesize")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-synthesize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--file", required=True, help="text file, one utterance per line")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    add_model_arguments(parser)
    parser.add_argument("--speaker", help="speaker name for lines without one (multi-speaker models)")
    parser.add_argument("--batch-size", type=int, default=1, metavar="N", help="lines per acoustic-model batch")
    parser.add_argument("--max-chars", type=int, default=300, metavar="N", help="longer lines split at sentence ends")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-mels", action="store_true",
                        help="also write each line's acoustic-model log-mel as <id>.npy (n_mels x frames; the "
                             "manifest names it in a `mel` column), e.g. for evaluation's detail ratios")
    parser.add_argument("--stream", action="store_true",
                        help="also write 16-bit PCM to stdout as each line is ready (| aplay -f S16_LE -r 22050)")
    return parser


def vocode_line(synth: BaseSynthesizer, pieces: list[Piece], emit=None) -> torch.Tensor:
    """A line's audio: its pieces vocoded and joined with pauses; `emit(samples)` receives each
    sentence (after its pause) as soon as it is ready."""
    audio = []
    for piece in pieces:
        audio.append(synth.waveform(piece.mel, piece.seed))
        if emit is not None:
            emit(torch.cat([synth.silence(), audio[-1]]) if piece.chunk else audio[-1])
    return synth.join(audio)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        synth = synthesizer_from_args(args)
        lines, blank, undecodable = parse_lines(Path(args.file))
    except (SynthesisError, CheckpointError, OSError) as err:
        log.error("%s", err)
        return 2
    if synth.speakers and args.speaker is None:
        log.info("lines without a speaker get %r, the first of this model's %d (choose with --speaker)",
                 next(iter(synth.speakers)), len(synth.speakers))
    for number, why in undecodable.items():
        log.error("%s line %d: %s", args.file, number, why)
    if not lines and not undecodable:
        log.warning("%s has no text to speak", args.file)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pieces = pieces_of(lines, args.max_chars, args.seed)
    by_line: list[list[Piece]] = [[] for _ in lines]
    for piece in pieces:
        by_line[piece.line].append(piece)
    errors: dict[int, str] = {}  # line index -> why it could not be spoken

    def speak(batch: list[Piece]) -> None:
        speakers = []
        for piece in batch:
            try:
                speakers.append(synth.speaker_id(lines[piece.line].speaker or args.speaker))
            except SynthesisError as err:
                errors.setdefault(piece.line, str(err))
                speakers.append(None)
        speak_pieces(synth, batch, speakers, errors)

    started = time.perf_counter()
    first_audio: list[float] = []

    def emit(samples: torch.Tensor) -> None:
        if not first_audio:
            first_audio.append(time.perf_counter() - started)
        sys.stdout.buffer.write(pcm16(samples).tobytes())
        sys.stdout.buffer.flush()

    if not args.stream:  # all lines through the acoustic model first, in length-sorted batches
        ordered = sorted(pieces, key=lambda p: len(p.text))
        bar = progress_bar(total=len(pieces), desc="acoustic model", unit="sentence")
        for start in range(0, len(ordered), args.batch_size):
            batch = ordered[start:start + args.batch_size]
            speak(batch)
            bar.update(len(batch))
        bar.close()
    rows, total_audio, total_time = [], 0.0, 0.0
    bar = progress_bar(total=len(lines), desc="speaking" if args.stream else "vocoder", unit="line")
    for index, line in enumerate(lines):
        own = by_line[index]
        if args.stream:  # line by line, in order, each sentence sent as soon as it is vocoded
            speak(own)
        if index in errors:
            log.error("%s line %d: %s", args.file, line.number, errors[index])
            bar.update(1)
            continue
        begin = time.perf_counter()
        try:
            audio = vocode_line(synth, own, emit if args.stream else None)
        except SynthesisError as err:
            errors[index] = str(err)
            log.error("%s line %d: %s", args.file, line.number, err)
            bar.update(1)
            continue
        vocoder_seconds = time.perf_counter() - begin
        acoustic_seconds = sum(p.seconds for p in own)
        elapsed = vocoder_seconds + acoustic_seconds
        target = out / f"{line.uid}.wav"
        save_wav(target, audio, synth.sample_rate)
        seconds = len(audio) / synth.sample_rate
        total_audio += seconds
        total_time += elapsed
        normalized = " ".join(synth.processor.encode(p.text).normalized for p in own)
        rows.append([line.uid, line.text, normalized, target.name, f"{seconds:.3f}", f"{acoustic_seconds / seconds:.4f}",
                     f"{vocoder_seconds / seconds:.4f}", f"{elapsed / seconds:.4f}"])
        if args.save_mels:
            np.save(out / f"{line.uid}.npy", torch.cat([p.mel for p in own], -1).float().cpu().numpy())
            rows[-1].append(f"{line.uid}.npy")
        bar.update(1)
    bar.close()
    with (out / "manifest.tsv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "text", "normalized", "file", "seconds", "rtf_acoustic", "rtf_vocoder", "rtf"]
                        + (["mel"] if args.save_mels else []))
        writer.writerows(rows)
    rtf = f"real-time factor {total_time / total_audio:.3f}" if total_audio else "no audio"
    latency = f", first audio after {first_audio[0]:.2f} s" if first_audio else ""
    failed = len(errors) + len(undecodable)
    print(f"{len(rows)} utterances, {total_audio:.1f} s of audio, {rtf}{latency}; "
          f"{failed} failed, {blank} blank lines skipped; wrote {out}/", file=sys.stderr if args.stream else sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

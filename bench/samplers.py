"""Quality against sampling steps, for the Grad-TTS solvers and the DiffWave schedules.

    python bench/samplers.py --acoustic exp/grad_tts/last.pt --test data/prepared/test.txt \\
        [--vocoder exp/diffwave/last.pt] --out exp/samplers

Grad-TTS: for each sampler (euler, ml, dpm) and step count, the mean |log-mel difference| to a
reference solution of the same text from the same starting noise (1000 Euler steps of the
probability-flow ODE; the ml sampler is stochastic, so its distance also holds its own noise), and
WER/CER of pocketsphinx through Griffin-Lim on the test sentences. DiffWave (with --vocoder):
copy-synthesis of the test recordings with N-step schedules, the 6-step fast schedule and the full
one, and the fast one under bf16 autocast (STOI, PESQ, log-mel L1). Writes OUT/grad_tts.csv, OUT/diffwave.csv, OUT/samplers.md and
OUT/samplers.png.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

# Run as a script, bench/ would come first on sys.path and this file would shadow the package.
if Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.util import cpu_description  # noqa: E402
from gradwave.common.audio import load_wav, save_wav  # noqa: E402
from gradwave.evaluation.evaluate import Entry, Evaluator, read_entries  # noqa: E402
from gradwave.common.griffin_lim import griffin_lim  # noqa: E402
from gradwave.evaluation.metrics import copy_synthesis_scores  # noqa: E402
from grad_tts.samplers import SAMPLERS  # noqa: E402
from gradwave.common.griffin_lim import GRIFFIN_LIM  # noqa: E402
from gradwave.synthesizer import SynthesisError, Synthesizer  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--acoustic", required=True, help="a trained Grad-TTS checkpoint")
    parser.add_argument("--test", required=True, help="`wav|text` filelist of test sentences")
    parser.add_argument("--vocoder", help="a DiffWave checkpoint (adds the vocoder table)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--steps", default="2,3,4,6,10,25", help="Grad-TTS step counts")
    parser.add_argument("--reference-steps", type=int, default=1000)
    parser.add_argument("--vocoder-steps", default="1,2,3,4,6", help="DiffWave N-step schedules (besides fast, full)")
    parser.add_argument("--limit", type=int, default=16, help="test sentences used")
    parser.add_argument("--temperature", type=float, default=1.5)
    parser.add_argument("--batch", type=int, default=4, help="sentences per Grad-TTS batch (the output does not "
                                                               "depend on it; large padded batches are slow on CPU)")
    parser.add_argument("--no-asr", action="store_true", help="distances only (no Griffin-Lim, no recognition)")
    return parser


def grad_tts_rows(args, entries: list[Entry], out: Path, evaluator) -> list[dict]:
    synth = Synthesizer(args.acoustic, GRIFFIN_LIM, temperature=args.temperature)
    texts, seeds = [e.text for e in entries], list(range(len(entries)))
    speakers = [synth.speaker_id(None)] * len(entries)

    def mels(sampler: str, steps: int) -> tuple[list[torch.Tensor], float]:
        begin, result = time.perf_counter(), []
        for start in range(0, len(texts), args.batch):
            chunk = slice(start, start + args.batch)
            result += [s.mel for s in synth.acoustic(texts[chunk], speakers[chunk], seeds[chunk], timesteps=steps,
                                                     sampler=sampler)]
        return result, time.perf_counter() - begin

    reference, _ = mels("euler", args.reference_steps)
    rows = []
    for sampler in args.samplers.split(","):
        for steps in [int(n) for n in args.steps.split(",")]:
            try:
                result, seconds = mels(sampler, steps)
            except SynthesisError as err:  # a solver that diverges on this model at this step count
                row = {"sampler": sampler, "steps": steps, "log_mel_distance": "diverged", "seconds": "",
                       **({"wer": "", "cer": ""} if evaluator is not None else {})}
                print(row, err, flush=True)
                rows.append(row)
                continue
            distance = float(np.mean([(m - r).abs().mean() for m, r in zip(result, reference)]))
            row = {"sampler": sampler, "steps": steps, "log_mel_distance": round(distance, 4),
                   "seconds": round(seconds, 2)}
            if evaluator is not None:
                folder = out / "wavs" / f"{sampler}_{steps}"
                folder.mkdir(parents=True, exist_ok=True)
                written = []
                for entry, mel, seed in zip(entries, result, seeds):
                    path = folder / f"{entry.uid}.wav"
                    save_wav(path, griffin_lim(mel, synth.extractor, generator=torch.Generator().manual_seed(seed)),
                             synth.sample_rate)
                    written.append(Entry(entry.uid, path, entry.text))
                rates = evaluator.intelligibility(written)
                row |= {"wer": round(rates["wer"], 3), "cer": round(rates["cer"], 3)}
            print(row, flush=True)
            rows.append(row)
    return rows


def diffwave_rows(args, entries: list[Entry]) -> list[dict]:
    from gradwave.common.mel import MelSpectrogram
    from diffwave.checkpoint import load_diffwave, mel_config
    from diffwave.inference import vocode

    model, ckpt = load_diffwave(args.vocoder)
    extractor = MelSpectrogram(mel_config(ckpt))
    rate = extractor.config.sample_rate
    plans = [(f"{n} steps", dict(steps=n)) for n in (int(v) for v in args.vocoder_steps.split(","))]
    plans += [("fast (6)", dict(fast=True)), ("fast (6), bf16", dict(fast=True, precision="bf16")),
              ("full", dict(fast=False))]
    rows = []
    for name, kwargs in plans:
        scores, begin, audio_seconds = [], time.perf_counter(), 0.0
        for entry in entries:
            real = load_wav(entry.wav, rate)
            audio = vocode(extractor(real).unsqueeze(0), model, generator=torch.Generator().manual_seed(0), **kwargs)[0]
            audio_seconds += len(audio) / rate
            scores.append(copy_synthesis_scores(real, audio, extractor))
        row = {"schedule": name, **{k: round(float(np.mean([s[k] for s in scores])), 3) for k in scores[0]},
               "rtf": round((time.perf_counter() - begin) / audio_seconds, 3)}
        print(row, flush=True)
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if "wer" in rows[0] else 1, figsize=(10, 4), squeeze=False)
    for sampler in dict.fromkeys(r["sampler"] for r in rows):
        mine = [r for r in rows if r["sampler"] == sampler and r["log_mel_distance"] != "diverged"]
        axes[0][0].plot([r["steps"] for r in mine], [r["log_mel_distance"] for r in mine], "o-", label=sampler)
        if "wer" in rows[0]:
            axes[0][1].plot([r["steps"] for r in mine], [r["wer"] for r in mine], "o-", label=sampler)
    axes[0][0].set(xscale="log", xlabel="Grad-TTS steps", ylabel="log-mel distance to the reference")
    if "wer" in rows[0]:
        axes[0][1].set(xscale="log", xlabel="Grad-TTS steps", ylabel="WER through Griffin-Lim")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = read_entries(Path(args.test))[: args.limit]
    evaluator = None if args.no_asr else Evaluator()
    rows = grad_tts_rows(args, entries, out, evaluator)
    write_csv(rows, out / "grad_tts.csv")
    plot(rows, out / "samplers.png")
    report = f"## Grad-TTS samplers\n\nCPU: {cpu_description()}\n\n" + markdown(rows)
    if args.vocoder:
        vocoder = diffwave_rows(args, entries)
        write_csv(vocoder, out / "diffwave.csv")
        report += "\n## DiffWave schedules (copy-synthesis)\n\n" + markdown(vocoder)
    (out / "samplers.md").write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

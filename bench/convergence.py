"""Time-to-quality curve: train Grad-TTS and/or DiffWave for a time budget and, every N minutes
of training, score the latest checkpoints with the project's own evaluation.

    python bench/convergence.py --data data/prepared --out exp/curve --minutes 30 --every 5 \\
        --grad-tts-conf recipes/ljspeech/conf/demo_grad_tts.json \\
        --diffwave-conf recipes/ljspeech/conf/demo_diffwave.json [--schedule sequential|parallel]

DATA holds the recipe's prepared filelists (train.txt, valid.txt, test.txt as `wav|text`).
Training runs in segments of --every minutes (each resumes the last), so evaluation time never
counts as training time. `sequential` trains Grad-TTS for --grad-tts-share of the budget, then
DiffWave; `parallel` trains both at once with one thread each. --only trains one model; then
--acoustic (a fixed Grad-TTS checkpoint) still gives the text-to-speech scores of a DiffWave run.

At every point: WER/CER of the test sentences through Griffin-Lim and through DiffWave (and of the
encoder's mean alone through Griffin-Lim, which the decoder has to beat), DiffWave
copy-synthesis of the test recordings (WER/CER, STOI, PESQ, log-mel L1), and the recordings' own
WER/CER once. Writes OUT/curve.csv, OUT/curve.png and the audio of every point under OUT/points/.
--continue picks an interrupted curve up after its last written point (same --minutes, --every and
schedule): checkpoints saved after that point are dropped, so every point keeps its training time.
"""
from __future__ import annotations

import argparse
import csv
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.util import cpu_description  # noqa: E402
from gradwave.common.audio import save_wav  # noqa: E402
from gradwave.common.checkpoint import read_file, rewind_training  # noqa: E402
from gradwave.evaluation.evaluate import Entry, Evaluator, read_entries  # noqa: E402
from gradwave.common.griffin_lim import GRIFFIN_LIM  # noqa: E402
from gradwave.synthesizer import Synthesizer  # noqa: E402

log = logging.getLogger("convergence")

COLUMNS = ["minutes", "grad_tts_step", "diffwave_step", "encoder_griffin_lim_wer", "encoder_griffin_lim_cer",
           "griffin_lim_wer", "griffin_lim_cer", "diffwave_wer",
           "diffwave_cer", "copy_wer", "copy_cer", "copy_stoi", "copy_pesq", "copy_log_mel_l1",
           "recordings_wer", "recordings_cer"]
MODELS = ("grad_tts", "diffwave")


@dataclass
class Segment:
    """Minutes of training that each model gets in one segment of the curve."""

    grad_tts: float
    diffwave: float


def plan(minutes: float, every: float, schedule: str, share: float, only: Optional[str]) -> list[Segment]:
    """Split the budget into segments of `every` minutes of wall-clock training time."""
    if minutes <= 0 or every <= 0:
        raise ValueError("--minutes and --every must be positive")
    segments, done = [], 0.0
    switch = minutes * share
    while done < minutes - 1e-9:
        length = min(every, minutes - done)
        if only or schedule == "parallel":
            segments.append(Segment(length if only != "diffwave" else 0.0, length if only != "grad_tts" else 0.0))
        else:
            first = max(0.0, min(length, switch - done))
            segments.append(Segment(first, length - first))
        done += length
    return segments


def training_command(model: str, args, minutes: float) -> list[str]:
    data = Path(args.data)
    command = [sys.executable, "-m", f"{model}.train", str(data / "train.txt"), "--out", str(Path(args.out) / model),
               "--resume", "--no-progress", "--set", f"train.max_minutes={minutes}"]
    config = args.grad_tts_conf if model == "grad_tts" else args.diffwave_conf
    if config:
        command += ["--config", str(config)]
    if model == "grad_tts":
        command += ["--valid", str(data / "valid.txt")]
    if args.cache_dir:
        command += ["--cache-dir", str(args.cache_dir)]
    return command


def train_segment(segment: Segment, args) -> None:
    """Run the segment's training processes (both at once, one thread each, when both train)."""
    jobs = {m: getattr(segment, m) for m in MODELS if getattr(segment, m) > 0}
    threads = "1" if len(jobs) > 1 and args.schedule == "parallel" else str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONPATH": str(REPO)}
    logs = Path(args.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if args.schedule == "parallel":
        running = [(m, subprocess.Popen(training_command(m, args, t), env=env, cwd=REPO,
                                        stdout=(logs / f"{m}.log").open("a"), stderr=subprocess.STDOUT))
                   for m, t in jobs.items()]
    else:
        running = []
        for m, t in jobs.items():
            with (logs / f"{m}.log").open("a") as handle:
                code = subprocess.call(training_command(m, args, t), env=env, cwd=REPO, stdout=handle,
                                       stderr=subprocess.STDOUT)
            if code:
                raise RuntimeError(f"{m} training failed (exit {code}); see {logs / (m + '.log')}")
    for m, process in running:
        if process.wait():
            raise RuntimeError(f"{m} training failed (exit {process.returncode}); see {logs / (m + '.log')}")


def checkpoint_step(path: Path) -> Optional[int]:
    return int(read_file(path).get("step", 0)) if path.is_file() else None


def speak(acoustic: Path, vocoder: str, entries: list[Entry], folder: Path, timesteps: int = 10) -> list[Entry]:
    """Synthesize the test sentences (fixed seeds) into `folder`."""
    synth = Synthesizer(acoustic, vocoder, timesteps=timesteps)
    written = []
    for start in range(0, len(entries), 4):
        chunk = entries[start:start + 4]
        seeds = list(range(start, start + len(chunk)))
        spoken = synth.acoustic([e.text for e in chunk], [synth.speaker_id(None)] * len(chunk), seeds)
        for entry, result, seed in zip(chunk, spoken, seeds):
            path = folder / f"{entry.uid}.wav"
            save_wav(path, synth.waveform(result.mel, seed), synth.sample_rate)
            written.append(Entry(entry.uid, path, entry.text))
    return written


def evaluate_point(evaluator: Evaluator, folder: Path, acoustic: Optional[Path], vocoder: Optional[Path],
                   test: list[Entry]) -> dict:
    row: dict = {}
    if acoustic is not None and acoustic.is_file():
        rates = evaluator.intelligibility(speak(acoustic, GRIFFIN_LIM, test, folder / "encoder_griffin_lim", 0))
        row |= {"encoder_griffin_lim_wer": rates["wer"], "encoder_griffin_lim_cer": rates["cer"]}
        rates = evaluator.intelligibility(speak(acoustic, GRIFFIN_LIM, test, folder / "griffin_lim"))
        row |= {"griffin_lim_wer": rates["wer"], "griffin_lim_cer": rates["cer"]}
        if vocoder is not None and vocoder.is_file():
            rates = evaluator.intelligibility(speak(acoustic, str(vocoder), test, folder / "diffwave"))
            row |= {"diffwave_wer": rates["wer"], "diffwave_cer": rates["cer"]}
    if vocoder is not None and vocoder.is_file():
        copy = evaluator.copy_synthesis(vocoder, test, len(test), save_dir=folder / "copy_synthesis")
        row |= {"copy_wer": copy["wer"], "copy_cer": copy["cer"], "copy_stoi": copy["stoi"],
                "copy_pesq": copy["pesq_wb"], "copy_log_mel_l1": copy["log_mel_l1"]}
    return row


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    minutes = [r["minutes"] for r in rows]
    for key, label in [("encoder_griffin_lim_wer", "encoder mean + Griffin-Lim"),
                       ("griffin_lim_wer", "Grad-TTS + Griffin-Lim"), ("diffwave_wer", "Grad-TTS + DiffWave"),
                       ("copy_wer", "DiffWave copy-synthesis")]:
        points = [(m, r[key]) for m, r in zip(minutes, rows) if r.get(key) not in (None, "")]
        if points:
            left.plot(*zip(*points), marker="o", label=label)
    recorded = [r["recordings_wer"] for r in rows if r.get("recordings_wer") not in (None, "")]
    if recorded:
        left.axhline(recorded[0], color="grey", linestyle="--", label="recordings")
    left.set(xlabel="training minutes", ylabel="WER (pocketsphinx)", title=title, ylim=(0, 1.2))
    left.legend(fontsize=8)
    for key, label in [("copy_stoi", "copy-synthesis STOI"), ("copy_pesq", "copy-synthesis PESQ / 4.5")]:
        scale = 4.5 if key == "copy_pesq" else 1.0
        points = [(m, r[key] / scale) for m, r in zip(minutes, rows) if r.get(key) not in (None, "")]
        if points:
            right.plot(*zip(*points), marker="o", label=label)
    right.set(xlabel="training minutes", ylim=(0, 1), title="DiffWave fidelity")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def read_csv(path: Path) -> list[dict]:
    """The rows of an earlier curve.csv, numbers parsed as write_csv wrote them."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key, value in row.items():
            if value in ("", None):
                row[key] = None
            elif key.endswith("_step"):
                row[key] = int(value)
            else:
                row[key] = float(value)
    return rows


def cumulative_minutes(segments: list[Segment], schedule: str, only: Optional[str]) -> list[float]:
    """The training minutes reached after each segment."""
    totals, minutes = [], 0.0
    for segment in segments:
        minutes += max(segment.grad_tts, segment.diffwave) if schedule == "parallel" or only \
            else segment.grad_tts + segment.diffwave
        totals.append(round(minutes, 3))
    return totals


def rows_to_continue(out: Path, totals: list[float]) -> list[dict]:
    """The points of an interrupted curve in `out`; training directories rewound to its last point."""
    path = out / "curve.csv"
    if not path.is_file():
        raise SystemExit(f"--continue: {path} does not exist; nothing to continue")
    rows = read_csv(path)
    if len(rows) > len(totals) or [r["minutes"] for r in rows] != totals[: len(rows)]:
        raise SystemExit(f"--continue: {path} has points at minutes {[r['minutes'] for r in rows]}, which this "
                         f"--minutes/--every/--schedule does not give ({totals}); use the curve's own options")
    if rows:
        for model in MODELS:
            step, reached = rows[-1][f"{model}_step"], checkpoint_step(out / model / "last.pt")
            if step is not None and reached is not None and reached != step:
                log.info("%s: rewinding to step %d, the last point's checkpoint", model, step)
                rewind_training(out / model, step)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with train.txt, valid.txt, test.txt")
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget (wall clock, both models)")
    parser.add_argument("--every", type=float, default=5.0, help="evaluate after every this many minutes")
    parser.add_argument("--schedule", choices=["sequential", "parallel"], default="sequential")
    parser.add_argument("--grad-tts-share", type=float, default=0.5,
                        help="sequential: the share of the budget that Grad-TTS trains first")
    parser.add_argument("--only", choices=MODELS, help="train only this model")
    parser.add_argument("--acoustic", type=Path, help="a fixed Grad-TTS checkpoint (with --only diffwave)")
    parser.add_argument("--grad-tts-conf", type=Path)
    parser.add_argument("--diffwave-conf", type=Path)
    parser.add_argument("--cache-dir", type=Path, help="mel cache shared by the training runs")
    parser.add_argument("--threads", type=int, default=2, help="threads of a model that trains alone")
    parser.add_argument("--test-limit", type=int, default=16, help="test sentences scored at each point")
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="continue the curve in OUT after its last written point")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for name in ("data", "out", "acoustic", "grad_tts_conf", "diffwave_conf", "cache_dir"):
        if getattr(args, name) is not None:  # the training processes run from the repository root
            setattr(args, name, Path(getattr(args, name)).resolve())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("bench.convergence").info("CPU: %s", cpu_description())
    segments = plan(args.minutes, args.every, args.schedule, args.grad_tts_share, args.only)
    totals = cumulative_minutes(segments, args.schedule, args.only)
    rows = rows_to_continue(out, totals) if args.resume else []
    test = read_entries(Path(args.data) / "test.txt")[: args.test_limit]
    evaluator = Evaluator()
    recordings = evaluator.intelligibility(test)
    acoustic = args.acoustic or out / "grad_tts" / "last.pt"
    vocoder = out / "diffwave" / "last.pt"
    title = f"{args.schedule}" + (f", only {args.only}" if args.only else "")
    for index in range(len(rows) + 1, len(segments) + 1):
        train_segment(segments[index - 1], args)
        minutes = totals[index - 1]
        row = {"minutes": minutes, "grad_tts_step": checkpoint_step(acoustic),
               "diffwave_step": checkpoint_step(vocoder), "recordings_wer": recordings["wer"],
               "recordings_cer": recordings["cer"]}
        row |= evaluate_point(evaluator, out / "points" / f"{index:02d}", acoustic, vocoder, test)
        rows.append(row)
        log.info("%.1f min: %s", minutes, ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                    for k, v in row.items() if k != "minutes"))
        write_csv(rows, out / "curve.csv")
        plot(rows, out / "curve.png", title)
    print(f"wrote {out / 'curve.csv'} and {out / 'curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

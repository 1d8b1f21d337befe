"""Does a DiffWave checkpoint denoise? Shallow diffusion from Griffin-Lim, scored against the same
sampler with no denoiser.

    python bench/denoise.py --vocoder exp/diffwave/last.pt --test data/prepared/test.txt \\
        --out exp/denoise --starts 0,4,8,15

For each test recording: Griffin-Lim of its mel (in the vocoder's mel definition); then, for each
start step k of the full training schedule, that waveform noised to step k's level and taken back
through DiffWave's reverse steps k..0 (DiffSinger's shallow diffusion). The same runs with a
network that predicts no noise (the sampler then only scales and adds noise) show what the trained
network takes away. For noise-predicting models (`model.predict = "noise"`, lmnt's). WER/CER (pocketsphinx) and copy-synthesis
fidelity (STOI, PESQ, log-mel L1 against the recording) of Griffin-Lim alone and of every run go to
OUT/denoise.csv and OUT/denoise.md, the audio under OUT/wavs/.

This measures learning where intelligibility cannot yet show it: an undertrained vocoder whose own
samples are noise already removes part of the noise added to a waveform near speech.
"""
from __future__ import annotations

import argparse
import csv
import logging
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.audio import load_wav, save_wav  # noqa: E402
from common.griffin_lim import griffin_lim  # noqa: E402
from common.mel import MelSpectrogram  # noqa: E402
from diffwave.checkpoint import load_diffwave, mel_config  # noqa: E402
from diffwave.inference import vocode  # noqa: E402
from evaluation.evaluate import Entry, Evaluator, read_entries  # noqa: E402
from evaluation.metrics import copy_synthesis_scores  # noqa: E402

log = logging.getLogger("denoise")
COLUMNS = ["network", "start", "wer", "cer", "stoi", "pesq_wb", "log_mel_l1"]


class NoDenoiser:
    """A backbone that predicts no noise, in the sampler's place of `model` (everything else is its)."""

    def __init__(self, model):
        self.model = model

    def __getattr__(self, name):
        return getattr(self.model, name)

    def denoise(self, audio: torch.Tensor, step: torch.Tensor, conditioning) -> torch.Tensor:
        return torch.zeros_like(audio).unsqueeze(1)


def score(evaluator: Evaluator, test: list[Entry], audio: dict[str, torch.Tensor], folder: Path) -> dict:
    """Intelligibility and fidelity of `audio` (uid -> waveform) against the test recordings."""
    written, fidelity = [], []
    for entry in test:
        save_wav(folder / f"{entry.uid}.wav", audio[entry.uid], evaluator.rate)
        written.append(Entry(entry.uid, folder / f"{entry.uid}.wav", entry.text))
        fidelity.append(copy_synthesis_scores(load_wav(entry.wav, evaluator.rate), audio[entry.uid],
                                              evaluator.extractor))
    rates = evaluator.intelligibility(written)
    return {"wer": rates["wer"], "cer": rates["cer"],
            **{key: float(np.mean([f[key] for f in fidelity])) for key in ("stoi", "pesq_wb", "log_mel_l1")}}


def write_table(rows: list[dict], out: Path) -> None:
    with open(out / "denoise.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| network | start step | WER | CER | STOI | PESQ | log-mel L1 |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['network']} | {r['start']} | " + " | ".join(f"{r[k]:.3f}" for k in COLUMNS[2:]) + " |"
              for r in rows]
    (out / "denoise.md").write_text("\n".join(lines) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocoder", type=Path, required=True, help="a conditional DiffWave checkpoint")
    parser.add_argument("--test", type=Path, required=True, help="filelist of test recordings (wav|text)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--starts", default="0,4,8,15", help="comma-separated start steps of the training schedule")
    parser.add_argument("--limit", type=int, default=16, help="test recordings scored")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    trained, ckpt = load_diffwave(args.vocoder)
    if trained.config.unconditional or trained.config.predict != "noise":
        raise SystemExit(f"{args.vocoder}: needs a conditional, noise-predicting DiffWave")
    starts = [int(k) for k in args.starts.split(",")]
    extractor = MelSpectrogram(mel_config(ckpt))
    evaluator = Evaluator()
    test = read_entries(args.test)[: args.limit]
    mels, starting = {}, {}
    for index, entry in enumerate(test):
        mels[entry.uid] = extractor(load_wav(entry.wav, extractor.config.sample_rate))
        starting[entry.uid] = griffin_lim(mels[entry.uid], extractor,
                                          generator=torch.Generator().manual_seed(args.seed + index))
    rows = [{"network": "none (Griffin-Lim)", "start": "-",
             **score(evaluator, test, starting, args.out / "wavs" / "griffin_lim")}]
    for name, model in (("trained", trained), ("no denoiser", NoDenoiser(trained))):
        for start in starts:
            audio = {}
            for index, entry in enumerate(test):
                audio[entry.uid] = vocode(mels[entry.uid].unsqueeze(0), model, fast=False,
                                          generator=torch.Generator().manual_seed(args.seed + index),
                                          initial=starting[entry.uid].unsqueeze(0), start=start)[0]
            rows.append({"network": name, "start": start,
                         **score(evaluator, test, audio, args.out / "wavs" / f"{name.replace(' ', '_')}_{start}")})
            log.info("%s from step %d: %s", name, start, {k: round(v, 3) for k, v in rows[-1].items()
                                                          if isinstance(v, float)})
    write_table(rows, args.out)
    print(f"wrote {args.out / 'denoise.csv'} and {args.out / 'denoise.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

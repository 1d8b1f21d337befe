"""Objective evaluation of synthesized speech: `python -m gradwave.evaluation.evaluate --out DIR ...`.

    --synth NAME=PATH   a synthesis folder (with synthesize.py's manifest.tsv) or a `wav|text` filelist;
                        repeat for several systems
    --truth FILELIST    `wav|text` recordings of the same sentences (matched by file stem / manifest id):
                        ground-truth recognition scores, DTW mel distance and duration ratio
    --vocoder CKPT      copy-synthesis fidelity of a DiffWave checkpoint on the truth recordings

Every system, and the recordings, also get DNSMOS quality predictions (P.808 MOS, P.835 SIG/BAK/OVRL).

Writes DIR/results.json and DIR/report.md (tables and mel-spectrogram plots in DIR/plots/).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from gradwave.common.audio import load_wav, save_wav
from gradwave.common.filelists import read_filelist
from gradwave.common.mel import MelConfig, MelSpectrogram

from gradwave.common.dnsmos import QualityPredictor
from gradwave.common.griffin_lim import GRIFFIN_LIM, ITERATIONS, GriffinLim

from .asr import Recognizer, ScoringNormalizer
from .metrics import (average_spectrum, copy_synthesis_scores, detail_ratios, dtw_log_mel_distance, error_rates,
                      new_tones, tones)

log = logging.getLogger("gradwave.evaluation.evaluate")


@dataclass
class Entry:
    uid: str
    wav: Path
    text: str
    rtf_acoustic: Optional[float] = None
    rtf_vocoder: Optional[float] = None
    mel: Optional[Path] = None  # the acoustic model's log-mel (.npy), when synthesis saved it


def read_entries(path: Path) -> list[Entry]:
    """A synthesis folder's manifest.tsv, or a `wav|text` filelist."""
    manifest = path / "manifest.tsv" if path.is_dir() else None
    if manifest is not None:
        if not manifest.is_file():
            raise FileNotFoundError(f"{path}: no manifest.tsv (expected synthesize.py output)")
        with manifest.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))

        def number(row, key):
            return float(row[key]) if row.get(key) not in (None, "") else None

        return [Entry(r["id"], path / r["file"], r["text"], number(r, "rtf_acoustic"), number(r, "rtf_vocoder"),
                      path / r["mel"] if r.get("mel") else None) for r in rows]
    return [Entry(u.uid, u.wav, u.text) for u in read_filelist(path)]


class Evaluator:
    def __init__(self, mel: MelConfig = MelConfig()):
        self.recognizer = Recognizer()
        self.predict_quality = QualityPredictor()
        self.normalize = ScoringNormalizer()
        self.extractor = MelSpectrogram(mel)
        self.rate = mel.sample_rate

    def intelligibility(self, entries: list[Entry]) -> dict:
        refs, hyps, per = [], [], []
        for e in entries:
            ref = self.normalize(e.text)
            hyp = self.recognizer(load_wav(e.wav, self.rate), self.rate)
            refs.append(ref)
            hyps.append(hyp)
            per.append({"id": e.uid, "reference": ref, "hypothesis": hyp, **error_rates([ref], [hyp])})
        return {**error_rates(refs, hyps), "utterances": per}

    def quality(self, entries: list[Entry]) -> dict:
        """Mean DNSMOS scores of `entries`, with each utterance's."""
        per = [{"id": e.uid, **self.predict_quality(load_wav(e.wav, self.rate), self.rate)} for e in entries]
        means = {key: float(np.mean([p[key] for p in per])) for key in ("p808", "sig", "bak", "ovrl")} if per else {}
        return {**means, "utterances": per}

    def spectrum(self, entries: list[Entry]) -> torch.Tensor:
        """The averaged power spectrum (dB) of `entries`."""
        return average_spectrum([load_wav(e.wav, self.rate) for e in entries])

    def tones(self, entries: list[Entry], recordings_db: Optional[torch.Tensor]) -> dict:
        """Steady tones of `entries`' averaged spectrum, and those of them the recordings lack."""
        found = tones(self.spectrum(entries), self.rate)
        lacking = new_tones(found, recordings_db, self.rate) if recordings_db is not None else found
        return {"tones": found, "tones_not_in_recordings": lacking}

    def acoustic(self, entries: list[Entry], truth: dict[str, Entry]) -> dict:
        distances, ratios = [], []
        for e in entries:
            if e.uid not in truth:
                continue
            synth, real = load_wav(e.wav, self.rate), load_wav(truth[e.uid].wav, self.rate)
            distances.append(dtw_log_mel_distance(self.extractor(real), self.extractor(synth)))
            ratios.append(len(synth) / len(real))
        if not distances:
            return {}
        return {"dtw_log_mel_l1": float(np.mean(distances)), "duration_ratio": float(np.mean(ratios)),
                "matched": len(distances)}

    def detail(self, entries: list[Entry], truth: dict[str, Entry]) -> dict:
        """`detail_ratios` against the recordings of the same sentences: of the acoustic model's own mels
        (`acoustic_mel`, when synthesis saved them) and of the audio's mels (`audio`)."""
        matched = [e for e in entries if e.uid in truth]
        if not matched:
            return {}
        recordings = [self.extractor(load_wav(truth[e.uid].wav, self.rate)) for e in matched]
        out = {"audio": detail_ratios([self.extractor(load_wav(e.wav, self.rate)) for e in matched], recordings)}
        if all(e.mel is not None for e in matched):
            out["acoustic_mel"] = detail_ratios([torch.from_numpy(np.load(e.mel)) for e in matched], recordings)
        return out

    @staticmethod
    def speed(entries: list[Entry]) -> dict:
        out = {}
        for key in ("rtf_acoustic", "rtf_vocoder"):
            values = [getattr(e, key) for e in entries if getattr(e, key) is not None]
            if values:
                out[key] = float(np.mean(values))
        return out

    def copy_synthesis(self, vocoder_path: str | Path, truth: list[Entry], limit: int,
                       save_dir: Optional[Path] = None) -> dict:
        """Fidelity of the vocoder (a DiffWave checkpoint, or "griffin-lim" of the evaluation's mel) on
        ground-truth mels of the first `limit` recordings; with `save_dir` the vocoded wavs are kept there
        and their WER/CER and DNSMOS are scored too."""
        from diffwave.checkpoint import load_diffwave, mel_config
        from diffwave.inference import vocode

        if str(vocoder_path) == GRIFFIN_LIM:
            vocoder_mel = self.extractor
            inverse = GriffinLim(self.extractor, ITERATIONS, persistent=False)

            def vocoder(mel):
                return inverse.reconstruct(mel, torch.Generator().manual_seed(0))
        else:
            model, ckpt = load_diffwave(vocoder_path)
            vocoder_mel = MelSpectrogram(mel_config(ckpt))

            def vocoder(mel):
                return vocode(mel.unsqueeze(0), model, generator=torch.Generator().manual_seed(0))[0]
        scores, written = [], []
        for e in truth[:limit]:
            real = load_wav(e.wav, self.rate)
            audio = vocoder(vocoder_mel(real))
            scores.append(copy_synthesis_scores(real, audio, self.extractor))
            if save_dir is not None:
                save_wav(save_dir / f"{e.uid}.wav", audio, self.rate)
                written.append(Entry(e.uid, save_dir / f"{e.uid}.wav", e.text))
        result = {key: float(np.mean([s[key] for s in scores])) for key in scores[0]} | {"utterances": len(scores)}
        if written:
            rates, quality = self.intelligibility(written), self.quality(written)
            result |= {"wer": rates["wer"], "cer": rates["cer"], "p808": quality["p808"], "ovrl": quality["ovrl"]}
        return result


def plot_mels(out: Path, uid: str, mels: dict[str, torch.Tensor]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(mels), 1, figsize=(8, 2.2 * len(mels)), squeeze=False)
    for axis, (name, mel) in zip(axes[:, 0], mels.items()):
        axis.imshow(mel.numpy(), origin="lower", aspect="auto", interpolation="none")
        axis.set_title(name, fontsize=9)
        axis.set_ylabel("mel band")
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    path = out / "plots" / f"{uid}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _fmt(value) -> str:
    return "" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def write_report(out: Path, results: dict, plots: list[Path]) -> Path:
    def mos(q: dict) -> str:
        return " | ".join(_fmt(q.get(key)) for key in ("p808", "sig", "bak", "ovrl"))

    lines = [f"# Evaluation{': ' + results['title'] if results.get('title') else ''}", "",
             "| system | utterances | WER | CER | DNSMOS P.808 | SIG | BAK | OVRL | DTW log-mel L1 | duration ratio | "
             "RTF acoustic | RTF vocoder |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["systems"].items():
        lines.append(f"| {name} | {len(r['intelligibility']['utterances'])} | {_fmt(r['intelligibility']['wer'])} | "
                     f"{_fmt(r['intelligibility']['cer'])} | {mos(r['quality'])} | "
                     f"{_fmt(r['acoustic'].get('dtw_log_mel_l1'))} | "
                     f"{_fmt(r['acoustic'].get('duration_ratio'))} | {_fmt(r['speed'].get('rtf_acoustic'))} | "
                     f"{_fmt(r['speed'].get('rtf_vocoder'))} |")
    if "ground_truth" in results:
        gt = results["ground_truth"]
        lines.append(f"| recordings | {len(gt['utterances'])} | {_fmt(gt['wer'])} | {_fmt(gt['cer'])} | "
                     f"{mos(results.get('ground_truth_quality', {}))} | 0 | 1 | | |")
    if "copy_synthesis" in results:
        cs = results["copy_synthesis"]
        lines += ["", "Vocoder copy-synthesis (ground-truth mel -> vocoder), against the recordings:", "",
                  "| utterances | WER | CER | DNSMOS P.808 | OVRL | log-mel L1 | MCD (dB) | STOI | PESQ wb |",
                  "|---|---|---|---|---|---|---|---|---|",
                  f"| {cs['utterances']} | {_fmt(cs.get('wer'))} | {_fmt(cs.get('cer'))} | {_fmt(cs.get('p808'))} | "
                  f"{_fmt(cs.get('ovrl'))} | {_fmt(cs['log_mel_l1'])} | {_fmt(cs['mcd_db'])} | {_fmt(cs['stoi'])} | "
                  f"{_fmt(cs['pesq_wb'])} |"]
    detailed = {name: r["detail"] for name, r in results["systems"].items() if r.get("detail")}
    if detailed:
        lines += ["", "Detail kept, against the recordings (1: as much as they have; `detail_statistics` in "
                  "gradwave/evaluation/metrics.py): fine structure along frequency and frame-to-frame change, of the "
                  "acoustic model's own mels and of the audio's:", "",
                  "| system | fine structure (model mel) | frame change (model mel) | fine structure (audio) | "
                  "frame change (audio) |", "|---|---|---|---|---|"]
        for name, d in detailed.items():
            model, audio = d.get("acoustic_mel", {}), d["audio"]
            lines.append(f"| {name} | {_fmt(model.get('fine_structure'))} | {_fmt(model.get('frame_change'))} | "
                         f"{_fmt(audio['fine_structure'])} | {_fmt(audio['frame_change'])} |")
    toned = {name: r["spectrum"]["tones_not_in_recordings"] for name, r in results["systems"].items()
             if r.get("spectrum", {}).get("tones_not_in_recordings")}
    lines += ["", "Steady tones (averaged spectrum, > 20 dB above the surrounding 600 Hz) that the recordings lack: "
              + ("; ".join(f"{name}: " + ", ".join(f"{f:.0f} Hz (+{db:.0f} dB)" for f, db in found)
                           for name, found in toned.items()) if toned else "none.")]
    if plots:
        lines += ["", "## Mel spectrograms", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--synth", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--truth", help="wav|text filelist of the recordings")
    parser.add_argument("--vocoder", help="DiffWave checkpoint for copy-synthesis scores")
    parser.add_argument("--copy-limit", type=int, default=10, help="recordings used for copy-synthesis")
    parser.add_argument("--plots", type=int, default=3, help="utterances to plot")
    parser.add_argument("--title", help="what the sentences are, for the report's heading")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        systems = {}
        for item in args.synth:
            name, _, path = item.partition("=")
            if not path:
                raise ValueError(f"--synth {item!r}: expected NAME=PATH")
            systems[name] = read_entries(Path(path))
        truth_entries = read_entries(Path(args.truth)) if args.truth else []
        evaluator = Evaluator()
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        log.error("%s", err)
        return 1
    truth = {e.uid: e for e in truth_entries}
    results: dict = {"title": args.title, "systems": {}}
    for name, entries in systems.items():
        log.info("%s: %d utterances", name, len(entries))
        results["systems"][name] = {"intelligibility": evaluator.intelligibility(entries),
                                    "quality": evaluator.quality(entries),
                                    "acoustic": evaluator.acoustic(entries, truth), "speed": evaluator.speed(entries),
                                    "detail": evaluator.detail(entries, truth)}
    used = {e.uid for entries in systems.values() for e in entries}
    matched_truth = [e for e in truth_entries if e.uid in used] or truth_entries
    recordings_spectrum = evaluator.spectrum(matched_truth) if matched_truth else None
    for name, entries in systems.items():
        results["systems"][name]["spectrum"] = evaluator.tones(entries, recordings_spectrum)
    if matched_truth:
        results["ground_truth"] = evaluator.intelligibility(matched_truth)
        results["ground_truth_quality"] = evaluator.quality(matched_truth)
    if args.vocoder and truth_entries:
        results["copy_synthesis"] = evaluator.copy_synthesis(Path(args.vocoder), truth_entries, args.copy_limit,
                                                             save_dir=out / "copy_synthesis")
    plots = []
    plot_ids = [e.uid for e in next(iter(systems.values()), [])][: args.plots]
    for uid in plot_ids:
        mels = {}
        if uid in truth:
            mels["ground truth"] = evaluator.extractor(load_wav(truth[uid].wav, evaluator.rate))
        for name, entries in systems.items():
            match = [e for e in entries if e.uid == uid]
            if match:
                mels[name] = evaluator.extractor(load_wav(match[0].wav, evaluator.rate))
        plots.append(plot_mels(out, uid, mels))
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report = write_report(out, results, plots)
    print(f"wrote {out / 'results.json'} and {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

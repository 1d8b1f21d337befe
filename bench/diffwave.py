"""DiffWave benchmark (full-size lmnt base model unless --config, CPU threads as given).

    python bench/diffwave.py train [--threads 2] [--repeats 3] [--profile] [--config demo.json]
    python bench/diffwave.py vocode [--threads 2] [--seconds 2] [--config demo.json] [--upstream lmnt-diffwave]

train: one optimizer step at batch 16 x 62 mel frames, or the config's batch and crop (the shared
loop's step: forward, loss, backward, Adam; a bridge's guides given, as the training data holds them).
vocode: seconds of compute per second of audio with the fast (6-step; the bridge's own) and full (50-step)
schedules, in fp32 and bf16 autocast, with the conditioner hoisted out of the step loop and, for
comparison, not. With --upstream DIR (a checkout of lmnt-com/diffwave, the folder holding src/): lmnt's own
`predict` (fast sampling, fp32) on the same random weights, timed in turn with ours at the default
precision and in fp32.
"""
from __future__ import annotations

import sys
import tempfile
import types
from pathlib import Path

import torch

# Run as a script, bench/ would come first on sys.path and this file would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.util import (best_in_turn, mode_parser, peak_rss_mib, profile_table, report_train_step,  # noqa: E402
                        run_mode, timed)
from gradwave.common.config import load_json  # noqa: E402
from diffwave.config import DiffWaveConfig  # noqa: E402
from diffwave.inference import vocode  # noqa: E402
from diffwave.bridge import guide_waveform  # noqa: E402
from diffwave.build import build_model  # noqa: E402


def bench_train(args):
    config = load_json(DiffWaveConfig, args.config) if args.config else DiffWaveConfig()
    model = build_model(config.model, config.mel)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    size, frames = config.train.batch_size, config.train.crop_mel_frames
    batch = {"audio": torch.randn(size, frames * 256).clamp(-1, 1) * 0.3,
             "spectrogram": torch.randn(size, 80, frames) - 5, "seeds": torch.arange(size)}
    if config.model.process == "bridge":  # the training data holds each clip's guide, made once
        batch["guide"] = guide_waveform(model, batch["spectrogram"], model.config.bridge.guide_iterations)

    def step():
        optimizer.zero_grad(set_to_none=True)
        model.compute_loss(batch)["loss"].backward()
        optimizer.step()

    report_train_step(step, args, f"batch {size} x {frames} frames",
                      lambda best: f"{size * frames * 256 / best / 1e3:.0f}k samples/s")


def upstream_predict(folder: str):
    """lmnt's `predict` from its checkout. Its package is also named diffwave, so ours steps out of
    sys.modules while theirs imports, and comes back after."""
    def ours_or_theirs(name: str) -> bool:
        return name == "diffwave" or name.startswith("diffwave.")

    ours = {name: module for name, module in sys.modules.items() if ours_or_theirs(name)}
    for name in ours:
        del sys.modules[name]
    stub = "torchaudio" not in sys.modules  # imported there, unused by predict
    if stub:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    sys.path.insert(0, str(Path(folder).resolve() / "src"))
    try:
        from diffwave.inference import predict
    finally:
        sys.path.pop(0)
        if stub:
            del sys.modules["torchaudio"]
        for name in [name for name in sys.modules if ours_or_theirs(name)]:
            del sys.modules[name]
        sys.modules.update(ours)
    return predict


def compare_upstream(args, model, mel: torch.Tensor, seconds: float) -> None:
    predict = upstream_predict(args.upstream)
    with tempfile.TemporaryDirectory() as folder:  # lmnt's predict loads its weights from a folder
        torch.save({"model": model.state_dict()}, f"{folder}/weights.pt")
        best = best_in_turn({
            "upstream (lmnt predict, fast, fp32)": lambda: predict(mel, model_dir=folder, device=torch.device("cpu"),
                                                                   fast_sampling=True),
            "ours, fast, default precision": lambda: vocode(mel, model, precision="auto"),
            "ours, fast, fp32": lambda: vocode(mel, model, precision="fp32")}, args.repeats)
    for name, seconds_taken in best.items():
        print(f"{name}: {seconds_taken / seconds:.3f} s per second of audio ({args.threads} threads)")


def bench_vocode(args):
    config = load_json(DiffWaveConfig, args.config) if args.config else DiffWaveConfig()
    model = build_model(config.model, config.mel).eval()
    frames = int(args.seconds * 22050 / 256)
    mel = torch.randn(1, 80, frames) - 5
    seconds = frames * 256 / 22050
    if args.upstream:
        compare_upstream(args, model, mel, seconds)
        return
    for fast, label in [(True, "fast schedule"), (False, "every training step")]:
        for hoist, precision in [(True, "fp32"), (True, "bf16"), (False, "fp32")]:
            if precision == "bf16" and not fast:
                continue
            repeats = args.repeats if fast else 1
            times = timed(lambda: vocode(mel, model, fast=fast, hoist=hoist, precision=precision), repeats,
                          warmup=1 if fast else 0)
            print(f"vocode {label}, {precision}, conditioner {'hoisted' if hoist else 'per step'}: "
                  f"{min(times) / seconds:.3f} s per second of audio ({args.threads} threads)")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")
    if args.profile:
        print(profile_table(lambda: vocode(mel, model, fast=True)))


def main(argv=None):
    modes = {"train": bench_train, "vocode": bench_vocode}
    parser = mode_parser(__doc__, list(modes))
    parser.add_argument("--seconds", type=float, default=2.0, help="audio length to vocode")
    parser.add_argument("--config", help="DiffWave JSON config (e.g. recipes/ljspeech/conf/demo_diffwave.json)")
    parser.add_argument("--upstream", metavar="DIR", help="a checkout of lmnt-com/diffwave, timed beside ours (vocode)")
    run_mode(parser.parse_args(argv), modes)


if __name__ == "__main__":
    main()

"""Training and sampling speed of the WaveNet and SaShiMi backbones at (about) equal parameter count,
unconditional on one-second 16 kHz clips as in the SC09 recipe.

    python bench/backbones.py [--threads 2] [--repeats 3] [--batch 4] [--sizes demo,seed] [--out FILE.json]

Pairs: `demo` (recipes/sc09/conf/demo_*.json) and `seed` (the published SC09 models: WaveNet
h256 d36, 24.1M parameters, and SaShiMi d128, 23.5M). Train: one optimizer step (forward, loss,
backward, Adam) at `--batch` clips. Sample: seconds per diffusion step for one clip.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.util import cpu_description, peak_rss_mib, timed  # noqa: E402
from gradwave.common.config import load_json  # noqa: E402
from diffwave.build import build_model  # noqa: E402
from diffwave.config import DiffWaveConfig  # noqa: E402
from diffwave.seed_projects import SC09, config_from_upstream  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "recipes" / "sc09" / "conf"


def pair(size: str) -> dict:
    if size == "demo":
        return {name: load_json(DiffWaveConfig, CONF / f"demo_{name}.json").model for name in ("wavenet", "sashimi")}
    return {"wavenet": config_from_upstream({"res_channels": 256, "skip_channels": 256, "num_res_layers": 36,
                                             "dilation_cycle": 12, "unconditional": True}, **SC09),
            "sashimi": config_from_upstream({"d_model": 128, "n_layers": 6, "pool": [4, 4], "expand": 2, "ff": 2,
                                             "unet": True, "L": 16000, "unconditional": True}, **SC09)}


def measure(config, batch: int, repeats: int) -> dict:
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    audio = {"audio": torch.randn(batch, config.audio_len).clamp(-1, 1) * 0.3, "seeds": torch.arange(batch)}

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        model.compute_loss(audio)["loss"].backward()
        optimizer.step()

    train = min(timed(train_step, repeats))
    model.eval()
    clip = torch.randn(1, config.audio_len)
    with torch.no_grad():
        sample = min(timed(lambda: model.denoise(clip, torch.tensor([10.0]), None), repeats))
    return {"parameters": sum(p.numel() for p in model.parameters()), "train_step_s": train,
            "train_samples_per_s": batch * config.audio_len / train, "sampling_step_s": sample}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--sizes", default="demo,seed")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    print(f"| size | backbone | parameters | train step (batch {args.batch} x 1 s) | samples/s | "
          "sampling step (1 clip) |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        for name, config in pair(size).items():
            r = {"size": size, "backbone": name, **measure(config, args.batch, args.repeats)}
            rows.append(r)
            print(f"| {size} | {name} | {r['parameters'] / 1e6:.2f}M | {r['train_step_s']:.3f} s | "
                  f"{r['train_samples_per_s'] / 1e3:.0f}k | {r['sampling_step_s']:.3f} s |", flush=True)
    print(f"\n{args.threads} threads on {cpu_description()}; peak RSS {peak_rss_mib():.0f} MiB")
    if args.out:
        Path(args.out).write_text(json.dumps({"threads": args.threads, "batch": args.batch, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DiffWave sampling: `vocode(mel, model)` and `python -m diffwave.inference CKPT MEL.npy|WAV -o out.wav`.

The fast schedule (6 steps) is aligned to fractional training steps as in lmnt's implementation.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from gradwave.common.audio import AudioError, load_wav, save_wav
from gradwave.common.checkpoint import CheckpointError
from gradwave.common.autotune import digest
from gradwave.common.config import to_dict
from gradwave.common.precision import PRECISIONS, choose_precision
from gradwave.common.mel import MelSpectrogram

from .base import DiffusionModel
from .checkpoint import load_diffwave, mel_config

log = logging.getLogger("diffwave.inference")

HOIST_LIMIT_BYTES = 2 * 1024 ** 3


def resolve_precision(precision: str, model: DiffusionModel) -> str:
    """"fp32" or "bf16" for `model` on its device: as given, or for "auto" the faster of the two where the
    CPU computes bf16 natively (timed on one second of audio in one step, once per config and CPU)."""
    device = next(model.parameters()).device
    if precision != "auto":  # checked, not timed
        return choose_precision(precision, device, "", None)
    name = f"the {model.config.backbone} vocoder {digest(to_dict(model.config))}"
    frames = 86  # one second at 22 kHz
    probe = None if model.config.unconditional else torch.full((1, model.config.n_mels, frames), -5.0, device=device)
    return choose_precision(precision, device, name, lambda p: vocode(
        probe, model, steps=1, n_samples=frames * model.config.hop_samples, precision=p))


@torch.no_grad()
def vocode(mel: Optional[torch.Tensor], model: DiffusionModel, fast: bool = True, steps: Optional[int] = None,
           n_samples: Optional[int] = None, generator: Optional[torch.Generator] = None,
           hoist: Optional[bool] = None, precision: str = "fp32") -> torch.Tensor:
    """Mel (B, n_mels, frames) -> audio (B, frames * hop), with any network and process. Unconditional
    models take `mel=None` and `n_samples` (default: the config's audio_len). `steps` picks an N-step
    sampler instead of the fast (lmnt's 6 steps; the bridge's `bridge.steps`) or full (every training
    step) one. `hoist` (default: when it fits in 2 GiB) lets the network precompute its conditioning per
    layer. `precision="bf16"` runs the network under bfloat16 autocast (the sampler's arithmetic stays fp32);
    "auto" chooses as `resolve_precision` does."""
    config = model.config
    device = next(model.parameters()).device
    if config.unconditional:
        batch, length = 1 if mel is None else mel.shape[0], n_samples or config.audio_len
    else:
        if mel is None or mel.dim() != 3:
            raise ValueError("a conditional DiffWave needs a mel of shape (batch, n_mels, frames)")
        mel = mel.to(device)
        batch, length = mel.shape[0], mel.shape[-1] * config.hop_samples
    if hoist is None:
        hoist = model.conditioning_bytes(batch, length) <= HOIST_LIMIT_BYTES
    if precision == "auto":
        precision = resolve_precision(precision, model)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    # autocast keeps its bf16 copies of the weights until the outermost autocast context closes: this one,
    # disabled, spans the steps, so that the weights are cast once per call instead of once per step
    with torch.autocast(device.type, enabled=False):
        return model.process.sample(model, mel, (batch, length), fast, steps, generator, hoist, autocast)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-vocode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="DiffWave checkpoint (this toolkit's or lmnt's)")
    parser.add_argument("inputs", nargs="*", help="mel .npy files (n_mels x frames) or wavs (copy-synthesis)")
    parser.add_argument("-o", "--output", required=True,
                        help="output wav (one input) or folder (several inputs, or --unconditional)")
    parser.add_argument("--full", action="store_true", help="use the full training schedule instead of the fast one")
    parser.add_argument("--steps", type=int, help="sample in N steps, evenly spaced over the training schedule")
    parser.add_argument("--unconditional", action="store_true", help="generate clips with an unconditional model")
    parser.add_argument("-n", type=int, default=1, help="how many unconditional clips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def _read_input(path: Path, model: DiffusionModel, ckpt: dict) -> torch.Tensor:
    if path.suffix == ".npy":
        mel = torch.from_numpy(np.load(path)).float()
        if mel.dim() != 2 or mel.shape[0] != model.config.n_mels:
            raise ValueError(f"{path}: mel of shape {tuple(mel.shape)}, expected ({model.config.n_mels}, frames)")
        return mel
    config = mel_config(ckpt)
    return MelSpectrogram(config)(load_wav(path, config.sample_rate))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    generator = torch.Generator().manual_seed(args.seed)
    try:
        model, ckpt = load_diffwave(args.checkpoint, args.device)
        rate = mel_config(ckpt).sample_rate if ckpt.get("mel") else model.config.sample_rate
        out = Path(args.output)
        if args.unconditional or model.config.unconditional:
            if not model.config.unconditional:
                raise ValueError(f"{args.checkpoint}: the model is conditional; give mel or wav inputs")
            out.mkdir(parents=True, exist_ok=True)
            for k in range(args.n):
                save_wav(out / f"sample_{k:03d}.wav", vocode(None, model, not args.full, args.steps,
                                                             generator=generator)[0], rate)
            log.info("wrote %d clips to %s", args.n, out)
            return 0
        if not args.inputs:
            raise ValueError("give at least one mel .npy or wav input")
        several = len(args.inputs) > 1
        for name in args.inputs:
            path = Path(name)
            mel = _read_input(path, model, ckpt)
            audio = vocode(mel.unsqueeze(0), model, not args.full, args.steps, generator=generator)[0]
            target = out / f"{path.stem}.wav" if several else out
            save_wav(target, audio, rate)
            log.info("%s -> %s (%.2f s)", path, target, len(audio) / rate)
    except (CheckpointError, AudioError, ValueError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

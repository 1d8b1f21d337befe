"""Loading DiffWave checkpoints: this toolkit's files, lmnt's published `{"model", "params", ...}` files and
the seed projects' SC09 and SaShiMi files (seeds.py)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import torch

from common.checkpoint import inference_state, load_checkpoint, make_checkpoint
from common.config import from_dict, to_dict
from common.mel import MelConfig, preset

from .backbone import Backbone
from .build import build_model
from .config import KIND, DiffWaveModelConfig
from .seeds import adapt_seed


def config_from_lmnt_params(params: dict) -> DiffWaveModelConfig:
    names = {f.name for f in dataclasses.fields(DiffWaveModelConfig)}
    return from_dict(DiffWaveModelConfig, {k: v for k, v in params.items() if k in names}, "lmnt params")


def adapt_lmnt(data: Any, path: Path) -> Optional[dict]:
    """An lmnt DiffWave file as a checkpoint of this toolkit (mel: the `diffwave_lmnt` preset), or None."""
    if not (isinstance(data, dict) and "model" in data and "params" in data):
        return None
    params = dict(data["params"])
    config = config_from_lmnt_params(params)
    mel = dataclasses.replace(preset("diffwave_lmnt"), sample_rate=int(params.get("sample_rate", 22050)),
                              n_fft=int(params.get("n_fft", 1024)), win_length=int(params.get("n_fft", 1024)),
                              hop_length=config.hop_samples, n_mels=config.n_mels)
    return make_checkpoint(KIND, data["model"], to_dict(config), None if config.unconditional else to_dict(mel),
                           step=int(data.get("step", 0)))


def adapt_published(data: Any, path: Path) -> Optional[dict]:
    """lmnt's files, then the seed projects' (see seeds.py)."""
    return adapt_lmnt(data, path) or adapt_seed(data, path)


def load_diffwave(path: str | Path, device: str | torch.device = "cpu") -> tuple[Backbone, dict]:
    """Any backbone's checkpoint: this toolkit's, lmnt's or a seed project's file."""
    ckpt = load_checkpoint(path, KIND, adapt=adapt_published)
    model = build_model(from_dict(DiffWaveModelConfig, ckpt["config"], f"{path}: config"))
    model.load_state_dict(inference_state(ckpt), strict=True)
    return model.to(device).eval(), ckpt


def mel_config(ckpt: dict) -> Optional[MelConfig]:
    return from_dict(MelConfig, ckpt["mel"], "checkpoint mel") if ckpt.get("mel") else None

"""Loading DiffWave checkpoints: this toolkit's files, lmnt's published `{"model", "params", ...}` files and
the seed projects' SC09 and SaShiMi files (seed_projects.py)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import torch

from gradwave.common.checkpoint import CheckpointError, inference_state, load_checkpoint, make_checkpoint
from gradwave.common.config import ConfigError, from_dict, to_dict
from gradwave.common.mel import MelConfig, preset

from .base import DiffusionModel
from .build import build_model
from .config import KIND, DiffWaveModelConfig, TrainingStatistics
from .seed_projects import adapt_seed


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
    """lmnt's files, then the seed projects' (see seed_projects.py)."""
    return adapt_lmnt(data, path) or adapt_seed(data, path)


def training_statistics(ckpt: dict, path: str | Path) -> TrainingStatistics:
    """The checkpoint's `statistics`; files of earlier versions kept them in the model config."""
    if ckpt.get("statistics"):
        return from_dict(TrainingStatistics, ckpt["statistics"], f"{path}: statistics")
    return TrainingStatistics(prior_energy_min=float(ckpt["config"].get("prior_energy_min", 0.0)))


def load_diffwave(path: str | Path, device: str | torch.device = "cpu") -> tuple[DiffusionModel, dict]:
    """Any network's checkpoint: this toolkit's, lmnt's or a seed project's file."""
    ckpt = load_checkpoint(path, KIND, adapt=adapt_published)
    try:
        config = from_dict(DiffWaveModelConfig, ckpt["config"], f"{path}: config")
        statistics = training_statistics(ckpt, path)
    except ConfigError as err:
        raise CheckpointError(str(err)) from err
    try:
        model = build_model(config, mel_config(ckpt), statistics)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from err
    model.load_state_dict(inference_state(ckpt), strict=True)
    return model.to(device).eval(), ckpt


def mel_config(ckpt: dict) -> Optional[MelConfig]:
    return from_dict(MelConfig, ckpt["mel"], "checkpoint mel") if ckpt.get("mel") else None

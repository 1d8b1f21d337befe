"""One checkpoint format for every model kind: a single file that describes itself.

    {"format", "kind", "config", "mel", "text", "speakers", "model", "step",
     "optimizer", "scaler", "rng", "ema", "inference", "statistics"}

Everything except tensors is JSON-able data, so `torch.load(weights_only=True)` reads it.
Files are written atomically (temporary file + `os.replace`): an interrupted save never
damages the checkpoint that was there before.
"""
from __future__ import annotations

import logging
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

FORMAT_VERSION = 1
LAST = "last.pt"
log = logging.getLogger(__name__)
_STEP_FILE = re.compile(r"^ckpt_(\d+)\.pt$")


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message names the file and the reason."""


def capture_rng() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(_tuple_to_lists(random.getstate()))}
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state["numpy"] = {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_lists_to_tuple(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        restore_cuda_rng(state["cuda"], torch.cuda.device_count(), torch.cuda.set_rng_state)


def restore_cuda_rng(states: list, device_count: int, set_state: Callable[[torch.Tensor, int], None]) -> None:
    """Restore the saved per-GPU generators that this machine has; a checkpoint from a machine with
    more GPUs than this one gives the extra states up (with a warning) instead of an IndexError."""
    for index, gpu_state in enumerate(states[:device_count]):
        set_state(gpu_state, index)
    if len(states) > device_count:
        log.warning("the checkpoint holds RNG states of %d GPUs, this machine has %d: restored those that fit",
                    len(states), device_count)


def _tuple_to_lists(value):
    return [_tuple_to_lists(v) for v in value] if isinstance(value, tuple) else value


def _lists_to_tuple(value):
    return tuple(_lists_to_tuple(v) for v in value) if isinstance(value, list) else value


def make_checkpoint(kind: str, model_state: dict, config: dict, mel: Optional[dict], *,
                    text: Optional[dict] = None, speakers: Optional[list] = None, step: int = 0,
                    optimizer: Optional[dict] = None, scaler: Optional[dict] = None,
                    rng: Optional[dict] = None, ema: Optional[dict] = None,
                    inference: Optional[dict] = None, statistics: Optional[dict] = None) -> dict:
    """`inference`: how the model is meant to be sampled (None: the model kind's defaults). `statistics`:
    what training measured on its data that the model needs (e.g. PriorGrad's smallest frame energy)."""
    return {"format": FORMAT_VERSION, "kind": kind, "config": config, "mel": mel, "text": text,
            "speakers": speakers, "model": model_state, "step": step, "optimizer": optimizer,
            "scaler": scaler, "rng": rng, "ema": ema, "inference": inference, "statistics": statistics}


def inference_state(checkpoint: dict) -> dict:
    """The weights to synthesize with: the moving average when training kept one (`train.ema_decay`),
    else the training weights."""
    return checkpoint.get("ema") or checkpoint["model"]


def save_checkpoint(checkpoint: dict, path: str | Path) -> Path:
    """Write `checkpoint` to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _replace_with_copy(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def save_training_checkpoint(checkpoint: dict, directory: str | Path, keep_last: int = 5) -> Path:
    """Write `ckpt_<step>.pt`, point `last.pt` at it and delete all but the newest `keep_last`."""
    directory = Path(directory)
    path = save_checkpoint(checkpoint, directory / f"ckpt_{checkpoint['step']:08d}.pt")
    _replace_with_copy(path, directory / LAST)
    if keep_last > 0:
        for old in list_step_checkpoints(directory)[:-keep_last]:
            old.unlink(missing_ok=True)
    return path


def list_step_checkpoints(directory: str | Path) -> list[Path]:
    found = [p for p in Path(directory).glob("ckpt_*.pt") if _STEP_FILE.match(p.name)]
    return sorted(found, key=lambda p: int(_STEP_FILE.match(p.name).group(1)))


def rewind_training(directory: str | Path, step: int) -> Path:
    """Point `last.pt` back at `ckpt_<step>.pt` and delete the step files after it, so that a resumed
    run continues from `step` (an interrupted run's partial progress is dropped)."""
    directory = Path(directory)
    target = directory / f"ckpt_{step:08d}.pt"
    if not target.is_file():
        raise CheckpointError(f"{target}: cannot rewind to step {step}, its checkpoint is gone")
    for later in list_step_checkpoints(directory):
        if int(_STEP_FILE.match(later.name).group(1)) > step:
            later.unlink()
    _replace_with_copy(target, directory / LAST)
    return target


def read_file(path: str | Path, map_location: Any = "cpu") -> Any:
    """`torch.load(weights_only=True)` with errors that say what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for damaged files
        raise CheckpointError(
            f"{path}: cannot be read as a checkpoint (corrupt, truncated, or not a PyTorch file): {err}"
        ) from err


def load_checkpoint(path: str | Path, kind: str, map_location: Any = "cpu",
                    adapt: Optional[Callable[[Any, Path], Optional[dict]]] = None) -> dict:
    """Load a checkpoint of `kind`. `adapt` turns foreign files (published upstream weights) into
    this format, or returns None when it does not recognise them either."""
    path = Path(path)
    data = read_file(path, map_location)
    if isinstance(data, dict) and "format" in data and "kind" in data:
        if data["kind"] != kind:
            raise CheckpointError(f"{path}: is a {data['kind']} checkpoint, expected {kind}")
        if data["format"] > FORMAT_VERSION:
            raise CheckpointError(f"{path}: format {data['format']} is newer than this toolkit reads "
                                  f"({FORMAT_VERSION}); upgrade the toolkit")
        return data
    converted = adapt(data, path) if adapt is not None else None
    if converted is None:
        raise CheckpointError(f"{path}: not a {kind} checkpoint (no 'format'/'kind' fields, "
                              f"and not a recognised upstream {kind} file)")
    return converted


def find_resume_point(directory: str | Path) -> Optional[Path]:
    last = Path(directory) / LAST
    return last if last.is_file() else None

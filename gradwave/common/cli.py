"""What every training command shares: its common arguments and the run itself."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Optional, Type, TypeVar

from .checkpoint import find_resume_point
from .config import differences, load_json, save_json, to_dict
from .filelists import FILELIST_ORDERS
from .trainer import Trainer, TrainingTask

T = TypeVar("T")

log = logging.getLogger(__name__)


def add_training_arguments(parser: argparse.ArgumentParser, config_name: str) -> None:
    parser.add_argument("--out", required=True, help="output folder: checkpoints, config.json, logs/")
    parser.add_argument("--config", help=f"JSON config ({config_name}); default: the published setup")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set train.batch_size=8")
    parser.add_argument("--resume", nargs="?", const="auto",
                        help="continue a run (full state); without a path: OUT/last.pt when it exists")
    parser.add_argument("--init-from", help="start from the weights of a checkpoint (shape mismatches are reported)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps in total")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU when there is one)")
    parser.add_argument("--cache-dir", help="keep computed mels here (keyed by the mel config)")
    parser.add_argument("--filelist-format", choices=FILELIST_ORDERS, default="auto",
                        help="field order of three-field filelists: ours (wav|speaker|text) or upstream Grad-TTS's "
                             "LibriTTS lists (wav|text|speaker); auto tells them apart and refuses to guess")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def resume_path(args: argparse.Namespace) -> Optional[Path]:
    if args.resume == "auto":
        found = find_resume_point(args.out)
        if found is None:
            log.info("no %s/last.pt yet: starting a new run", args.out)
        return found
    return Path(args.resume) if args.resume else None


def base_config(cls: Type[T], args: argparse.Namespace) -> T:
    """What a run's config starts from, before `--set`: `--config`; else, when resuming, the run's
    own OUT/config.json (so a resumed model is the one that was saved, not the defaults); else the
    published defaults."""
    if args.config:
        return load_json(cls, args.config)
    saved = Path(args.out) / "config.json"
    if args.resume and saved.is_file():
        log.info("resuming with the run's own config, %s", saved)
        return load_json(cls, saved)
    return cls()


def run_training(task: TrainingTask, config: Any, args: argparse.Namespace) -> None:
    """Train `task` as the command line asks, writing OUT/config.json on the main process (and
    saying how it differs from the one a resumed run was started with)."""
    out = Path(args.out)
    trainer = Trainer(task, out, device=args.device, resume=resume_path(args), init_from=args.init_from,
                      progress=not args.no_progress)
    if trainer.dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        saved = out / "config.json"
        if trainer.step > 0 and saved.is_file():
            changed = differences(json.loads(saved.read_text()), to_dict(config))
            if changed:
                log.warning("resuming with a config that differs from %s: %s", saved, "; ".join(changed))
        save_json(config, saved)
    trainer.train(args.max_steps)
    trainer.close()

"""The one training loop: device placement, AMP, clipping, NaN guard, TensorBoard, tqdm,
checkpoints (keep-last-N + last.pt), exact resume, and DDP under `torchrun`.

A model plugs in through `TrainingTask`: its module (whose `compute_loss(batch)` returns a dict
of losses with a `loss` key), the dataset, a collate function, the parameter groups to clip
separately, what to store in checkpoints, and an optional callback that writes samples.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from .checkpoint import (CheckpointError, capture_rng, load_checkpoint, make_checkpoint, read_file, restore_rng,
                         save_training_checkpoint)
from .autotune import digest, fastest
from .precision import native_bf16
from .progress import progress_bar
from .sampling import SeededBatchSampler, seed_everything
from .train_config import TrainConfig

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    pass


@dataclass
class TrainingTask:
    kind: str
    model: torch.nn.Module
    dataset: Dataset
    collate: Callable[[list], dict]
    config: TrainConfig
    describe: dict  # {"config", "mel", "text", "speakers", "inference", "statistics"} stored in every checkpoint
    clip_groups: dict[str, list[torch.nn.Parameter]] = field(default_factory=dict)
    write_samples: Optional[Callable[[torch.nn.Module, Any, int], None]] = None  # (model, writer, step)
    # Settings merged into every batch (e.g. Grad-TTS's `train_decoder`). Parameters a setting leaves
    # unused must not require gradients, so that DistributedDataParallel does not wait for them.
    batch_settings: dict = field(default_factory=dict)
    # The modules that `train.compile` compiles in place (state_dict keys stay the same).
    compile_targets: list[torch.nn.Module] = field(default_factory=list)


class LossModule(torch.nn.Module):
    """Puts `model.compute_loss(batch)` in a `forward`, which is what DistributedDataParallel hooks."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict) -> dict:
        return self.model.compute_loss(batch)


@dataclass
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Distributed:
    """Joins the process group when started by torchrun (WORLD_SIZE > 1); a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return Distributed(dist.get_rank(), local, dist.get_world_size())


def pick_device(requested: Optional[str], dist_info: Distributed) -> torch.device:
    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda", dist_info.local_rank)
    return torch.device("cpu")


def batch_to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) and k != "seeds" else v)
            for k, v in batch.items()}


def autocast_dtype(amp: str, device: torch.device) -> Optional[torch.dtype]:
    """The autocast type of `train.amp`; "auto" is none where the CPU has no native bf16 (elsewhere the
    trainer times both on the first batch: `Trainer.measured_amp`)."""
    if amp == "auto":
        amp = "none"
    try:
        return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    except KeyError:
        raise ValueError(f"train.amp: {amp!r} is not one of none, auto, bf16, fp16") from None


def shape_mismatches(state: dict, own: dict) -> list[str]:
    """`name: (file shape) in the file, (model shape) here` for each tensor both have in other shapes."""
    return [f"{k}: {tuple(v.shape)} in the file, {tuple(own[k].shape)} here" for k, v in state.items()
            if k in own and own[k].shape != v.shape]


class Trainer:
    def __init__(self, task: TrainingTask, out_dir: str | Path, device: Optional[str] = None,
                 resume: Optional[str | Path] = None, init_from: Optional[str | Path] = None,
                 progress: bool = True):
        self.task = task
        self.config = task.config
        self.out_dir = Path(out_dir)
        self.dist = init_distributed()
        self.device = pick_device(device, self.dist)
        self.progress = progress and self.dist.is_main
        seed_everything(self.config.seed)
        self.model = task.model.to(self.device)
        if self.config.compile:
            for module in task.compile_targets:
                module.compile(dynamic=False)
            if self.dist.is_main:
                log.info("train.compile: %d module(s) compiled with torch.compile (the first steps are slow)",
                         len(task.compile_targets))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate)
        self.amp_dtype = autocast_dtype(self.config.amp, self.device)
        self.amp_to_measure = self.config.amp == "auto" and native_bf16(self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self.finite_since_check = torch.ones((), dtype=torch.bool, device=self.device)
        self.checked_step = 0
        if init_from:
            self._init_weights(init_from)
        self.ema = ({name: p.detach().float().clone() for name, p in self.model.named_parameters()}
                    if self.config.ema_decay > 0 else None)
        if resume:
            self._resume(resume)
        self.wrapped = LossModule(self.model)
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # the models' buffers are constants (DFT bases, mel filters, noise levels): none to broadcast per step
            self.wrapped = torch.nn.parallel.DistributedDataParallel(self.wrapped, device_ids=ids,
                                                                     broadcast_buffers=False)
        if self.config.batch_size % self.dist.world_size:
            raise TrainingError(f"train.batch_size {self.config.batch_size} is the global batch and must divide "
                                f"among {self.dist.world_size} processes")
        try:
            self.sampler = SeededBatchSampler(len(task.dataset), self.config.batch_size // self.dist.world_size,
                                              self.config.seed, self.dist.rank, self.dist.world_size)
        except ValueError as err:
            raise TrainingError(f"{err} (train.batch_size)") from err
        self.loader = DataLoader(task.dataset, batch_sampler=self.sampler, collate_fn=task.collate,
                                 num_workers=self.config.num_workers,
                                 # its own generator: creating an iterator must not draw from the global
                                 # RNG, or a resumed run (which creates one more) would diverge
                                 generator=torch.Generator().manual_seed(self.config.seed),
                                 persistent_workers=self.config.num_workers > 0,
                                 pin_memory=self.device.type == "cuda")
        self.writer = None

    def _init_weights(self, path):
        data = read_file(path)
        state = data.get("model", data) if isinstance(data, dict) else data
        own = self.model.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        mismatched = shape_mismatches(state, own)
        missing = [k for k in own if k not in usable]
        self.model.load_state_dict(usable, strict=False)
        if self.dist.is_main:
            log.warning("init from %s: %d tensors loaded; %d mismatched shapes%s; %d not in the file",
                        path, len(usable), len(mismatched),
                        (" (" + "; ".join(mismatched[:10]) + ")") if mismatched else "", len(missing))
        self.init_report = {"loaded": len(usable), "mismatched": mismatched, "missing": missing}

    def _resume(self, path):
        ckpt = load_checkpoint(path, self.task.kind, map_location="cpu")
        own = self.model.state_dict()
        wrong = shape_mismatches(ckpt["model"], own)
        missing, unexpected = sorted(set(own) - set(ckpt["model"])), sorted(set(ckpt["model"]) - set(own))
        if wrong or missing or unexpected:
            raise CheckpointError(
                f"{path}: its weights do not fit the model this config builds ({len(wrong)} shapes differ"
                + (f", e.g. {wrong[0]}" if wrong else "") + f"; {len(missing)} missing, {len(unexpected)} unexpected"
                + "); resume with the run's own config (drop --config, or pass OUT/config.json), or start "
                  "anew with --init-from")
        self.model.load_state_dict(ckpt["model"])
        if ckpt.get("optimizer"):
            self.optimizer.load_state_dict(ckpt["optimizer"])
            saved_rate = self.optimizer.param_groups[0]["lr"]
            rate = self.config.learning_rate_at(int(ckpt["step"]))
            if self.dist.is_main and not math.isclose(saved_rate, rate, rel_tol=1e-9):
                log.info("learning rate %g from the config (the checkpoint's optimizer had %g)", rate, saved_rate)
            for group in self.optimizer.param_groups:
                group["lr"] = rate
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        if self.ema is not None:
            saved = ckpt.get("ema") or {}
            for name, p in self.model.named_parameters():  # a run that kept no average starts one here
                self.ema[name].copy_(saved.get(name, p.detach()))
        if ckpt.get("rng"):
            restore_rng(ckpt["rng"])
        self.step = int(ckpt["step"])
        if self.dist.is_main:
            log.info("resumed from %s at step %d", path, self.step)

    def checkpoint(self) -> dict:
        d = self.task.describe
        return make_checkpoint(self.task.kind, self.model.state_dict(), d["config"], d.get("mel"),
                               text=d.get("text"), speakers=d.get("speakers"), step=self.step,
                               optimizer=self.optimizer.state_dict(), scaler=self.scaler.state_dict(),
                               rng=capture_rng(), ema=self.ema_state(), inference=d.get("inference"),
                               statistics=d.get("statistics"))

    def ema_state(self) -> Optional[dict]:
        """The model's state with the averaged weights in place of the trained ones (None: no average)."""
        if self.ema is None:
            return None
        state = self.model.state_dict()
        return {**state, **{name: value.to(state[name].dtype) for name, value in self.ema.items()}}

    def save(self) -> Optional[Path]:
        if not bool(self.finite_since_check):
            when = (f"step {self.step}" if self.checked_step + 1 == self.step
                    else f"a step between {self.checked_step + 1} and {self.step}")
            raise TrainingError(f"{when}: the loss was not finite, "
                                f"so this state is not saved; the last good checkpoint is in {self.out_dir} "
                                "(use --resume, perhaps with a lower learning rate)")
        if not self.dist.is_main:
            return None
        return save_training_checkpoint(self.checkpoint(), self.out_dir, self.config.keep_last)

    def _open_writer(self):
        if self.writer is None and self.dist.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out_dir / "logs"))
        return self.writer

    def _clip(self) -> dict[str, torch.Tensor]:
        groups = self.task.clip_groups or {"all": list(self.model.parameters())}
        norms = {}
        for name, params in groups.items():
            limit = self.config.grad_clip if self.config.grad_clip > 0 else math.inf
            norms[name] = torch.nn.utils.clip_grad_norm_(params, limit).detach()
        return norms

    def train_step(self, batch: dict) -> dict[str, float]:
        """One optimizer step; its values as numbers (a non-finite loss raises before the update)."""
        return {k: float(v) for k, v in self._step(batch, check=True).items()}

    def _step(self, batch: dict, check: bool) -> dict[str, torch.Tensor]:
        """One optimizer step; its values stay tensors, so that a step need not wait for the device.
        With `check` the loss of this step and of every unchecked step since the last check must be
        finite (one host sync), else TrainingError before this step's update; without it, a flag on
        the device collects non-finite losses until the next check, which comes before any
        checkpoint is written, so no checkpoint ever holds what a non-finite loss did to the weights."""
        self.wrapped.train()
        batch = batch_to_device(batch, self.device)
        batch = {**batch, **self.task.batch_settings}
        if self.amp_to_measure:
            self.amp_dtype, self.amp_to_measure = self.measured_amp(batch), False
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate_at(self.step)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            outputs = self.wrapped(batch)
        loss = outputs["loss"].float()
        values = {k: v.detach() for k, v in outputs.items()}
        finite = torch.isfinite(loss.detach())
        if check:
            earlier, now = bool(self.finite_since_check), bool(finite)
            if not (earlier and now):
                detail = ", ".join(f"{k}={float(v)}" for k, v in values.items())
                when = (f"step {self.step + 1}" if earlier else
                        f"a step between {self.checked_step + 1} and {self.step + 1}")
                raise TrainingError(f"{when}: the loss is not finite ({detail}); the last good checkpoint is in "
                                    f"{self.out_dir} (use --resume, perhaps with a lower learning rate)")
            self.checked_step = self.step + 1
        else:
            self.finite_since_check = self.finite_since_check & finite
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        norms = self._clip()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            with torch.no_grad():
                for name, p in self.model.named_parameters():
                    self.ema[name].lerp_(p.detach().float(), 1.0 - self.config.ema_decay)
        self.step += 1
        values.update({f"grad_norm/{k}": v for k, v in norms.items()})
        return values

    def _log(self, values: dict, seconds: float):
        writer = self._open_writer()
        if writer is None:
            return
        for key, value in values.items():
            tag = key if "/" in key else f"train/{key}"
            writer.add_scalar(tag, value, self.step)
        writer.add_scalar("train/learning_rate", self.optimizer.param_groups[0]["lr"], self.step)
        writer.add_scalar("train/seconds_per_step", seconds, self.step)

    def measured_amp(self, batch: dict) -> Optional[torch.dtype]:
        """`train.amp = "auto"` where the CPU computes bf16 natively: the faster of fp32 and bf16 for a forward
        and backward pass of this model on this batch (timed once per model config, batch shape and CPU; see
        gradwave.common.autotune), bf16 only if every process chose it. The timing leaves no gradient and no trace in
        the random stream."""
        def run(dtype: Optional[torch.dtype]):
            def once():
                with torch.random.fork_rng(devices=[]):
                    with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                        loss = self.model.compute_loss(batch)["loss"].float()
                    loss.backward()
                self.optimizer.zero_grad(set_to_none=True)
            return once

        shapes = sorted((k, tuple(v.shape)) for k, v in batch.items() if isinstance(v, torch.Tensor))
        name = f"training precision of {self.task.kind} {digest([self.task.describe.get('config'), str(shapes)])}"
        bf16 = fastest(name, {"none": run(None), "bf16": run(torch.bfloat16)}) == "bf16"
        if self.dist.world_size > 1:
            flag = torch.tensor([float(bf16)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            bf16 = bool(flag.item())
        if self.dist.is_main:
            log.info("train.amp auto: %s (measured on this CPU)", "bf16" if bf16 else "fp32")
        return torch.bfloat16 if bf16 else None

    def _all_agree_out_of_time(self, mine: bool) -> bool:
        """Whether any process is past the time budget, decided together after every step: each
        process's own clock would stop one a step early while the others wait for it in the next
        gradient all-reduce."""
        if self.dist.world_size == 1:
            return mine
        flag = torch.tensor([float(mine)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _write_samples(self) -> None:
        """The task's samples, drawn from a forked RNG: writing them must not move the training's
        random stream, or a run resumed from a checkpoint taken at the same step would diverge."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type if devices else "cuda"):
            self.task.write_samples(self.model, self.writer, self.step)

    def train(self, max_steps: Optional[int] = None) -> dict:
        """Train until `max_steps` (default: the config's) or `train.max_minutes`; returns the last
        step's values. With a time budget the progress bar counts seconds against it."""
        target = max_steps or self.config.max_steps
        per_epoch = self.sampler.batches_per_epoch
        first_step = self.step
        began = time.monotonic()
        budget = self.config.max_minutes * 60 if self.config.max_minutes > 0 else math.inf
        values: dict = {}
        timed = math.isfinite(budget)
        out_of_time = False
        bar = progress_bar(total=round(budget) if timed else target, initial=0 if timed else self.step,
                   disable=not self.progress, desc=self.task.kind, dynamic_ncols=True,
                   unit="s" if timed else "step",
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]"
                   if timed else None)
        try:
            while self.step < target:
                self.sampler.set_position(self.step // per_epoch, self.step % per_epoch)
                ready = time.perf_counter()
                for batch in self.loader:
                    start = time.perf_counter()
                    logged = (self.step + 1) % self.config.log_every == 0 or self.step + 1 >= target
                    values = self._step(batch, check=logged)  # the device is waited for at log steps only
                    wait = start - ready
                    elapsed = time.monotonic() - began
                    bar.update(min(elapsed, budget) - bar.n if timed else 1)
                    if logged:
                        numbers = {**{k: float(v) for k, v in values.items()}, "data_wait_seconds": wait}
                        bar.set_postfix_str(f"step {self.step}, loss {numbers['loss']:.3f}")
                        self._log(numbers, time.perf_counter() - start)
                    if self.step % self.config.checkpoint_every == 0:
                        self.save()
                    if self.task.write_samples and self.step % self.config.sample_every == 0 and self._open_writer():
                        self._write_samples()
                    out_of_time = timed and self._all_agree_out_of_time(elapsed > budget)
                    if self.step >= target or out_of_time:
                        break
                    ready = time.perf_counter()
                if out_of_time:
                    log.info("stopping at step %d: train.max_minutes (%.1f) reached", self.step,
                             self.config.max_minutes)
                    break
            if self.step > first_step and self.step % self.config.checkpoint_every != 0:
                self.save()
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.flush()
        return {k: float(v) for k, v in values.items()}

    def close(self):
        if self.writer is not None:
            self.writer.close()
        if self.dist.world_size > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

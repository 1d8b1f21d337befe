"""Settings of the shared training loop; each model extends them with its own fields."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .config import ConfigError, drop_retired


@dataclass
class TrainConfig:
    batch_size: int = 16  # the global batch: split evenly among the processes of a torchrun run
    learning_rate: float = 1e-4
    max_steps: int = 1_000_000
    grad_clip: float = 0.0  # 0: no clipping
    amp: str = "none"  # "none", "bf16", "fp16" (with a gradient scaler), or "auto": bf16 where the CPU has it natively
    seed: int = 1234
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_last: int = 5
    sample_every: int = 1000  # TensorBoard mel images / audio of fixed validation items
    num_workers: int = 2
    max_minutes: float = 0.0  # stop (with a checkpoint) after this much training time; 0: no limit
    # torch.compile (inductor) of the model's diffusion network, for static shapes: training crops are fixed-size,
    # and inductor failed on this code with dynamic shapes ("cannot determine truth value of Relational")
    compile: bool = False
    # Learning rate over steps: "constant" (after an optional linear warmup) or "noam" (linear
    # warmup to `learning_rate`, then decay as 1/sqrt(step), as Glow-TTS and Transformers do).
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    # Exponential moving average of the weights, ema = d * ema + (1 - d) * weights after every step,
    # stored in checkpoints beside the training weights; the models' loaders use it when present. 0: off.
    ema_decay: float = 0.0

    @classmethod
    def upgrade(cls, data: dict, where: str) -> dict:
        """Configs of earlier versions: `lr_decay` (measured as noise) is gone; "none" was its off."""
        return drop_retired(data, where, {"lr_decay": ("none",)})

    def __post_init__(self):
        if self.lr_schedule not in ("constant", "noam"):
            raise ConfigError(f"train.lr_schedule: {self.lr_schedule!r} is not one of constant, noam")
        if self.lr_schedule == "noam" and self.warmup_steps <= 0:
            raise ConfigError("train.lr_schedule 'noam' needs train.warmup_steps > 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay: {self.ema_decay} is not in [0, 1)")

    def learning_rate_at(self, step: int) -> float:
        """The rate of optimizer step `step + 1`: a function of the step alone, so resume is exact."""
        n = step + 1
        if self.warmup_steps > 0 and n < self.warmup_steps:
            rate = self.learning_rate * n / self.warmup_steps
        elif self.lr_schedule == "noam":
            rate = self.learning_rate * math.sqrt(self.warmup_steps / n)
        else:
            rate = self.learning_rate
        return rate

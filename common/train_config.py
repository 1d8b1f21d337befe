"""Settings of the shared training loop; each model extends them with its own fields."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    batch_size: int = 16
    learning_rate: float = 1e-4
    max_steps: int = 1_000_000
    grad_clip: float = 0.0  # 0: no clipping
    amp: str = "none"  # "none", "bf16" or "fp16" (with a gradient scaler)
    seed: int = 1234
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_last: int = 5
    sample_every: int = 1000  # TensorBoard mel images / audio of fixed validation items
    num_workers: int = 2
    max_minutes: float = 0.0  # stop (with a checkpoint) after this much training time; 0: no limit

"""DiffWave configuration. Model field names are lmnt's `params`, so its published files map directly."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.mel import MelConfig
from common.train_config import TrainConfig


def linear_schedule(start: float = 1e-4, end: float = 0.05, steps: int = 50) -> list[float]:
    return np.linspace(start, end, steps).tolist()


@dataclass
class DiffWaveModelConfig:
    residual_layers: int = 30
    residual_channels: int = 64
    dilation_cycle_length: int = 10
    unconditional: bool = False
    n_mels: int = 80
    hop_samples: int = 256  # must equal the mel config's hop_length
    noise_schedule: list = field(default_factory=linear_schedule)
    inference_noise_schedule: list = field(default_factory=lambda: [1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5])
    audio_len: int = 22050 * 5  # length of unconditional clips


@dataclass
class DiffWaveTrainConfig(TrainConfig):
    batch_size: int = 16
    learning_rate: float = 2e-4
    crop_mel_frames: int = 62
    sample_every: int = 5000


@dataclass
class DiffWaveConfig:
    model: DiffWaveModelConfig = field(default_factory=DiffWaveModelConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    train: DiffWaveTrainConfig = field(default_factory=DiffWaveTrainConfig)

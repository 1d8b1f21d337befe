"""Build the model a config names."""
from __future__ import annotations

from typing import Optional

from gradwave.common.mel import MelConfig

from .base import DiffusionModel, check_config
from .config import DiffWaveModelConfig, TrainingStatistics
from .convnext import ConvNeXtVocoder
from .model import DiffWave
from .sashimi import Sashimi
from .wavenet import WaveNet

CLASSES = {"diffwave": DiffWave, "wavenet": WaveNet, "sashimi": Sashimi, "convnext": ConvNeXtVocoder}


def build_model(config: DiffWaveModelConfig, mel: Optional[MelConfig] = None,
                statistics: Optional[TrainingStatistics] = None) -> DiffusionModel:
    """`mel`: the features' mel config (needed by the bridge and by a banded prior); `statistics`: what
    training measured (see `TrainingStatistics`)."""
    check_config(config)
    return CLASSES[config.backbone](config, mel, statistics)

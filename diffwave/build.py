"""Build the backbone a config names."""
from __future__ import annotations

from .backbone import Backbone, check_config
from .config import DiffWaveModelConfig
from .model import DiffWave
from .sashimi import Sashimi
from .wavenet import WaveNet

CLASSES = {"diffwave": DiffWave, "wavenet": WaveNet, "sashimi": Sashimi}


def build_model(config: DiffWaveModelConfig) -> Backbone:
    check_config(config)
    return CLASSES[config.backbone](config)

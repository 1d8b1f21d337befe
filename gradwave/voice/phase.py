"""Griffin-Lim's initial phase as `gradwave.common.griffin_lim` draws it, computed without torch."""
from __future__ import annotations

import math

import numpy as np


def initial_phase(bins: int, frames: int, seed: int = 0):
    """The phase `griffin_lim` draws with torch.Generator().manual_seed(seed), computed without torch: torch's
    CPU generator is MT19937 and its float32 `rand` keeps the low 24 bits of each 32-bit draw."""
    raw = np.random.RandomState(seed).randint(0, 2 ** 32, size=bins * frames, dtype=np.uint64)
    uniform = ((raw & ((1 << 24) - 1)).astype(np.float64) * 2.0 ** -24).astype(np.float32)
    return (uniform.reshape(bins, frames) * np.float32(2)) * np.float32(math.pi)

"""Noise schedules: the training betas a config names, and the samplers' schedules over them (lmnt's
fast schedule aligned to fractional training steps, N evenly spaced steps, or every step)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch

from gradwave.common.sampling import generators_from_seeds, per_item_randint, per_item_randn

from .config import DiffWaveModelConfig

FAST_STEPS = 6  # steps of the fast sampler when a model has no inference schedule of its own


def betas(spec: Any) -> list[float]:
    """A config's schedule as betas: a list is itself, {"start", "end", "count"} a linear schedule."""
    if isinstance(spec, dict):
        if set(spec) != {"start", "end", "count"}:
            raise ValueError(f"a linear noise schedule has start, end and count, not {', '.join(sorted(spec))}")
        return np.linspace(spec["start"], spec["end"], spec["count"]).tolist()
    if isinstance(spec, (list, tuple)) and all(isinstance(b, (int, float)) for b in spec):
        return [float(b) for b in spec]
    raise ValueError(f"a noise schedule is a list of betas or {{start, end, count}}, not {spec!r}")


def training_betas(config: DiffWaveModelConfig) -> list[float]:
    return betas(config.noise_schedule)


def noise_levels(config: DiffWaveModelConfig, device: Optional[torch.device] = None) -> torch.Tensor:
    """alpha_bar of every training step."""
    return torch.cumprod(1 - torch.tensor(training_betas(config), dtype=torch.float64), 0).float().to(device)


@dataclass
class SamplingSchedule:
    beta: np.ndarray  # per sampling step
    alpha: np.ndarray
    alpha_cum: np.ndarray
    steps: np.ndarray  # training step (possibly fractional) that each sampling step conditions on

    def sigma(self, n: int) -> float:
        """Standard deviation of the noise added after sampling step n > 0."""
        return float(((1.0 - self.alpha_cum[n - 1]) / (1.0 - self.alpha_cum[n]) * self.beta[n]) ** 0.5)


def sampling_schedule(training: Sequence[float], inference: Optional[Sequence[float]] = None) -> SamplingSchedule:
    """With `inference` (a shorter beta schedule), each of its steps is mapped to the fractional
    training step with the same cumulative noise level; without it, the training steps themselves."""
    train_beta = np.asarray(training, dtype=np.float64)
    beta = train_beta if inference is None else np.asarray(inference, dtype=np.float64)
    train_cum = np.cumprod(1 - train_beta)
    alpha = 1 - beta
    alpha_cum = np.cumprod(alpha)
    if inference is None:
        steps = np.arange(len(beta), dtype=np.float64)
    else:
        steps = []
        for level in alpha_cum:
            if np.isclose(level, train_cum[-1], rtol=1e-9, atol=0):  # rounding of a reduced schedule's end
                level = train_cum[-1]
            for t in range(len(train_beta) - 1):
                if train_cum[t + 1] <= level <= train_cum[t]:
                    twiddle = (train_cum[t] ** 0.5 - level ** 0.5) / (train_cum[t] ** 0.5 - train_cum[t + 1] ** 0.5)
                    steps.append(t + twiddle)
                    break
            else:
                raise ValueError(f"inference noise level {level} lies outside the training schedule")
        steps = np.asarray(steps)
    return SamplingSchedule(beta, alpha, alpha_cum, steps)


def reduced_schedule(training: Sequence[float], n_steps: int) -> list[float]:
    """Betas of an `n_steps` sampler whose noise levels equal the training schedule's at `n_steps`
    evenly spaced training steps (the first and the last included)."""
    train_cum = np.cumprod(1 - np.asarray(training, dtype=np.float64))
    picks = np.unique(np.round(np.linspace(0, len(training) - 1, n_steps)).astype(int))
    levels = train_cum[picks]
    return (1 - levels / np.concatenate([[1.0], levels[:-1]])).tolist()


def schedule_for(config: DiffWaveModelConfig, fast: bool = True, steps: Optional[int] = None) -> SamplingSchedule:
    """The sampler's schedule: N evenly spaced training steps, the fast schedule (the config's
    inference schedule, or 6 evenly spaced steps when it has none), or every training step."""
    training = training_betas(config)
    if steps is not None:
        if not 1 <= steps <= len(training):
            raise ValueError(f"steps must be between 1 and {len(training)}")
        return sampling_schedule(training, reduced_schedule(training, steps))
    if fast:
        inference = config.inference_noise_schedule or reduced_schedule(training, FAST_STEPS)
        return sampling_schedule(training, inference)
    return sampling_schedule(training)


def training_draws(audio: torch.Tensor, seeds: Optional[torch.Tensor], count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random training step in [0, count) per item and white noise shaped like `audio` (B, samples),
    from the batch's per-item seeds when it has them (so an item's draws do not depend on its batch)."""
    if seeds is None:
        return torch.randint(0, count, (audio.shape[0],), device=audio.device), torch.randn_like(audio)
    generators = generators_from_seeds(seeds)
    step = per_item_randint(count, generators, audio.device)
    return step, per_item_randn(tuple(audio.shape[1:]), generators, audio)

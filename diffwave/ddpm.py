"""lmnt's DiffWave process (Kong et al., 2021): a DDPM whose network predicts the added noise, trained with
an L1 (lmnt) or squared (the SaShiMi+DiffWave code) error at a random step, sampled by ancestral steps from
noise. With PriorGrad the noise is the mel's prior (prior.py) and the error is whitened by it."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from gradwave.common.sampling import Draw, generator_draws

from .config import BridgeConfig, DiffWaveModelConfig
from .prior import NoisePrior
from .schedules import SamplingSchedule, schedule_for, training_draws


def check(c: DiffWaveModelConfig) -> None:
    if c.loss not in ("l1", "l2"):
        raise ValueError(f"loss must be 'l1' or 'l2', not {c.loss!r}")
    if c.bridge != BridgeConfig():
        raise ValueError("the bridge section belongs to process 'bridge'; process 'ddpm' takes its defaults")


def training_loss(model, batch: dict) -> dict:
    """The noise-prediction loss on one batch {"audio", "spectrogram" (conditional), "seeds" (optional)}."""
    audio, mel = batch["audio"], batch.get("spectrogram")
    step, white = training_draws(audio, batch.get("seeds"), len(model.alpha_bar))
    prior = model.noise_prior(mel)
    noise = prior.shape(white)
    scale = model.alpha_bar[step].unsqueeze(1)
    noisy = scale.sqrt() * audio + (1.0 - scale).sqrt() * noise
    predicted = model(noisy, step, mel).squeeze(1).float()
    if prior.std is not None:
        loss = prior.whiten(predicted - noise).pow(2).mean()
    elif model.config.loss == "l2":
        loss = F.mse_loss(predicted, noise.float())
    else:
        loss = F.l1_loss(predicted, noise.float())
    return {"loss": loss}


@torch.no_grad()
def reverse(model, conditioning, prior: NoisePrior, schedule: SamplingSchedule, shape: tuple, draw: Draw,
            autocast) -> torch.Tensor:
    """From prior-shaped noise of `shape` (B, samples) through every step of `schedule` (ancestral steps,
    lmnt's arithmetic), clamped to [-1, 1] after each; `draw()` gives each step's white noise."""
    device = model.alpha_bar.device
    audio = prior.shape(draw())
    for n in range(len(schedule.alpha) - 1, -1, -1):
        step = torch.full((shape[0],), float(schedule.steps[n]), device=device)
        c1 = 1 / schedule.alpha[n] ** 0.5
        c2 = schedule.beta[n] / (1 - schedule.alpha_cum[n]) ** 0.5
        with autocast:
            predicted = model.denoise(audio, step, conditioning).squeeze(1).float()
        audio = c1 * (audio - c2 * predicted)
        if n > 0:
            audio = audio + schedule.sigma(n) * prior.shape(draw())
        audio = audio.clamp(-1.0, 1.0)
    return audio


def sample(model, mel: Optional[torch.Tensor], shape: tuple, fast: bool, steps: Optional[int],
           generator: Optional[torch.Generator], hoist: bool, autocast) -> torch.Tensor:
    """Audio of `shape` (B, samples) for a mel (None: unconditional) in the fast, full or N-step schedule."""
    with autocast:
        conditioning = model.condition(mel, hoist=hoist)
    draw = generator_draws(shape, generator, model.alpha_bar.device)
    return reverse(model, conditioning, model.noise_prior(mel), schedule_for(model.config, fast, steps), shape,
                   draw, autocast)

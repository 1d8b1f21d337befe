"""A Brownian bridge from the mel's Griffin-Lim audio to the recording (I2SB, Liu et al., 2023):
x_t = (1 - t) x0 + t g + noise sqrt(t (1 - t)) eps, t in (0, 1], eps shaped by the prior when there
is one. The network sees x_t, the step and the guide g and predicts the clean signal x0; sampling starts
at the guide itself, which is what the network saw at t = 1 in training."""
from __future__ import annotations

from typing import Optional

import torch

from gradwave.common.sampling import Draw, generator_draws

from .config import DiffWaveModelConfig
from .guide import guide_audio
from .prior import NoisePrior
from .schedules import training_betas, training_draws
from .spectral_loss import mel_loss

GUIDED_BACKBONES = ("diffwave", "convnext")  # the networks that take the guide as an input


def check(c: DiffWaveModelConfig) -> None:
    b = c.bridge
    if b.guide_iterations <= 0 or b.sampling_guide_iterations < 0:
        raise ValueError("process 'bridge' starts at the guide: bridge.guide_iterations must count its "
                         "Griffin-Lim iterations (> 0), and bridge.sampling_guide_iterations be >= 0")
    if c.backbone not in GUIDED_BACKBONES or c.unconditional:
        raise ValueError(f"process 'bridge' is an option of the conditional {' and '.join(GUIDED_BACKBONES)} "
                         "backbones")
    steps = len(training_betas(c))
    if b.noise < 0 or not 1 <= b.steps <= steps:
        raise ValueError(f"bridge.noise ({b.noise}) must be >= 0 and bridge.steps ({b.steps}) "
                         f"between 1 and the {steps} training steps")
    if b.mel_loss_weight < 0 or b.clean_loss_weight < 0 or (b.clean_loss_weight == 0 and b.mel_loss_weight == 0):
        raise ValueError(f"bridge.clean_loss_weight ({b.clean_loss_weight}) and bridge.mel_loss_weight "
                         f"({b.mel_loss_weight}) must be >= 0 and not both 0")


def sampling_iterations(c: DiffWaveModelConfig) -> int:
    """The Griffin-Lim iterations of the guide the sampler starts from."""
    return c.bridge.sampling_guide_iterations or c.bridge.guide_iterations


def guide_waveform(model, mel: torch.Tensor, iterations: Optional[int] = None) -> torch.Tensor:
    """The guide audio (B, samples) of a mel (B, n_mels, frames): the sampler's, or of `iterations`."""
    return guide_audio(mel, model.guide_griffin_lim, iterations)


def bridge_time(step: torch.Tensor, steps: int) -> torch.Tensor:
    """The bridge's time t in (0, 1] of training step indices 0 .. steps - 1 (the last one: the guide)."""
    return (step.float() + 1) / steps


def bridge_point(clean: torch.Tensor, guide: torch.Tensor, time: torch.Tensor, noise: torch.Tensor,
                 noise_scale: float) -> torch.Tensor:
    """x_t with `time` per item (B, 1): clean audio at t = 0, the guide at t = 1, both ends noise-free."""
    return (1 - time) * clean + time * guide + noise_scale * (time * (1 - time)).sqrt() * noise


def training_loss(model, batch: dict) -> dict:
    """On one batch {"audio", "spectrogram", "guide" (optional: computed when absent), "seeds" (optional)}:
    the squared error of the clean estimate (whitened by the prior when there is one) times
    `bridge.clean_loss_weight`, plus `bridge.mel_loss_weight` times the log-mel L1 term."""
    c = model.config
    audio, mel = batch["audio"], batch["spectrogram"]
    guide = batch.get("guide")
    if guide is None:
        guide = guide_waveform(model, mel, c.bridge.guide_iterations)
    step, white = training_draws(audio, batch.get("seeds"), len(model.alpha_bar))
    prior = model.noise_prior(mel)
    time = bridge_time(step, len(model.alpha_bar)).unsqueeze(1)
    noisy = bridge_point(audio, guide, time, prior.shape(white), c.bridge.noise)
    predicted = model(noisy, step, mel, guide=guide).squeeze(1).float()
    loss = prior.whiten(predicted - audio).pow(2).mean()
    if c.bridge.mel_loss_weight <= 0:
        return {"loss": c.bridge.clean_loss_weight * loss}
    spectral = mel_loss(model.loss_extractors, predicted, audio).mean()
    total = c.bridge.clean_loss_weight * loss + c.bridge.mel_loss_weight * spectral
    return {"loss": total, "clean_loss": loss, "mel_loss": spectral}


def step_count(config: DiffWaveModelConfig, fast: bool = True, steps: Optional[int] = None) -> int:
    """The sampler's steps: `steps`, the config's `bridge.steps` (fast) or one per training step."""
    total = len(training_betas(config))
    count = steps if steps is not None else config.bridge.steps if fast else total
    if not 1 <= count <= total:
        raise ValueError(f"steps must be between 1 and {total}")
    return count


@torch.no_grad()
def reverse(model, conditioning, prior: NoisePrior, guide: torch.Tensor, steps: int, draw: Draw,
            autocast) -> torch.Tensor:
    """From the guide (B, samples) at t = 1 to t = 0 in `steps` equal steps: at each, the network's clean
    estimate x0_hat and the bridge's posterior between it and the current point,
    x_s = (1 - s/t) x0_hat + (s/t) x_t + noise sqrt(s (t - s) / t) eps (prior-shaped; `draw()` gives
    the white noise), clamped to [-1, 1]; the last step returns x0_hat itself."""
    device = model.alpha_bar.device
    total = len(model.alpha_bar)
    audio = guide.to(device).float()
    for n in range(steps, 0, -1):
        t, s = n / steps, (n - 1) / steps
        step = torch.full((audio.shape[0],), t * total - 1, device=device)
        with autocast:
            clean = model.denoise(audio, step, conditioning).squeeze(1).float()
        if n == 1:
            audio = clean
        else:
            spread = model.config.bridge.noise * (s * (t - s) / t) ** 0.5
            audio = (1 - s / t) * clean + s / t * audio + spread * prior.shape(draw())
        audio = audio.clamp(-1.0, 1.0)
    return audio


def sample(model, mel: torch.Tensor, shape: tuple, fast: bool, steps: Optional[int],
           generator: Optional[torch.Generator], hoist: bool, autocast) -> torch.Tensor:
    """Audio (B, samples) for a mel, from its guide, in the fast (`bridge.steps`), full or N-step sampler."""
    guide = guide_waveform(model, mel)
    with autocast:
        conditioning = model.condition(mel, hoist=hoist, guide=guide)
    draw = generator_draws(shape, generator, model.alpha_bar.device)
    return reverse(model, conditioning, model.noise_prior(mel), guide, step_count(model.config, fast, steps), draw,
                   autocast)

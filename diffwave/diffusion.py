"""DiffWave's diffusion arithmetic in one place: the training schedule, the sampling schedules,
PriorGrad's data-dependent noise scale, the clean-signal estimate and its spectral loss."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from common.sampling import generators_from_seeds, per_item_randint, per_item_randn, to_device

from .config import DiffWaveModelConfig

FAST_STEPS = 6  # steps of the fast sampler when a model has no inference schedule of its own
RESCALE_TAU = 1e-4
STFT_SIZES = (512, 1024, 2048)


def rescale_to_noise(betas: Sequence[float], tau: float = RESCALE_TAU) -> list[float]:
    """FreGrad's rescaling: sqrt(abar) is shifted and stretched so that its last value is about
    `tau` times its first, keeping the first step's noise level (x_T is then almost pure noise)."""
    root = np.sqrt(np.cumprod(1 - np.asarray(betas, dtype=np.float64)))
    rescaled = root[0] * (root - root[-1] + tau) / (root[0] - root[-1] + tau)
    levels = rescaled ** 2
    return (1 - levels / np.concatenate([[1.0], levels[:-1]])).tolist()


def training_betas(config: DiffWaveModelConfig) -> list[float]:
    return rescale_to_noise(config.noise_schedule) if config.schedule_to_noise else list(config.noise_schedule)


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


def prior_std(mel: torch.Tensor, config: DiffWaveModelConfig) -> torch.Tensor:
    """PriorGrad's noise scale per sample (B, frames * hop) from a natural-log mel (B, n_mels, frames):
    frame energy sqrt(sum exp(mel)), clamped to the energy range and mapped to [prior_std_min, 1]."""
    energy = mel.float().exp().sum(1).sqrt().clamp(max=config.prior_energy_max)
    span = config.prior_energy_max - config.prior_energy_min
    std = ((energy - config.prior_energy_min) / span).clamp(min=config.prior_std_min)
    return std.repeat_interleave(config.hop_samples, dim=-1)


def band_basis(bands: int) -> torch.Tensor:
    """Orthonormal DCT-II basis (bands x bands), one band per row; for 2 bands, the Haar wavelet."""
    n = torch.arange(bands, dtype=torch.float64)
    basis = torch.cos(math.pi / bands * (n[None, :] + 0.5) * n[:, None]) * math.sqrt(2 / bands)
    basis[0] /= math.sqrt(2)
    return basis.float()


def to_bands(audio: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(B, samples) -> (B, bands, samples / bands): the block DCT of every `bands` samples."""
    return (audio.reshape(audio.shape[0], -1, basis.shape[0]) @ basis.T).transpose(1, 2)


def from_bands(bands: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(B, bands, samples / bands) -> (B, samples), the inverse of `to_bands`."""
    return (bands.transpose(1, 2) @ basis).reshape(bands.shape[0], -1)


def mel_band_map(mel_frequencies: Sequence[float], sample_rate: int, bands: int) -> list[int]:
    """The block-DCT band (centred at k * sample_rate / (2 * bands)) nearest to each mel bin's centre."""
    width = sample_rate / 2 / bands
    return [min(bands - 1, int(round(f / width))) for f in mel_frequencies]


class NoisePrior:
    """The diffusion's noise N(0, Sigma) for one batch of mels: white (lmnt), scaled per frame by the
    mel energy (PriorGrad), or per frame and band (`prior_bands`). Training draws `shape(white)` and
    weighs errors by `whiten`; sampling starts from and adds `shape(white)`."""

    def __init__(self, config: DiffWaveModelConfig, mel: Optional[torch.Tensor]):
        self.basis = None
        self.std = None
        if not config.prior_grad:
            return
        if config.prior_bands > 0:
            self.basis = band_basis(config.prior_bands).to(mel.device)
            self.std = band_std(mel, config)
        else:
            self.std = prior_std(mel, config)

    def shape(self, white: torch.Tensor) -> torch.Tensor:
        if self.std is None:
            return white
        if self.basis is None:
            return white * self.std
        return from_bands(to_bands(white, self.basis) * self.std, self.basis)

    def whiten(self, residual: torch.Tensor) -> torch.Tensor:
        if self.std is None:
            return residual
        if self.basis is None:
            return residual / self.std
        return to_bands(residual, self.basis) / self.std

    def to_white(self, audio: torch.Tensor) -> torch.Tensor:
        """Sigma^-1/2 audio as audio (B, samples): the inverse of `shape` (the band transform is orthogonal)."""
        if self.basis is None:
            return self.whiten(audio)
        return from_bands(self.whiten(audio), self.basis)


def band_std(mel: torch.Tensor, config: DiffWaveModelConfig) -> torch.Tensor:
    """The prior's scale per band and frame, (B, prior_bands, frames * hop / prior_bands). PriorGrad's
    ("energy"): the energy of the mel bins in each band, mapped to [prior_std_min, 1] as `prior_std`
    maps frame energies. "amplitude": the band's mel amplitude times its gain and the headroom."""
    if len(config.prior_mel_band) != mel.shape[1]:
        raise ValueError(f"prior_mel_band has {len(config.prior_mel_band)} entries for {mel.shape[1]} mel bins "
                         "(training sets it from the mel config)")
    per_frame = config.hop_samples // config.prior_bands
    if config.prior_scale == "amplitude":
        if len(config.prior_band_gain) != config.prior_bands:
            raise ValueError(f"prior_band_gain has {len(config.prior_band_gain)} entries for {config.prior_bands} "
                             "bands (training sets it)")
        gain = torch.tensor(config.prior_band_gain, device=mel.device).unsqueeze(-1)
        std = (gain * config.prior_headroom * band_amplitude(mel, config)).clamp(config.prior_std_min, 1.0)
        return std.repeat_interleave(per_frame, dim=-1)
    index = torch.tensor(config.prior_mel_band, device=mel.device)
    magnitude = mel.float().exp()
    energy = torch.zeros(mel.shape[0], config.prior_bands, mel.shape[2], device=mel.device)
    energy = energy.index_add(1, index, magnitude).sqrt().clamp(max=config.prior_energy_max)
    span = config.prior_energy_max - config.prior_energy_min
    std = ((energy - config.prior_energy_min) / span).clamp(min=config.prior_std_min)
    return std.repeat_interleave(per_frame, dim=-1)


def source_bands(mel_band: Sequence[int], bands: int) -> list[int]:
    """For each band, the band whose mel bins give its amplitude: its own, or for a band that no mel
    bin falls in (above the mel's f_max, or narrower than the bins), the nearest one that has bins
    (the lower one on a tie)."""
    filled = sorted(set(mel_band))
    return [min(filled, key=lambda f: (abs(f - b), f)) for b in range(bands)]


def band_amplitude(mel: torch.Tensor, config: DiffWaveModelConfig) -> torch.Tensor:
    """Root mean square of the linear mel magnitudes (the mel is natural-log) of each band's bins,
    (B, prior_bands, frames)."""
    index = torch.tensor(config.prior_mel_band, device=mel.device)
    power = torch.zeros(mel.shape[0], config.prior_bands, mel.shape[2], device=mel.device)
    power = power.index_add(1, index, (2 * mel.float()).exp())
    counts = torch.bincount(index, minlength=config.prior_bands).clamp(min=1).unsqueeze(-1)
    source = torch.tensor(source_bands(config.prior_mel_band, config.prior_bands), device=mel.device)
    return (power / counts).sqrt()[:, source]


def band_gains(mels: list[torch.Tensor], audios: list[torch.Tensor], config: DiffWaveModelConfig,
               floor: float = 1e-4) -> list[float]:
    """Per band, exp(mean log(waveform level / mel amplitude)) over the frames where the band's mel
    amplitude is above `floor` (silence carries no level): the waveform level is the root mean square of
    the band's block-DCT coefficients within the frame. 1 for a band with no such frame."""
    basis = band_basis(config.prior_bands)
    per_frame = config.hop_samples // config.prior_bands
    sums = torch.zeros(config.prior_bands, dtype=torch.float64)
    counts = torch.zeros(config.prior_bands, dtype=torch.float64)
    for mel, audio in zip(mels, audios):
        frames = min(mel.shape[-1], audio.shape[-1] // config.hop_samples)
        amplitude = band_amplitude(mel[None, :, :frames], config)[0]
        coefficients = to_bands(audio[None, :frames * config.hop_samples].float(), basis)[0]
        level = coefficients.reshape(config.prior_bands, frames, per_frame).pow(2).mean(-1).sqrt()
        usable = (amplitude > floor) & (level > 0)
        ratio = torch.where(usable, (level.clamp_min(1e-12) / amplitude).log(), torch.zeros_like(level))
        sums += ratio.sum(-1).double()
        counts += usable.sum(-1).double()
    return torch.where(counts > 0, (sums / counts.clamp(min=1)).exp(), torch.ones_like(sums)).tolist()


def frame_energy_range(mels: list[torch.Tensor]) -> tuple[float, float]:
    """Smallest and largest frame energy over a list of natural-log mels (n_mels, frames)."""
    energies = torch.cat([m.float().exp().sum(0).sqrt() for m in mels])
    return float(energies.min()), float(energies.max())


def clean_estimate(noisy: torch.Tensor, predicted_noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar), with `alpha_bar` per item (B, 1)."""
    return (noisy - (1 - alpha_bar).sqrt() * predicted_noise) / alpha_bar.sqrt()


def noise_from_clean(noisy: torch.Tensor, clean: torch.Tensor, alpha_bar) -> torch.Tensor:
    """The noise that `clean` implies: eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar), the inverse of
    `clean_estimate`, so a clean-predicting model drives the same samplers."""
    return (noisy - alpha_bar ** 0.5 * clean) / (1 - alpha_bar) ** 0.5


def stft_loss(estimate: torch.Tensor, target: torch.Tensor, sizes: Sequence[int] = STFT_SIZES) -> torch.Tensor:
    """Multi-resolution STFT loss per item (B,): spectral convergence + mean |log magnitude difference|,
    averaged over the FFT sizes (hop = size / 4, Hann window) that fit in the signal. Zero when
    `estimate` equals `target`."""
    fitting = [size for size in sizes if size < target.shape[-1]]
    if not fitting:
        raise ValueError(f"{target.shape[-1]} samples are too few for an STFT loss with FFT sizes {tuple(sizes)}")
    total = torch.zeros(target.shape[0], device=target.device)
    for size in fitting:
        window = torch.hann_window(size, device=target.device)

        def magnitude(x):
            spec = torch.stft(x.float(), size, size // 4, window=window, return_complex=True)
            return spec.abs().clamp_min(1e-7)

        real, fake = magnitude(target), magnitude(estimate)
        convergence = (real - fake).flatten(1).norm(dim=1) / real.flatten(1).norm(dim=1).clamp_min(1e-7)
        log_distance = (real.log() - fake.log()).abs().flatten(1).mean(1)
        total = total + convergence + log_distance
    return total / len(fitting)


def network_output(backbone, noisy: torch.Tensor, step: torch.Tensor, mel: Optional[torch.Tensor],
                   guide: Optional[torch.Tensor]) -> torch.Tensor:
    """The network's prediction (B, samples) in fp32, through lmnt's forward signature; a guide
    (`griffin_lim_guide` training crops) goes by keyword."""
    out = backbone(noisy, step, mel) if guide is None else backbone(noisy, step, mel, guide=guide)
    return out.squeeze(1).float()


def training_loss(backbone, batch: dict) -> dict:
    """The diffusion loss of any backbone (see backbone.py) on one batch: lmnt's L1 (or with `loss="l2"`
    the squared error of the SaShiMi+DiffWave code) between the added noise and the prediction, at a
    random training step per item. With `prior_grad`, the noise is scaled by the mel's energy (per
    frame, or per frame and band) and the loss is PriorGrad's squared error weighted by the inverse
    scale. `stft_loss_weight` adds a multi-resolution STFT loss on the clean-signal estimate, weighted
    per item by its alpha_bar (near-noise steps, where the estimate is mostly amplified noise, count
    little), and `mel_loss_weight` a log-mel L1 loss weighted the same way. With `predict="clean"` the
    terms are on the network's clean signal instead, unweighted: the squared error (whitened by the
    prior when there is one, times `clean_loss_weight`) and the spectral terms. With `process="bridge"`
    the network's input is a point of the bridge from the recording to its guide (`bridge_point`)."""
    c = backbone.config
    audio, mel = batch["audio"], batch.get("spectrogram")
    levels = backbone.alpha_bar
    seeds = batch.get("seeds")
    if seeds is None:
        step = torch.randint(0, len(levels), (audio.shape[0],), device=audio.device)
        noise = torch.randn_like(audio)
    else:
        generators = generators_from_seeds(seeds)
        step = per_item_randint(len(levels), generators, audio.device)
        noise = per_item_randn(tuple(audio.shape[1:]), generators, audio)
    prior = NoisePrior(c, mel)
    scale = levels[step].unsqueeze(1)
    guide = batch.get("guide")
    if c.process == "bridge" and guide is None:
        guide = backbone.guide_waveform(mel)
    if c.whitened:  # the same process in whitened coordinates: white noise, the signal divided by the prior
        noisy = scale.sqrt() * prior.to_white(audio) + (1.0 - scale).sqrt() * noise
        predicted = network_output(backbone, noisy, step, mel, guide)
        error = predicted - noise.float()
        return {"loss": error.pow(2).mean() if c.loss == "l2" else error.abs().mean()}
    noise = prior.shape(noise)
    if c.process == "bridge":
        noisy = bridge_point(audio, guide, bridge_time(step, len(levels)).unsqueeze(1), noise, c.bridge_noise)
    else:
        noisy = scale.sqrt() * audio + (1.0 - scale).sqrt() * noise
    predicted = network_output(backbone, noisy, step, mel, guide)
    if c.predict == "clean":
        loss = prior.whiten(predicted - audio).pow(2).mean()
        return with_spectral_terms(backbone, loss, "clean_loss", predicted, audio, loss_weight=c.clean_loss_weight)
    if prior.std is not None:
        loss = prior.whiten(predicted - noise).pow(2).mean()
    elif c.loss == "l2":
        loss = F.mse_loss(predicted, noise.float())
    else:
        loss = F.l1_loss(predicted, noise.float())
    return with_spectral_terms(backbone, loss, "noise_loss", clean_estimate(noisy.float(), predicted, scale), audio,
                               scale.squeeze(1))


def mel_loss(extractors, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |log-mel difference| per item (B,), averaged over the mel definitions of `extractors` (a log
    floor keeps silent bins, and f_max the band the mel does not describe, from counting)."""
    total = 0
    for extractor in extractors:
        difference = extractor.differentiable(estimate.float()) - extractor(target.float())
        total = total + difference.abs().flatten(1).mean(1)
    return total / len(extractors)


def with_spectral_terms(backbone, loss: torch.Tensor, name: str, estimate: torch.Tensor, target: torch.Tensor,
                        weight: Optional[torch.Tensor] = None, loss_weight: float = 1.0) -> dict:
    """The loss dict: the diffusion `loss` (logged as `name`) times `loss_weight`, plus the weighted STFT
    and mel terms the config asks for, on the clean-signal estimate, each item's term times its `weight`
    when given."""
    c = backbone.config
    terms = {}
    if c.stft_loss_weight > 0:
        terms["stft_loss"] = (c.stft_loss_weight, stft_loss(estimate, target))
    if c.mel_loss_weight > 0:
        terms["mel_loss"] = (c.mel_loss_weight, mel_loss(backbone.mel_loss_extractors(), estimate, target))
    if not terms:
        return {"loss": loss_weight * loss}
    out = {name: loss}
    total = loss_weight * loss
    for key, (factor, per_item) in terms.items():
        out[key] = (per_item if weight is None else per_item * weight).mean()
        total = total + factor * out[key]
    return {"loss": total, **out}


def bridge_time(step: torch.Tensor, steps: int) -> torch.Tensor:
    """The bridge's time t in (0, 1] of training step indices 0 .. steps - 1 (the last one: the guide)."""
    return (step.float() + 1) / steps


def bridge_point(clean: torch.Tensor, guide: torch.Tensor, time: torch.Tensor, noise: torch.Tensor,
                 noise_scale: float) -> torch.Tensor:
    """x_t = (1 - t) x0 + t g + noise_scale sqrt(t (1 - t)) noise, with `time` per item (B, 1): a
    Brownian bridge from the clean audio (t = 0) to the guide (t = 1), both ends noise-free."""
    return (1 - time) * clean + time * guide + noise_scale * (time * (1 - time)).sqrt() * noise


def bridge_step_count(config: DiffWaveModelConfig, fast: bool = True, steps: Optional[int] = None) -> int:
    """A bridge sampler's steps: `steps`, the config's `bridge_steps` (fast) or one per training step."""
    total = len(config.noise_schedule)
    count = steps if steps is not None else config.bridge_steps if fast else total
    if not 1 <= count <= total:
        raise ValueError(f"steps must be between 1 and {total}")
    return count


@torch.no_grad()
def bridge_reverse(backbone, conditioning, prior: NoisePrior, guide: torch.Tensor, steps: int,
                   generator: Optional[torch.Generator], autocast) -> torch.Tensor:
    """The bridge's sampler, from the guide (B, samples) at t = 1 to t = 0 in `steps` equal steps: at each,
    the network's clean estimate x0_hat and the bridge's posterior between it and the current point,
    x_s = (1 - s/t) x0_hat + (s/t) x_t + noise_scale sqrt(s (t - s) / t) eps (prior-shaped, drawn on the
    CPU from `generator`), clamped to [-1, 1]; the last step returns x0_hat itself."""
    device = backbone.alpha_bar.device
    total = len(backbone.alpha_bar)
    audio = guide.to(device).float()
    for n in range(steps, 0, -1):
        t, s = n / steps, (n - 1) / steps
        step = torch.full((audio.shape[0],), t * total - 1, device=device)
        with autocast:
            clean = backbone.denoise(audio, step, conditioning).squeeze(1).float()
        if n == 1:
            audio = clean
        else:
            noise = prior.shape(to_device(torch.randn(audio.shape, generator=generator), device))
            spread = backbone.config.bridge_noise * (s * (t - s) / t) ** 0.5
            audio = (1 - s / t) * clean + s / t * audio + spread * noise
        audio = audio.clamp(-1.0, 1.0)
    return audio


@torch.no_grad()
def reverse(backbone, conditioning, prior: NoisePrior, schedule: SamplingSchedule, shape: tuple,
            generator: Optional[torch.Generator], autocast, initial: Optional[torch.Tensor] = None,
            start: Optional[int] = None) -> torch.Tensor:
    """The reverse process of any backbone: from (prior-shaped) noise of `shape` (B, samples) through
    every step of `schedule` (DDPM ancestral steps, lmnt's arithmetic), clamped to [-1, 1] after each.
    With `initial` audio and a `start` step, from that audio noised to the start step's level instead
    (DiffSinger's shallow diffusion, SDEdit): only the steps from `start` down run.
    Noise is drawn on the CPU from `generator`, so a seed gives the same audio on every device; it
    reaches a GPU without blocking (`to_device`)."""
    device = backbone.alpha_bar.device
    whitened = backbone.config.whitened  # then every step is in the prior's whitened coordinates
    color = (lambda x: x) if whitened else prior.shape
    audio = color(to_device(torch.randn(shape, generator=generator), device))
    first = len(schedule.alpha) - 1
    if initial is not None:
        if start is None or not 0 <= start <= first:
            raise ValueError(f"a start step between 0 and {first} is needed with initial audio")
        first, level = start, float(schedule.alpha_cum[start])
        initial = initial.to(device).float()
        audio = level ** 0.5 * (prior.to_white(initial) if whitened else initial) + (1 - level) ** 0.5 * audio
    for n in range(first, -1, -1):
        step = torch.full((shape[0],), float(schedule.steps[n]), device=device)
        c1 = 1 / schedule.alpha[n] ** 0.5
        c2 = schedule.beta[n] / (1 - schedule.alpha_cum[n]) ** 0.5
        with autocast:
            predicted = backbone.denoise(audio, step, conditioning).squeeze(1).float()
        if backbone.config.predict == "clean":
            predicted = noise_from_clean(audio, predicted, float(schedule.alpha_cum[n]))
        audio = c1 * (audio - c2 * predicted)
        if n > 0:
            noise = to_device(torch.randn(shape, generator=generator), device)
            audio = audio + schedule.sigma(n) * color(noise)
        if not whitened:
            audio = audio.clamp(-1.0, 1.0)
    return prior.shape(audio).clamp(-1.0, 1.0) if whitened else audio

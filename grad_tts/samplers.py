"""Reverse-time solvers of the Grad-TTS diffusion, written on y = x - mu.

Grad-TTS noises a mel x towards N(mu, I) with dx = 1/2 beta_t (mu - x) dt + sqrt(beta_t) dW, beta_t
linear in t. On y = x - mu this is a variance-preserving process: y_t = a_t y_0 + sigma_t eps with
a_t = exp(-B(t) / 2), sigma_t^2 = 1 - a_t^2 and B(t) the integral of beta. The network estimates
the score of x_t, -eps / sigma_t, and every solver here only needs that score.

- `euler`: upstream's first-order steps (probability-flow ODE, or the reverse SDE when stochastic).
- `ml`: the maximum-likelihood SDE solver of Popov et al. (ICLR 2022, "Diffusion-Based Voice
  Conversion with Fast Maximum Likelihood Sampling Scheme"): each step samples the Gaussian
  q(y_s | y_t, y_0) at the denoised estimate of y_0, which makes few steps far better than Euler's.
- `dpm`: DPM-Solver++(2M) (Lu et al., 2022) on the probability-flow ODE: second order from one
  network call per step (first order on the first), steps uniform in lambda = log(a_t / sigma_t).

The solvers use only arithmetic and `.clip`, so they run on torch tensors and on numpy arrays alike
(the ONNX runtime uses them without torch); the noise of the stochastic ones comes from the caller.

`ml` and `dpm` move towards the denoised estimate y_0 = (y_t + sigma_t^2 score) / a_t, which divides
the score's error by a_t (0.0067 at t=1): a score that is poor at high noise (an undertrained model)
throws the estimate far outside any mel, and the network, fed those values, overflows to NaN. So the
estimate is held within `denoised_range` (the features' physical range, MelSpectrogram.value_range)
widened by DENOISED_SLACK times its width on each side: a guard against runaway only. Measured on the
undertrained demo decoder, clamping to the physical range itself bent converging trajectories (25 dpm
steps ended 1.5 log units from the 300-step Euler solution instead of 0.07), while the widened range
leaves them alone (0.02) and still keeps 2-6 steps finite.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

SAMPLERS = ("euler", "ml", "dpm")
DPM_T_END = 1e-3
DENOISED_SLACK = 2.0

Array = Any  # a torch tensor or a numpy array
Score = Callable[[Array, float], Array]  # (x_t, t) -> score of x_t
NoiseFn = Callable[[Array], Array]  # like -> standard normal noise of its shape
Range = Optional[tuple[float, float]]


class Schedule:
    """beta_t = beta_min + (beta_max - beta_min) t and what follows from it."""

    def __init__(self, beta_min: float, beta_max: float):
        self.beta_min, self.beta_max = beta_min, beta_max

    def beta(self, t: float) -> float:
        return self.beta_min + (self.beta_max - self.beta_min) * t

    def integral(self, t: float) -> float:
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t ** 2

    def alpha(self, t: float) -> float:
        return math.exp(-0.5 * self.integral(t))

    def sigma(self, t: float) -> float:
        return math.sqrt(-math.expm1(-self.integral(t)))

    def log_snr(self, t: float) -> float:
        """lambda_t = log(a_t / sigma_t)."""
        return math.log(self.alpha(t)) - math.log(self.sigma(t))

    def time_at(self, log_snr: float) -> float:
        """The t whose lambda_t is `log_snr`: B(t) = log(1 + exp(-2 lambda)), solved for t."""
        integral = math.log1p(math.exp(-2 * log_snr))
        slope = self.beta_max - self.beta_min
        return (math.sqrt(self.beta_min ** 2 + 2 * slope * integral) - self.beta_min) / slope


def euler(x: Array, mu: Array, mask: Array, score: Score, schedule: Schedule, n_steps: int,
          stochastic: bool = False, noise: Optional[NoiseFn] = None) -> Array:
    """Upstream's solver: n_steps Euler steps from t=1 to 0, the score taken at each step's midpoint."""
    h = 1.0 / n_steps
    x = x * mask
    for i in range(n_steps):
        t = 1.0 - (i + 0.5) * h
        beta_t = schedule.beta(t)
        if stochastic:
            dx = (0.5 * (mu - x) - score(x, t)) * beta_t * h + noise(x) * math.sqrt(beta_t * h)
        else:
            dx = 0.5 * (mu - x - score(x, t)) * beta_t * h
        x = (x - dx) * mask
    return x


def denoised_estimate(y: Array, score_y: Array, t: float, schedule: Schedule, mu: Array,
                      denoised_range: Range = None) -> Array:
    """E[y_0 | y_t] = (y_t + sigma_t^2 score) / a_t, with y_0 + mu held within `denoised_range`
    widened by DENOISED_SLACK times its width on each side."""
    denoised = (y + schedule.sigma(t) ** 2 * score_y) / schedule.alpha(t)
    if denoised_range is None:
        return denoised
    low, high = denoised_range
    slack = DENOISED_SLACK * (high - low)
    return (denoised + mu).clip(low - slack, high + slack) - mu


def ml_step(y: Array, denoised: Array, s: float, t: float, schedule: Schedule
            ) -> tuple[Array, float]:
    """Mean and standard deviation of the maximum-likelihood step from time t to s < t:
    q(y_s | y_t, y_0) at y_0 = `denoised`, the denoised estimate."""
    a_s, a_t = schedule.alpha(s), schedule.alpha(t)
    var_s, var_t = 1 - a_s ** 2, 1 - a_t ** 2
    a_st = a_t / a_s
    mean = (a_s * (1 - a_st ** 2) / var_t) * denoised + (a_st * var_s / var_t) * y
    return mean, math.sqrt(var_s * (1 - a_st ** 2) / var_t)


def maximum_likelihood(x: Array, mu: Array, mask: Array, score: Score, schedule: Schedule,
                       n_steps: int, noise: NoiseFn, denoised_range: Range = None) -> Array:
    times = [1.0 - i / n_steps for i in range(n_steps + 1)]
    y = (x - mu) * mask
    for t, s in zip(times[:-1], times[1:]):
        denoised = denoised_estimate(y, score(y + mu, t), t, schedule, mu, denoised_range)
        mean, std = ml_step(y, denoised, s, t, schedule)
        y = (mean + std * noise(y)) * mask if s > 0 else mean * mask
    return (y + mu) * mask


def dpm_solver(x: Array, mu: Array, mask: Array, score: Score, schedule: Schedule,
               n_steps: int, t_end: float = DPM_T_END, denoised_range: Range = None) -> Array:
    """DPM-Solver++(2M) on the probability-flow ODE from t=1 to `t_end` (where sigma_t < 0.01), in
    steps uniform in lambda; second order but for the first step, one network call per step."""
    start, end = schedule.log_snr(1.0), schedule.log_snr(t_end)
    times = [1.0] + [schedule.time_at(start + (end - start) * i / n_steps) for i in range(1, n_steps)] + [t_end]
    y = (x - mu) * mask
    previous = None  # (denoised estimate, step in lambda) of the step before
    for t, s in zip(times[:-1], times[1:]):
        denoised = denoised_estimate(y, score(y + mu, t), t, schedule, mu, denoised_range)
        h = schedule.log_snr(s) - schedule.log_snr(t)
        estimate = denoised
        if previous is not None:
            ratio = previous[1] / h
            estimate = (1 + 0.5 / ratio) * denoised - (0.5 / ratio) * previous[0]
        y = ((schedule.sigma(s) / schedule.sigma(t)) * y - schedule.alpha(s) * math.expm1(-h) * estimate) * mask
        previous = (denoised, h)
    return (y + mu) * mask


def solve(sampler: str, x: Array, mu: Array, mask: Array, score: Score, schedule: Schedule,
          n_steps: int, stochastic: bool = False, noise: Optional[NoiseFn] = None,
          denoised_range: Range = None) -> Array:
    """x_0 from x_1 with the named sampler (`stochastic` applies to euler only; ml always is, and both
    need `noise`; `denoised_range` applies to ml and dpm, see the module's docstring)."""
    if n_steps < 1:
        raise ValueError("a sampler needs at least one step")
    if sampler == "euler":
        return euler(x, mu, mask, score, schedule, n_steps, stochastic, noise)
    if sampler == "ml":
        return maximum_likelihood(x, mu, mask, score, schedule, n_steps, noise, denoised_range)
    if sampler == "dpm":
        return dpm_solver(x, mu, mask, score, schedule, n_steps, denoised_range=denoised_range)
    raise ValueError(f"unknown sampler {sampler!r}; one of {', '.join(SAMPLERS)}")

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

A decoder trained with the flow objective (`model.decoder_objective = "flow"`: Matcha-TTS's optimal-transport
conditional flow matching, Mehta et al., ICASSP 2024, on the same prior) predicts instead the velocity of the
straight path x_t = (1 - t) x_0 + t (mu + eps), and `flow_plan` integrates it with Euler steps.

Each solver is a list of `Step`s, linear combinations that one executor (`run`) applies; it uses only
arithmetic and `.clip`, so it runs on torch tensors and on numpy arrays alike, and the ONNX voice's decoder
graph runs the same steps given as a table. The noise of the stochastic solvers comes from the caller.

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
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional

SAMPLERS = ("euler", "ml", "dpm")
OBJECTIVES = ("score", "flow")  # what the decoder's network estimates: the score of x_t, or its velocity
DPM_T_END = 1e-3
DENOISED_SLACK = 2.0

Array = Any  # a torch tensor or a numpy array
Score = Callable[[Array, float], Array]  # (x_t, t) -> score of x_t
NoiseFn = Callable[[Array], Array]  # like -> standard normal noise of its shape
Range = Optional[tuple[float, float]]


SETTINGS = ("timesteps", "temperature", "length_scale", "sampler")  # how a caller may sample a trained model


def sampling_settings(own, **asked) -> dict:
    """The sampling settings (SETTINGS): each the caller's where given (not None), else the model's own
    (`own`: a mapping, or an object with those attributes such as a checkpoint's inference config).
    ValueError for a sampler that does not exist."""
    if set(asked) - set(SETTINGS):
        raise TypeError(f"not sampling settings: {', '.join(sorted(set(asked) - set(SETTINGS)))}")
    get = own.get if isinstance(own, dict) else (lambda name: getattr(own, name))
    settings = {name: get(name) if asked.get(name) is None else asked[name] for name in SETTINGS}
    if settings["sampler"] not in SAMPLERS:
        raise ValueError(f"unknown sampler {settings['sampler']!r}; one of {', '.join(SAMPLERS)}")
    return settings


class Schedule:
    """beta_t = beta_min + (beta_max - beta_min) t and what follows from it (`beta` and `integral` take
    torch tensors too, as the training loss does)."""

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


@dataclass(frozen=True)
class Step:
    """One solver step written as a linear combination, so that one executor (`run`, or the ONNX voice's
    decoder graph) runs every solver:

        x_s = mask * (x * x_t + mu * mu + score * score(x_t, t) + denoised * D + previous * D_before
                      + noise * eps)

    with score(x_t, t) the network's output (the velocity under the flow objective), D = E[x_0 | x_t] = (x_t - mu + sigma_t^2 score) / a_t + mu (held within the range, see the module's
    docstring), D_before the step before's D and eps standard normal noise."""
    t: float
    x: float
    mu: float
    score: float = 0.0
    denoised: float = 0.0
    previous: float = 0.0
    noise: float = 0.0
    alpha: float = 1.0  # a_t and sigma_t^2, the denoised estimate's
    variance: float = 0.0

    def row(self) -> list[float]:
        return [getattr(self, name) for name in STEP_FIELDS]


STEP_FIELDS = tuple(f.name for f in fields(Step))


def euler_plan(schedule: Schedule, n_steps: int, stochastic: bool = False, t_start: float = 1.0) -> list[Step]:
    """Upstream's solver: n_steps Euler steps from t=`t_start` to 0, the score taken at each step's midpoint
    (x_s = x_t - 1/2 (mu - x_t - score) beta_t h, or the reverse SDE's step when stochastic)."""
    h = t_start / n_steps
    plan = []
    for i in range(n_steps):
        t = t_start - (i + 0.5) * h
        rate = schedule.beta(t) * h
        if stochastic:
            plan.append(Step(t, 1 + 0.5 * rate, -0.5 * rate, rate, noise=-math.sqrt(rate)))
        else:
            plan.append(Step(t, 1 + 0.5 * rate, -0.5 * rate, 0.5 * rate))
    return plan


def ml_coefficients(s: float, t: float, schedule: Schedule) -> tuple[float, float, float]:
    """The maximum-likelihood step from time t to s < t samples q(y_s | y_t, y_0) (on y = x - mu) at y_0 =
    the denoised estimate: returns (c_0, c_t, std) with mean = c_0 y_0 + c_t y_t."""
    a_s, a_t = schedule.alpha(s), schedule.alpha(t)
    var_s, var_t = 1 - a_s ** 2, 1 - a_t ** 2
    a_st = a_t / a_s
    return a_s * (1 - a_st ** 2) / var_t, a_st * var_s / var_t, math.sqrt(var_s * (1 - a_st ** 2) / var_t)


def ml_plan(schedule: Schedule, n_steps: int, t_start: float = 1.0) -> list[Step]:
    times = [t_start * (1.0 - i / n_steps) for i in range(n_steps + 1)]
    plan = []
    for t, s in zip(times[:-1], times[1:]):
        clean, current, std = ml_coefficients(s, t, schedule)
        plan.append(Step(t, current, 1 - clean - current, denoised=clean, noise=std if s > 0 else 0.0,
                         alpha=schedule.alpha(t), variance=schedule.sigma(t) ** 2))
    return plan


def dpm_plan(schedule: Schedule, n_steps: int, t_start: float = 1.0, t_end: float = DPM_T_END) -> list[Step]:
    """DPM-Solver++(2M) on the probability-flow ODE from t=`t_start` to `t_end` (where sigma_t < 0.01), in
    steps uniform in lambda; second order but for the first step, one network call per step:
    y_s = sigma_s / sigma_t y_t - a_s expm1(-h) ((1 + k) D - k D_before), k = h / (2 h_before)."""
    start, end = schedule.log_snr(t_start), schedule.log_snr(t_end)
    times = [t_start] + [schedule.time_at(start + (end - start) * i / n_steps) for i in range(1, n_steps)] + [t_end]
    plan, before = [], None
    for t, s in zip(times[:-1], times[1:]):
        h = schedule.log_snr(s) - schedule.log_snr(t)
        k = 0.0 if before is None else 0.5 * h / before
        ratio, reach = schedule.sigma(s) / schedule.sigma(t), schedule.alpha(s) * math.expm1(-h)
        plan.append(Step(t, ratio, 1 - ratio + reach, denoised=-reach * (1 + k), previous=reach * k,
                         alpha=schedule.alpha(t), variance=schedule.sigma(t) ** 2))
        before = h
    return plan


def flow_plan(n_steps: int, t_start: float = 1.0) -> list[Step]:
    """Euler steps of the flow objective's ODE dx/dt = v(x_t, t) from t=`t_start` to 0, the velocity taken at
    each step's start (as Matcha-TTS does): x_s = x_t - h v(x_t, t)."""
    h = t_start / n_steps
    return [Step(t_start - i * h, 1.0, 0.0, -h) for i in range(n_steps)]


def plan_for(sampler: str, schedule: Schedule, n_steps: int, stochastic: bool = False,
             t_start: float = 1.0, objective: str = "score") -> list[Step]:
    """The named sampler's steps from t=`t_start` (`stochastic` applies to euler only; ml always is) for a
    decoder trained with `objective`."""
    if n_steps < 1:
        raise ValueError("a sampler needs at least one step")
    if not DPM_T_END < t_start <= 1.0:
        raise ValueError(f"a sampler starts at a time in ({DPM_T_END}, 1], not {t_start}")
    if objective == "flow":
        if sampler != "euler" or stochastic:
            raise ValueError(f"a decoder trained with the flow objective samples with deterministic euler steps, "
                             f"not {'stochastic ' if stochastic else ''}{sampler}")
        return flow_plan(n_steps, t_start)
    if objective != "score":
        raise ValueError(f"unknown decoder objective {objective!r}; one of {', '.join(OBJECTIVES)}")
    if sampler == "euler":
        return euler_plan(schedule, n_steps, stochastic, t_start)
    if sampler == "ml":
        return ml_plan(schedule, n_steps, t_start)
    if sampler == "dpm":
        return dpm_plan(schedule, n_steps, t_start)
    raise ValueError(f"unknown sampler {sampler!r}; one of {', '.join(SAMPLERS)}")


def denoised_estimate(x: Array, score_x: Array, step: Step, mu: Array, denoised_range: Range = None) -> Array:
    """E[x_0 | x_t] = (x_t - mu + sigma_t^2 score) / a_t + mu, held within `denoised_range` widened by
    DENOISED_SLACK times its width on each side."""
    denoised = (x - mu + step.variance * score_x) / step.alpha + mu
    if denoised_range is None:
        return denoised
    low, high = widened(denoised_range)
    return denoised.clip(low, high)


def widened(denoised_range: tuple[float, float]) -> tuple[float, float]:
    low, high = denoised_range
    slack = DENOISED_SLACK * (high - low)
    return low - slack, high + slack


def run(plan: list[Step], x: Array, mu: Array, mask: Array, score: Score, noise: Optional[NoiseFn] = None,
        denoised_range: Range = None) -> Array:
    """x_0 from x_1 along `plan`; noise is drawn only for steps that use it."""
    x = x * mask
    before = None
    for step in plan:
        score_x = score(x, step.t)
        following = x * step.x + mu * step.mu + score_x * step.score
        if step.denoised:
            denoised = denoised_estimate(x, score_x, step, mu, denoised_range)
            following = following + denoised * step.denoised
        if step.previous:
            following = following + before * step.previous
        if step.noise:
            following = following + noise(x) * step.noise
        x, before = following * mask, denoised if step.denoised else None
    return x


def solve(sampler: str, x: Array, mu: Array, mask: Array, score: Score, schedule: Schedule,
          n_steps: int, stochastic: bool = False, noise: Optional[NoiseFn] = None,
          denoised_range: Range = None, t_start: float = 1.0, objective: str = "score") -> Array:
    """x_0 from x at t=`t_start` with the named sampler (`stochastic` applies to euler only; ml always is,
    and both need `noise`; `denoised_range` applies to ml and dpm, see the module's docstring)."""
    return run(plan_for(sampler, schedule, n_steps, stochastic, t_start, objective), x, mu, mask, score, noise,
               denoised_range)


def start_scale(schedule: Schedule, t_start: float, objective: str = "score") -> float:
    """The standard deviation of the noise added to mu to start the reverse process at `t_start`
    (x_t ~ N(mu, sigma_t^2) when the clean mel is taken to be mu; the flow's path has sigma_t = t): 1 at t=1,
    as upstream draws it."""
    if t_start >= 1.0:
        return 1.0
    return t_start if objective == "flow" else schedule.sigma(t_start)

"""The Grad-TTS solvers against a case with a known score: Gaussian data, y_0 ~ N(0, c^2), whose
probability-flow ODE maps y_1 to y_1 * c / std(y_1) exactly."""
import math

import pytest
import torch

from gradwave.common.mel import MelConfig, MelSpectrogram
from grad_tts.samplers import (DENOISED_SLACK, Schedule, Step, denoised_estimate, flow_plan, ml_coefficients, plan_for,
                               run, solve, start_scale)

SCHEDULE = Schedule(0.05, 20.0)
C = 0.5


def variance(t: float, c: float = C) -> float:
    return SCHEDULE.alpha(t) ** 2 * c ** 2 + SCHEDULE.sigma(t) ** 2


def gaussian_score(mu):
    return lambda x, t: -(x - mu) / variance(t)


def setup():
    torch.manual_seed(0)
    mu = torch.randn(2, 4, 50)
    x1 = mu + torch.randn(2, 4, 50)
    exact = mu + (x1 - mu) * C / math.sqrt(variance(1.0))
    return mu, x1, torch.ones(2, 1, 50), exact


@pytest.mark.parametrize("solver", ["euler", "dpm"])
def test_deterministic_solvers_converge_to_the_exact_flow(solver):
    mu, x1, mask, exact = setup()
    errors = [float((solve(solver, x1, mu, mask, gaussian_score(mu), SCHEDULE, n) - exact).abs().mean())
              for n in (2, 4, 10, 25, 100)]
    assert errors[0] < float((exact - mu).abs().mean())
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.02 * float((exact - mu).abs().mean())


@pytest.mark.parametrize("solver", ["euler", "dpm"])
def test_a_shallow_start_follows_the_flow_from_its_own_time(solver):
    """From t=0.4 the probability-flow ODE maps y_t to y_t * c / std(y_t); the start's noise is sigma_t."""
    mu, x1, mask, _ = setup()
    start = 0.4
    x = mu + (x1 - mu) * start_scale(SCHEDULE, start)
    exact = mu + (x - mu) * C / math.sqrt(variance(start))
    error = float((solve(solver, x, mu, mask, gaussian_score(mu), SCHEDULE, 25, t_start=start) - exact).abs().mean())
    assert error < 0.02 * float((exact - mu).abs().mean())
    assert plan_for(solver, SCHEDULE, 4, t_start=start)[0].t <= start
    assert start_scale(SCHEDULE, 1.0) == 1.0 and start_scale(SCHEDULE, start) == pytest.approx(SCHEDULE.sigma(start))
    with pytest.raises(ValueError, match="starts at a time"):
        plan_for(solver, SCHEDULE, 4, t_start=1.5)


def flow_std(t: float, c: float = C) -> float:
    """The spread of y_t = (1 - t) y_0 + t eps around mu for y_0 ~ N(0, c^2)."""
    return math.sqrt((1 - t) ** 2 * c ** 2 + t ** 2)


def gaussian_velocity(mu):
    """E[eps - y_0 | y_t] for Gaussian data, the velocity the flow objective's network learns."""
    return lambda x, t: (x - mu) * (t - (1 - t) * C ** 2) / flow_std(t) ** 2


@pytest.mark.parametrize("start", [1.0, 0.4])
def test_flow_euler_steps_converge_to_the_exact_flow(start):
    """The flow's ODE maps y_t to y_t * c / std(y_t); its start's noise around mu is t (1 at t=1)."""
    mu, x1, mask, _ = setup()
    x = mu + (x1 - mu) * start_scale(SCHEDULE, start, "flow")
    exact = mu + (x - mu) * C / flow_std(start)
    errors = [float((solve("euler", x, mu, mask, gaussian_velocity(mu), SCHEDULE, n, t_start=start, objective="flow")
                     - exact).abs().mean()) for n in (2, 4, 10, 25, 100)]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.02 * float((exact - mu).abs().mean())
    assert start_scale(SCHEDULE, start, "flow") == start


def test_flow_steps_are_a_plain_euler_loop():
    mu, x1, mask, _ = setup()
    velocity = gaussian_velocity(mu)
    expected = x1.clone()
    for i in range(5):
        t = 0.8 - i * 0.8 / 5
        expected = expected - 0.8 / 5 * velocity(expected, t)
    torch.testing.assert_close(run(flow_plan(5, 0.8), x1, mu, mask, velocity), expected)
    with pytest.raises(ValueError, match="flow objective samples with deterministic euler"):
        plan_for("ml", SCHEDULE, 4, objective="flow")
    with pytest.raises(ValueError, match="unknown decoder objective"):
        plan_for("euler", SCHEDULE, 4, objective="edm")


def test_second_order_beats_euler_at_few_steps():
    mu, x1, mask, exact = setup()
    for n in (2, 4, 10):
        dpm = (solve("dpm", x1, mu, mask, gaussian_score(mu), SCHEDULE, n) - exact).abs().mean()
        first = (solve("euler", x1, mu, mask, gaussian_score(mu), SCHEDULE, n) - exact).abs().mean()
        assert dpm < 0.7 * first


def at(t: float) -> Step:
    return Step(t, 0.0, 0.0, alpha=SCHEDULE.alpha(t), variance=SCHEDULE.sigma(t) ** 2)


def ml_mean(y, t, s, c=C):
    """The maximum-likelihood step's mean from y_t (mu = 0) under the Gaussian data's exact score."""
    clean, current, std = ml_coefficients(s, t, SCHEDULE)
    return clean * denoised_estimate(y, -y / variance(t, c), at(t), torch.zeros_like(y)) + current * y, std


def test_ml_step_mean_and_variance_are_the_closed_form():
    s, t = 0.3, 0.7
    y = torch.linspace(-2, 2, 9)
    a_st = SCHEDULE.alpha(t) / SCHEDULE.alpha(s)
    # Gaussian data: the step's mean is the exact conditional mean E[y_s | y_t]
    mean, _ = ml_mean(y, t, s)
    torch.testing.assert_close(mean, a_st * variance(s) / variance(t) * y)
    # data at one point (c = 0): mean and variance are exactly those of y_s given y_t
    mean, std = ml_mean(y, t, s, 0.0)
    true_var = variance(s, 0.0) - a_st ** 2 * variance(s, 0.0) ** 2 / variance(t, 0.0)
    torch.testing.assert_close(mean, a_st * variance(s, 0.0) / variance(t, 0.0) * y)
    assert std ** 2 == pytest.approx(true_var, rel=1e-9)
    # the solver draws its noise with that scale and ends on the denoised estimate
    mu, x1, mask, _ = setup()
    quiet = solve("ml", x1, mu, mask, gaussian_score(mu), SCHEDULE, 5, noise=torch.zeros_like)
    noisy = solve("ml", x1, mu, mask, gaussian_score(mu), SCHEDULE, 5, noise=torch.randn_like)
    assert 0.05 < float((noisy - quiet).std()) < 1.0


def test_lambda_grid_inverts():
    for t in (1e-3, 0.1, 0.5, 1.0):
        assert SCHEDULE.time_at(SCHEDULE.log_snr(t)) == pytest.approx(t, rel=1e-6)


def test_solve_names_and_checks():
    mu, x1, mask, _ = setup()
    for name in ("euler", "ml", "dpm"):
        assert solve(name, x1, mu, mask, gaussian_score(mu), SCHEDULE, 3, noise=torch.randn_like).shape == x1.shape
    with pytest.raises(ValueError, match="unknown sampler"):
        solve("heun", x1, mu, mask, gaussian_score(mu), SCHEDULE, 3)
    with pytest.raises(ValueError, match="at least one step"):
        solve("dpm", x1, mu, mask, gaussian_score(mu), SCHEDULE, 0)


def test_denoised_range_holds_a_bad_score_and_leaves_a_good_one_alone():
    mu, x1, mask, exact = setup()
    bounds = (-1.0, 1.0)  # held within (-5, 5) with the slack
    bias = 0.2  # a score off by 0.2 puts the denoised estimate at t=1 off by 0.2 / a_1 = 30
    free = denoised_estimate(x1, gaussian_score(mu)(x1, 1.0) + bias, at(1.0), mu)
    held = denoised_estimate(x1, gaussian_score(mu)(x1, 1.0) + bias, at(1.0), mu, bounds)
    widened = bounds[1] + DENOISED_SLACK * (bounds[1] - bounds[0])
    assert float(free.min()) > widened
    torch.testing.assert_close(held, torch.full_like(mu, widened))
    for sampler in ("ml", "dpm"):
        seen = {}

        def wrong_score(x, t, key):
            seen[key] = max(seen.get(key, 0.0), float(x.abs().max()))
            return gaussian_score(mu)(x, t) + bias

        solve(sampler, x1, mu, mask, lambda x, t: wrong_score(x, t, "free"), SCHEDULE, 3, noise=torch.zeros_like)
        solve(sampler, x1, mu, mask, lambda x, t: wrong_score(x, t, "held"), SCHEDULE, 3, noise=torch.zeros_like,
              denoised_range=bounds)
        assert seen["held"] < seen["free"], seen
        good = solve(sampler, x1, mu, mask, gaussian_score(mu), SCHEDULE, 3, noise=torch.zeros_like)
        torch.testing.assert_close(solve(sampler, x1, mu, mask, gaussian_score(mu), SCHEDULE, 3,
                                         noise=torch.zeros_like, denoised_range=bounds), good)


def test_mel_value_range_bounds_any_waveform():
    extractor = MelSpectrogram(MelConfig())
    low, high = extractor.value_range()
    assert low == pytest.approx(math.log(MelConfig().log_floor))
    loudest = torch.sign(torch.randn(1, 22050)) * 1.0, torch.sin(torch.arange(22050) * 0.05)[None]
    for wav in loudest:
        mel = extractor(wav)
        assert low - 1e-4 <= float(mel.min()) and float(mel.max()) <= high


def test_samplers_run_on_numpy_arrays_as_on_tensors():
    """The ONNX runtime drives the same solvers with numpy arrays (and no torch)."""
    import numpy as np

    mu, x1, mask = torch.randn(1, 4, 8), torch.randn(1, 4, 8), torch.ones(1, 4, 8)
    for name in ("euler", "ml", "dpm"):
        expected = solve(name, x1, mu, mask, gaussian_score(mu), SCHEDULE, 4, noise=torch.zeros_like,
                         denoised_range=(-1.0, 1.0))
        arrays = solve(name, x1.numpy(), mu.numpy(), mask.numpy(),
                       lambda x, t: gaussian_score(mu)(torch.from_numpy(x), t).numpy(), SCHEDULE, 4,
                       noise=np.zeros_like, denoised_range=(-1.0, 1.0))
        assert isinstance(arrays, np.ndarray)
        np.testing.assert_allclose(arrays, expected.numpy(), rtol=1e-5, atol=1e-5)

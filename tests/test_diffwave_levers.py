"""The DiffWave options beyond lmnt's model: sub-bands, PriorGrad's prior, a schedule that ends at
noise, and the spectral loss on the clean-signal estimate."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from diffwave.config import DiffWaveModelConfig
from diffwave.diffusion import (NoisePrior, band_amplitude, band_basis, band_gains, band_std, clean_estimate,
                                frame_energy_range, from_bands, mel_band_map, noise_levels, prior_std, rescale_to_noise,
                                schedule_for, source_bands, stft_loss, to_bands)
from diffwave.inference import vocode
from diffwave.model import DiffWave

TINY = dict(residual_layers=2, residual_channels=8, dilation_cycle_length=2, n_mels=16, hop_samples=64)


def test_band_basis_is_orthonormal_and_haar_for_two_bands():
    for bands in (2, 4, 8):
        basis = band_basis(bands)
        torch.testing.assert_close(basis @ basis.T, torch.eye(bands), atol=1e-6, rtol=0)
    half = 1 / math.sqrt(2)
    torch.testing.assert_close(band_basis(2), torch.tensor([[half, half], [half, -half]]))


def test_bands_round_trip_and_model_shapes():
    model = DiffWave(DiffWaveModelConfig(**TINY, bands=4))
    audio = torch.randn(2, 5 * 64)
    bands = model.to_bands(audio)
    assert bands.shape == (2, 4, 5 * 16)
    torch.testing.assert_close(model.from_bands(bands).squeeze(1), audio, atol=1e-6, rtol=0)
    assert model(audio, torch.tensor([0, 3]), torch.randn(2, 16, 5)).shape == (2, 1, 5 * 64)
    assert vocode(torch.randn(1, 16, 5), model.eval()).shape == (1, 5 * 64)
    with pytest.raises(ValueError, match="divisor"):
        DiffWave(DiffWaveModelConfig(**TINY, bands=3))


def test_one_band_keeps_lmnt_parameter_layout():
    plain = DiffWave(DiffWaveModelConfig(**TINY)).state_dict()
    assert plain["input_projection.weight"].shape == (8, 1, 1)
    assert plain["output_projection.weight"].shape == (1, 8, 1)
    assert not any("basis" in key for key in DiffWave(DiffWaveModelConfig(**TINY, bands=2)).state_dict())


def test_prior_std_on_a_known_mel():
    config = DiffWaveModelConfig(**TINY, prior_grad=True, prior_energy_min=0.5, prior_energy_max=4.0)
    # frame energies sqrt(sum exp(mel)) of 1, 2.25 and 10 (clamped to 4) over 16 bands
    energy = torch.tensor([1.0, 2.25, 10.0])
    mel = torch.log(energy ** 2 / 16).view(1, 1, 3).expand(1, 16, 3)
    std = prior_std(mel, config)
    assert std.shape == (1, 3 * 64)
    expected = torch.tensor([max((1 - 0.5) / 3.5, 0.1), (2.25 - 0.5) / 3.5, 1.0])
    torch.testing.assert_close(std[0, ::64], expected)
    assert torch.equal(std[0, :64], std[0, :1].expand(64))
    low, high = frame_energy_range([mel[0]])
    assert low == pytest.approx(1.0) and high == pytest.approx(10.0)
    quiet = prior_std(torch.full((1, 16, 2), math.log(1e-5)), config)
    assert torch.all(quiet == 0.1)


def test_prior_grad_sampling_starts_from_the_training_noise_scale(monkeypatch):
    """Training scales the noise by prior_std; the sampler must start from (and add) noise of the
    same per-frame scale. With a denoiser that predicts nothing, one step shows the start noise."""
    config = DiffWaveModelConfig(**TINY, prior_grad=True, prior_energy_min=0.0, prior_energy_max=8.0)
    model = DiffWave(config).eval()
    monkeypatch.setattr(model, "denoise", lambda audio, step, cond: torch.zeros_like(audio).unsqueeze(1))
    mel = torch.cat([torch.full((1, 16, 40), math.log(1.0 / 16)), torch.full((1, 16, 40), math.log(9.0 / 16))], -1)
    audio = vocode(mel, model, steps=1, generator=torch.Generator().manual_seed(0))[0]
    quiet, loud = audio[: 40 * 64].std(), audio[40 * 64:].std()
    # energies 1 and 3: std 0.125 and 0.375 (the 1-step sampler multiplies both by the same constant)
    assert float(loud / quiet) == pytest.approx(3.0, rel=0.08)

    captured = {}
    real_forward = DiffWave.forward

    def spy(self, noisy, step, spectrogram=None):
        captured["noisy"], captured["step"] = noisy, step
        return real_forward(self, noisy, step, spectrogram)

    monkeypatch.setattr(DiffWave, "forward", spy)
    batch = {"audio": torch.zeros(1, 80 * 64), "spectrogram": mel}
    model.compute_loss(batch)
    level = noise_levels(config)[captured["step"]]
    noise = captured["noisy"][0] / (1 - level).sqrt()
    assert float(noise[40 * 64:].std() / noise[: 40 * 64].std()) == pytest.approx(3.0, rel=0.08)


def test_schedule_to_noise_reaches_pure_noise():
    config = DiffWaveModelConfig(schedule_to_noise=True)
    levels = noise_levels(config)
    assert float(levels[-1]) < 1e-3
    assert float(levels[0]) == pytest.approx(1 - config.noise_schedule[0], rel=1e-6)
    assert torch.all(levels[1:] < levels[:-1])
    betas = np.asarray(rescale_to_noise(config.noise_schedule))
    assert np.all((betas > 0) & (betas < 1))
    assert float(noise_levels(DiffWaveModelConfig())[-1]) == pytest.approx(0.2797, abs=1e-3)  # lmnt: not noise
    schedule = schedule_for(DiffWaveModelConfig(schedule_to_noise=True, inference_noise_schedule=[]))
    assert len(schedule.beta) == 6 and schedule.alpha_cum[-1] < 1e-3


def test_stft_loss_is_zero_for_a_perfect_estimate_and_positive_otherwise():
    torch.manual_seed(0)
    clean = torch.randn(3, 4096)
    assert torch.all(stft_loss(clean, clean) < 1e-6)
    assert torch.all(stft_loss(clean + 0.3 * torch.randn(3, 4096), clean) > 0.1)
    level = torch.tensor([[0.3], [0.6], [0.9]])
    noise = torch.randn(3, 4096)
    noisy = level.sqrt() * clean + (1 - level).sqrt() * noise
    torch.testing.assert_close(clean_estimate(noisy, noise, level), clean, atol=1e-5, rtol=0)


def test_levers_train_together():
    torch.manual_seed(0)
    config = DiffWaveModelConfig(**TINY, bands=2, prior_grad=True, prior_energy_min=0.05, schedule_to_noise=True,
                                 stft_loss_weight=0.5)
    model = DiffWave(config)
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    batch = {"audio": torch.sin(torch.arange(16 * 64) * 0.3).repeat(2, 1) * 0.5,
             "spectrogram": torch.zeros(2, 16, 16), "seeds": torch.tensor([1, 2])}
    losses = []
    for _ in range(40):
        out = model.compute_loss(batch)
        assert set(out) == {"loss", "noise_loss", "stft_loss"}
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["loss"].detach()))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert set(DiffWave(DiffWaveModelConfig(**TINY)).compute_loss(batch)) == {"loss"}


def test_band_prior_shapes_the_noise_spectrum_and_whitens_back():
    bands = 8
    frequencies = np.linspace(50, 8000, 16)
    mapping = mel_band_map(frequencies, 22050, bands)
    assert mapping[0] == 0 and mapping[-1] == round(8000 / (22050 / 16)) and mapping == sorted(mapping)
    config = DiffWaveModelConfig(**TINY, prior_grad=True, prior_energy_min=0.0, prior_energy_max=4.0,
                                 prior_bands=bands, prior_mel_band=mapping)
    low = torch.tensor(frequencies) < 1500  # a frame whose energy lies below 1.5 kHz
    mel = torch.where(low, torch.tensor(math.log(2.0)), torch.tensor(math.log(1e-5))).float().view(1, 16, 1)
    mel = mel.expand(1, 16, 40)
    std = band_std(mel, config)
    assert std.shape == (1, bands, 40 * 64 // bands)
    assert float(std[0, 0, 0]) == pytest.approx(0.5) and float(std[0, -1, 0]) == pytest.approx(0.1)
    prior = NoisePrior(config, mel)
    white = torch.randn(1, 40 * 64, generator=torch.Generator().manual_seed(0))
    shaped = prior.shape(white)
    torch.testing.assert_close(prior.whiten(shaped), to_bands(white, band_basis(bands)), atol=1e-5, rtol=0)
    power = torch.fft.rfft(shaped[0]).abs().pow(2)
    cut = int(len(power) * 2000 / 11025)
    assert float(power[:cut].mean()) > 4 * float(power[cut:].mean())  # floor 0.1 and block leakage limit it
    model = DiffWave(config)
    assert vocode(mel, model.eval()).shape == (1, 40 * 64)
    with pytest.raises(ValueError, match="prior_mel_band"):
        NoisePrior(DiffWaveModelConfig(**TINY, prior_grad=True, prior_bands=bands), mel)


def test_clean_prediction_samples_its_own_estimate_and_trains(monkeypatch):
    """A network that predicts the clean signal drives the same samplers: with an oracle that always
    outputs the target, every sampler ends exactly on it, and the loss is zero for that oracle."""
    config = DiffWaveModelConfig(**TINY, prior_grad=True, prior_energy_min=0.05, predict="clean",
                                 stft_loss_weight=1.0)
    model = DiffWave(config).eval()
    target = 0.5 * torch.sin(torch.arange(16 * 64) * 0.3).unsqueeze(0)
    mel = torch.zeros(1, 16, 16)
    monkeypatch.setattr(model, "denoise", lambda audio, step, cond: target.unsqueeze(1))
    for kwargs in ({}, {"fast": False}, {"steps": 3}):
        audio = vocode(mel, model, generator=torch.Generator().manual_seed(0), **kwargs)
        torch.testing.assert_close(audio, target, atol=1e-4, rtol=0)
    monkeypatch.setattr(DiffWave, "forward", lambda self, noisy, step, spectrogram=None: target.unsqueeze(1))
    losses = model.compute_loss({"audio": target, "spectrogram": mel})
    assert set(losses) == {"loss", "clean_loss", "stft_loss"} and float(losses["loss"]) < 1e-6
    monkeypatch.undo()
    assert float(DiffWave(config).compute_loss({"audio": target, "spectrogram": mel})["loss"]) > 0.1
    with pytest.raises(ValueError, match="predict"):
        DiffWave(DiffWaveModelConfig(**TINY, predict="velocity"))


def test_shallow_diffusion_starts_from_the_noised_initial_audio():
    """With `initial` and `start`, sampling noises the initial audio to the start step's level and runs
    only the steps from there down: for a network that predicts no noise (its output layer zeroed) and
    start 1, two steps written out by hand from the same draws."""
    model = DiffWave(DiffWaveModelConfig(**TINY)).eval()
    torch.nn.init.zeros_(model.output_projection.bias)
    mel, initial = torch.randn(1, 16, 3), 0.3 * torch.randn(1, 3 * 64)
    audio = vocode(mel, model, fast=False, generator=torch.Generator().manual_seed(5), initial=initial, start=1)
    schedule = schedule_for(model.config, fast=False)
    draws = torch.Generator().manual_seed(5)
    level = schedule.alpha_cum[1]
    x = level ** 0.5 * initial + (1 - level) ** 0.5 * torch.randn(1, 192, generator=draws)
    x = (x / schedule.alpha[1] ** 0.5 + schedule.sigma(1) * torch.randn(1, 192, generator=draws)).clamp(-1, 1)
    x = (x / schedule.alpha[0] ** 0.5).clamp(-1, 1)
    torch.testing.assert_close(audio, x.float())
    with pytest.raises(ValueError, match="start step between 0 and 49"):
        vocode(mel, model, fast=False, initial=initial, start=50)


AMPLITUDE = dict(prior_grad=True, prior_bands=8, prior_scale="amplitude", prior_std_min=1e-3)


def amplitude_config(**fields) -> DiffWaveModelConfig:
    mapping = mel_band_map(np.linspace(50, 8000, 16), 22050, 8)  # bands 0..6 have bins, 7 (above 8 kHz) none
    return DiffWaveModelConfig(**TINY, **AMPLITUDE, prior_mel_band=mapping, **fields)


def test_amplitude_prior_follows_each_bands_mel_level():
    config = amplitude_config(prior_band_gain=[0.5] * 8, prior_headroom=2.0)
    assert source_bands(config.prior_mel_band, 8) == [0, 1, 2, 3, 4, 5, 6, 6]
    assert source_bands([0, 0, 3, 3], 5) == [0, 0, 3, 3, 3] and source_bands([0, 2], 3) == [0, 0, 2]  # lower on a tie
    levels = torch.tensor([0.2, 0.02, 0.002, 1e-5, 0.05, 0.3, 3.0])  # per band with bins: its bins' amplitude
    index = torch.tensor(config.prior_mel_band)
    mel = levels[index].log().view(1, 16, 1).expand(1, 16, 3)
    torch.testing.assert_close(band_amplitude(mel, config)[0, :, 0], levels[[0, 1, 2, 3, 4, 5, 6, 6]])
    std = band_std(mel, config)[0, :, 0]  # gain 0.5 x headroom 2: the amplitude itself, clamped to [1e-3, 1]
    torch.testing.assert_close(std, torch.tensor([0.2, 0.02, 0.002, 1e-3, 0.05, 0.3, 1.0, 1.0]))
    with pytest.raises(ValueError, match="prior_band_gain"):
        band_std(mel, amplitude_config())
    with pytest.raises(ValueError, match="prior_bands"):
        DiffWave(DiffWaveModelConfig(**TINY, prior_grad=True, prior_scale="amplitude"))


def test_band_gains_make_the_prior_match_the_waveform_level():
    """Noise of a different level in every band: with the measured gains and no headroom, the prior's
    scale equals the waveform's level in each band (the log ratio averages to 0)."""
    from common.mel import MelConfig, MelSpectrogram

    mel_config = MelConfig(n_mels=16, hop_length=64, win_length=256, n_fft=256)
    extractor = MelSpectrogram(mel_config)
    import librosa

    centres = librosa.mel_frequencies(18, fmin=0, fmax=8000, htk=False)[1:-1]
    config = DiffWaveModelConfig(**TINY, **AMPLITUDE, prior_mel_band=mel_band_map(centres, 22050, 8),
                                 prior_headroom=1.0)
    generator = torch.Generator().manual_seed(0)
    band_levels = torch.tensor([0.3, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.002])
    audios = [from_bands(torch.randn(1, 8, 200 * 8, generator=generator) * band_levels.view(1, 8, 1),
                         band_basis(8))[0] for _ in range(3)]
    mels = [extractor(a) for a in audios]
    gains = band_gains(mels, audios, config)
    assert len(gains) == 8 and all(g > 0 for g in gains)
    config = dataclasses.replace(config, prior_band_gain=gains)
    ratios = []
    for mel, audio in zip(mels, audios):
        frames = audio.shape[-1] // 64
        level = to_bands(audio[None, :frames * 64], band_basis(8))[0].reshape(8, frames, 8).pow(2).mean(-1).sqrt()
        ratios.append((level / band_std(mel[None, :, :frames], config)[0, :, ::8]).log().mean(-1))
    torch.testing.assert_close(torch.stack(ratios).mean(0), torch.zeros(8), atol=2e-3, rtol=0)
    # PriorGrad's energy map leaves the quiet bands far below their noise: mean log ratio < -1 there
    energy = DiffWaveModelConfig(**TINY, prior_grad=True, prior_bands=8, prior_mel_band=config.prior_mel_band)
    quiet = (to_bands(audios[0][None], band_basis(8))[0, -1].abs().mean() /
             band_std(mels[0][None, :, :200], energy)[0, -1].mean())
    assert float(quiet) < 0.3


def test_whitened_diffusion_is_priorgrads_process_and_its_sampler_ends_on_the_clean_signal(monkeypatch):
    """Training: the network's input is the whitened image of PriorGrad's noisy signal (same noise),
    its target the white noise. Sampling: with an oracle that predicts exactly the noise of a known
    clean signal, the sampler ends on that signal, so training and sampling share coordinates."""
    config = amplitude_config(prior_band_gain=[0.5] * 8, whitened=True)
    model = DiffWave(config).eval()
    mel = (torch.rand(1, 16, 12, generator=torch.Generator().manual_seed(1)) * 4 - 6)
    clean = 0.05 * torch.randn(1, 12 * 64, generator=torch.Generator().manual_seed(2))
    prior = NoisePrior(config, mel)
    seen = {}

    def spy(noisy, step, spectrogram=None):
        seen["noisy"], seen["step"] = noisy, step
        return torch.zeros_like(noisy).unsqueeze(1)

    monkeypatch.setattr(model, "forward", spy)
    out = model.compute_loss({"audio": clean, "spectrogram": mel, "seeds": torch.tensor([7])})
    generator = torch.Generator().manual_seed(7)
    step = int(torch.randint(0, len(model.alpha_bar), (1,), generator=generator))
    white = torch.randn(clean.shape[1:], generator=generator).unsqueeze(0)
    level = model.alpha_bar[step]
    priorgrad = level.sqrt() * clean + (1 - level).sqrt() * prior.shape(white)
    assert int(seen["step"]) == step
    torch.testing.assert_close(seen["noisy"], prior.to_white(priorgrad), atol=1e-4, rtol=1e-4)
    assert float(out["loss"]) == pytest.approx(float(white.abs().mean()), rel=1e-5)  # zero prediction: |noise|

    target = prior.to_white(clean)
    levels = {}

    def oracle(audio, step, cond):
        alpha_bar = min(levels.items(), key=lambda item: abs(item[0] - float(step[0])))[1]
        return ((audio - alpha_bar ** 0.5 * target) / (1 - alpha_bar) ** 0.5).unsqueeze(1)

    monkeypatch.setattr(model, "denoise", oracle)
    for fast, steps in ((True, None), (False, None), (False, 3)):
        schedule = schedule_for(config, fast, steps)
        levels.clear()
        levels.update({float(s): float(a) for s, a in zip(schedule.steps, schedule.alpha_cum)})
        audio = vocode(mel, model, fast=fast, steps=steps, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(audio, clean, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="whitened"):
        DiffWave(DiffWaveModelConfig(**TINY, whitened=True))


def test_griffin_lim_guide_is_an_input_of_the_network_and_checked():
    from common.config import to_dict
    from common.mel import MelConfig

    mel_config = MelConfig(n_mels=16, hop_length=64, n_fft=256, win_length=256)
    with pytest.raises(ValueError, match="guide_mel"):
        DiffWave(DiffWaveModelConfig(**TINY, griffin_lim_guide=4))
    with pytest.raises(ValueError, match="griffin_lim_guide"):
        DiffWave(DiffWaveModelConfig(**TINY, griffin_lim_guide=4, guide_mel=to_dict(mel_config), backbone="wavenet"))
    model = DiffWave(DiffWaveModelConfig(**TINY, bands=2, griffin_lim_guide=4, guide_mel=to_dict(mel_config))).eval()
    torch.nn.init.normal_(model.output_projection.weight)  # zero at init: the output would not depend on anything
    mel, audio = torch.randn(1, 16, 6) - 3, torch.randn(1, 6 * 64)
    step = torch.tensor([2])
    guided = model.condition(mel)
    assert guided.guide.shape == (1, 2, 3 * 64)
    other = dataclasses.replace(guided, guide=torch.randn_like(guided.guide))
    assert not torch.allclose(model.denoise(audio, step, guided), model.denoise(audio, step, other))
    given = model.condition(mel, guide=model.from_bands(guided.guide).squeeze(1))
    torch.testing.assert_close(given.guide, guided.guide, atol=1e-6, rtol=0)
    torch.testing.assert_close(model.denoise(audio, step, model.condition(mel, hoist=False)),
                               model.denoise(audio, step, guided), atol=1e-5, rtol=1e-5)


def test_guide_residual_model_starts_as_the_guide():
    """With `guide_residual` the (zero-initialised) network outputs the guide itself, so the clean-
    predicting sampler ends on Griffin-Lim's audio of the mel."""
    from common.config import to_dict
    from common.mel import MelConfig

    guide_mel = to_dict(MelConfig(n_mels=16, hop_length=64, n_fft=256, win_length=256))
    with pytest.raises(ValueError, match="guide_residual"):
        DiffWave(DiffWaveModelConfig(**TINY, griffin_lim_guide=4, guide_mel=guide_mel, guide_residual=True))
    model = DiffWave(DiffWaveModelConfig(**TINY, bands=2, griffin_lim_guide=4, guide_mel=guide_mel,
                                         predict="clean", guide_residual=True)).eval()
    mel = torch.randn(1, 16, 6) - 3
    guide = model.from_bands(model.condition(mel).guide).squeeze(1)
    assert guide.abs().max() > 0
    out = model.denoise(torch.randn(1, 6 * 64), torch.tensor([3]), model.condition(mel))
    torch.testing.assert_close(out.squeeze(1), guide)
    torch.testing.assert_close(vocode(mel, model, generator=torch.Generator().manual_seed(0)), guide.clamp(-1, 1),
                               atol=1e-4, rtol=0)


def bridge_config(**options) -> DiffWaveModelConfig:
    from common.config import to_dict
    from common.mel import MelConfig

    guide_mel = to_dict(MelConfig(n_mels=16, hop_length=64, n_fft=256, win_length=256))
    return DiffWaveModelConfig(**TINY, bands=2, griffin_lim_guide=4, guide_mel=guide_mel, predict="clean",
                               process="bridge", **options)


def test_bridge_is_checked_and_an_untrained_residual_bridge_samples_the_guide():
    with pytest.raises(ValueError, match="process"):
        DiffWave(dataclasses.replace(bridge_config(), process="ode"))
    with pytest.raises(ValueError, match="bridge"):
        DiffWave(dataclasses.replace(bridge_config(), predict="noise"))
    with pytest.raises(ValueError, match="bridge_steps"):
        DiffWave(bridge_config(bridge_steps=51))
    model = DiffWave(bridge_config(guide_residual=True)).eval()
    mel = torch.randn(1, 16, 6) - 3
    guide = model.guide_waveform(mel)
    assert guide.abs().max() > 0
    for steps in (1, 4):
        audio = vocode(mel, model, steps=steps, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(audio, guide.clamp(-1, 1), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="initial"):
        vocode(mel, model, initial=guide, start=0)


def test_bridge_point_runs_from_the_recording_to_the_guide():
    from diffwave.diffusion import bridge_point, bridge_time

    clean, guide, noise = torch.randn(3, 4000), torch.randn(3, 4000), torch.randn(3, 4000)
    time = bridge_time(torch.tensor([49, 24, 0]), 50).unsqueeze(1)
    torch.testing.assert_close(time.squeeze(1), torch.tensor([1.0, 0.5, 0.02]))
    point = bridge_point(clean, guide, time, noise, 0.4)
    torch.testing.assert_close(point[0], guide[0])
    torch.testing.assert_close(point[1], 0.5 * clean[1] + 0.5 * guide[1] + 0.2 * noise[1])
    torch.testing.assert_close(point[2], 0.98 * clean[2] + 0.02 * guide[2] + 0.4 * (0.02 * 0.98) ** 0.5 * noise[2])


def test_bridge_training_input_lies_on_the_bridge_at_the_step_it_is_told():
    from diffwave.diffusion import training_loss

    model = DiffWave(bridge_config(bridge_noise=0.0))
    seen = {}

    def spy(audio, step, spectrogram=None, guide=None):
        seen.update(audio=audio, step=step)
        return torch.zeros_like(audio).unsqueeze(1)

    model.forward = spy
    audio, mel = torch.randn(4, 6 * 64) * 0.1, torch.randn(4, 16, 6) - 3
    guide = torch.randn(4, 6 * 64) * 0.1
    loss = training_loss(model, {"audio": audio, "spectrogram": mel, "guide": guide, "seeds": torch.arange(4)})
    time = ((seen["step"].float() + 1) / 50).unsqueeze(1)
    torch.testing.assert_close(seen["audio"], (1 - time) * audio + time * guide)
    torch.testing.assert_close(loss["loss"], audio.pow(2).mean())


def test_bridge_sampler_follows_the_bridge_and_ends_on_an_oracles_audio():
    """A network that always predicts the recording: without noise every point the sampler visits is the
    bridge's own point at that time (what training showed the network), with noise it still ends on the
    recording."""
    from types import SimpleNamespace

    from diffwave.diffusion import bridge_reverse

    clean, guide = torch.rand(2, 640) - 0.5, torch.rand(2, 640) - 0.5
    visits = []

    def denoise(audio, step, conditioning):
        visits.append((audio.clone(), float(step[0])))
        return clean.unsqueeze(1)

    for noise in (0.0, 0.5):
        visits.clear()
        oracle = SimpleNamespace(alpha_bar=torch.ones(50), config=SimpleNamespace(bridge_noise=noise), denoise=denoise)
        out = bridge_reverse(oracle, None, NoisePrior(DiffWaveModelConfig(), None), guide, 5,
                             torch.Generator().manual_seed(0), torch.autocast("cpu", enabled=False))
        torch.testing.assert_close(out, clean)
        assert [step for _, step in visits] == pytest.approx([49, 39, 29, 19, 9])
        if noise == 0:
            for (audio, step), t in zip(visits, (1.0, 0.8, 0.6, 0.4, 0.2)):
                torch.testing.assert_close(audio, (1 - t) * clean + t * guide)


def test_mel_loss_is_zero_for_the_recording_and_checked():
    from diffwave.diffusion import mel_loss, training_loss

    with pytest.raises(ValueError, match="mel_loss_weight"):
        DiffWave(DiffWaveModelConfig(**TINY, mel_loss_weight=1.0))
    model = DiffWave(bridge_config(guide_residual=True, mel_loss_weight=2.0))
    audio = (torch.rand(2, 8 * 64) - 0.5) * 0.2
    torch.testing.assert_close(mel_loss([model.guide_extractor], audio, audio), torch.zeros(2))
    assert (mel_loss([model.guide_extractor], audio * 0.5, audio) > 0.1).all()
    estimate = (audio * 0.5).requires_grad_()
    mel_loss([model.guide_extractor], estimate, audio).sum().backward()
    assert estimate.grad.abs().max() > 0  # the extractor's own call gives no gradient; the loss must
    batch = {"audio": audio, "spectrogram": model.guide_extractor(audio), "guide": audio * 0.5,
             "seeds": torch.arange(2)}
    loss = training_loss(model, batch)
    assert loss["mel_loss"] > 0.1
    torch.testing.assert_close(loss["loss"], loss["clean_loss"] + 2.0 * loss["mel_loss"])
    spectral_only = DiffWave(bridge_config(guide_residual=True, mel_loss_weight=2.0, clean_loss_weight=0.0))
    loss = training_loss(spectral_only, batch)
    assert loss["clean_loss"] > 0
    torch.testing.assert_close(loss["loss"], 2.0 * loss["mel_loss"])
    loss["loss"].backward()
    assert spectral_only.output_projection.weight.grad.abs().max() > 0
    with pytest.raises(ValueError, match="clean_loss_weight"):
        DiffWave(bridge_config(clean_loss_weight=0.0))
    resolutions = DiffWave(bridge_config(mel_loss_weight=1.0, mel_loss_fft_sizes=[128, 512]))
    extractors = resolutions.mel_loss_extractors()
    shapes = [(e.config.n_fft, e.config.hop_length, e.config.n_mels) for e in extractors]
    assert shapes == [(128, 32, 8), (512, 128, 32)]
    each = [mel_loss([extractor], audio * 0.5, audio) for extractor in extractors]
    torch.testing.assert_close(mel_loss(extractors, audio * 0.5, audio), (each[0] + each[1]) / 2)

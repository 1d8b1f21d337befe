"""Sub-bands and PriorGrad's prior: the block DCT, the noise scale per frame and per band, and both
processes drawing their noise through it."""
import math

import pytest
import torch

from gradwave.common.mel import MelConfig
from diffwave.bands import band_basis, to_bands
from diffwave.config import DiffWaveModelConfig, PriorConfig, TrainingStatistics
from diffwave.inference import vocode
from diffwave.model import DiffWave
from diffwave.prior import NoisePrior, band_std, frame_energy_range, mel_band_map, prior_std
from diffwave.schedules import noise_levels

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
    config = DiffWaveModelConfig(**TINY, prior=PriorConfig(enabled=True, energy_max=4.0))
    # frame energies sqrt(sum exp(mel)) of 1, 2.25 and 10 (clamped to 4) over 16 bands
    energy = torch.tensor([1.0, 2.25, 10.0])
    mel = torch.log(energy ** 2 / 16).view(1, 1, 3).expand(1, 16, 3)
    std = prior_std(mel, config, 0.5)
    assert std.shape == (1, 3 * 64)
    expected = torch.tensor([max((1 - 0.5) / 3.5, 0.1), (2.25 - 0.5) / 3.5, 1.0])
    torch.testing.assert_close(std[0, ::64], expected)
    assert torch.equal(std[0, :64], std[0, :1].expand(64))
    low, high = frame_energy_range([mel[0]])
    assert low == pytest.approx(1.0) and high == pytest.approx(10.0)
    quiet = prior_std(torch.full((1, 16, 2), math.log(1e-5)), config, 0.5)
    assert torch.all(quiet == 0.1)


def test_prior_grad_sampling_starts_from_the_training_noise_scale(monkeypatch):
    """Training scales the noise by prior_std; the sampler must start from (and add) noise of the
    same per-frame scale. With a denoiser that predicts nothing, one step shows the start noise."""
    config = DiffWaveModelConfig(**TINY, prior=PriorConfig(enabled=True, energy_max=8.0))
    model = DiffWave(config, statistics=TrainingStatistics(prior_energy_min=0.0)).eval()
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


def test_band_prior_shapes_the_noise_spectrum_and_whitens_back():
    bands = 8
    mel_config = MelConfig(sample_rate=22050, n_mels=16, hop_length=64, n_fft=256, win_length=256, f_max=8000.0)
    mapping = mel_band_map(mel_config, bands)
    assert mapping[0] == 0 and mapping[-1] == round(7500 / (22050 / 16)) and mapping == sorted(mapping)
    config = DiffWaveModelConfig(**TINY, prior=PriorConfig(enabled=True, energy_max=4.0, bands=bands))
    low = torch.tensor(mapping) < 2  # a frame whose energy lies in the two lowest bands (below ~2 kHz)
    mel = torch.where(low, torch.tensor(math.log(2.0)), torch.tensor(math.log(1e-5))).float().view(1, 16, 1)
    mel = mel.expand(1, 16, 40)
    std = band_std(mel, config, 0.0, mapping)
    assert std.shape == (1, bands, 40 * 64 // bands)
    # band 0's energy: sqrt(2 per bin x its bins) over the energy max 4; the top band is silent: the floor
    assert float(std[0, 0, 0]) == pytest.approx(math.sqrt(2 * mapping.count(0)) / 4)
    assert float(std[0, -1, 0]) == pytest.approx(0.1)
    prior = NoisePrior(std, band_basis(bands))
    white = torch.randn(1, 40 * 64, generator=torch.Generator().manual_seed(0))
    shaped = prior.shape(white)
    torch.testing.assert_close(prior.whiten(shaped), to_bands(white, band_basis(bands)), atol=1e-5, rtol=0)
    power = torch.fft.rfft(shaped[0]).abs().pow(2)
    cut = int(len(power) * 2000 / 11025)
    assert float(power[:cut].mean()) > 4 * float(power[cut:].mean())  # floor 0.1 and block leakage limit it
    model = DiffWave(config, mel_config)
    torch.testing.assert_close(model.noise_prior(mel).std, std)
    assert vocode(mel, model.eval()).shape == (1, 40 * 64)
    with pytest.raises(ValueError, match="mel config"):
        DiffWave(config)


def test_bands_and_prior_train_together():
    torch.manual_seed(0)
    config = DiffWaveModelConfig(**TINY, bands=2, prior=PriorConfig(enabled=True))
    model = DiffWave(config, statistics=TrainingStatistics(prior_energy_min=0.05))
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    batch = {"audio": torch.sin(torch.arange(16 * 64) * 0.3).repeat(2, 1) * 0.5,
             "spectrogram": torch.zeros(2, 16, 16), "seeds": torch.tensor([1, 2])}
    losses = []
    for _ in range(40):
        out = model.compute_loss(batch)
        assert set(out) == {"loss"}
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["loss"].detach()))
    assert sum(losses[-5:]) < sum(losses[:5])


def test_a_mel_far_outside_audio_gives_finite_scales():
    """exp(mel) would overflow to inf and the per-band product to NaN; the scales saturate as they would."""
    config = DiffWaveModelConfig(**TINY, prior=PriorConfig(enabled=True, energy_max=4.0, bands=8))
    from diffwave.prior import band_std, prior_std

    mel = torch.full((1, 16, 3), -3.0)
    mel[0, 2, 1] = 160.0
    for std in (prior_std(mel, config, 0.01), band_std(mel, config, 0.01, [k // 2 for k in range(16)])):
        assert torch.isfinite(std).all() and float(std.max()) == 1.0

"""The bridge process (bridge.py): a Brownian bridge from the mel's Griffin-Lim guide to the recording,
its checks, its training input and loss (with the log-mel term), and its sampler."""
import dataclasses

import pytest
import torch

from gradwave.common.mel import MelConfig
from gradwave.common.sampling import generator_draws
from diffwave.bridge import bridge_point, bridge_time, guide_waveform, reverse, training_loss
from diffwave.config import BridgeConfig, DiffWaveModelConfig
from diffwave.inference import vocode
from diffwave.model import DiffWave
from diffwave.prior import NoisePrior
from diffwave.spectral_loss import mel_loss

TINY = dict(residual_layers=2, residual_channels=8, dilation_cycle_length=2, n_mels=16, hop_samples=64)
MEL = MelConfig(n_mels=16, hop_length=64, n_fft=256, win_length=256)


def bridge_config(**options) -> DiffWaveModelConfig:
    """A tiny bridge model's config; `options` are fields of its bridge section."""
    return DiffWaveModelConfig(**TINY, bands=2, process="bridge",
                               bridge=BridgeConfig(**{"guide_iterations": 4, **options}))


def bridge(**options) -> DiffWave:
    return DiffWave(bridge_config(**options), MEL)


def test_the_guide_is_an_input_of_the_network_and_checked():
    with pytest.raises(ValueError, match="mel config"):
        DiffWave(bridge_config())
    with pytest.raises(ValueError, match="bridge.guide_iterations"):
        DiffWave(bridge_config(guide_iterations=0), MEL)
    with pytest.raises(ValueError, match="conditional diffwave and convnext backbones"):
        DiffWave(dataclasses.replace(bridge_config(), backbone="wavenet", bands=1), MEL)
    for option in (dict(guide_iterations=4), dict(guide_residual=True), dict(mel_loss_weight=1.0)):
        with pytest.raises(ValueError, match="belongs to process 'bridge'"):
            DiffWave(DiffWaveModelConfig(**TINY, bridge=BridgeConfig(**option)), MEL)
    model = bridge().eval()
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
    """With `bridge.guide_residual` the (zero-initialised) network outputs the guide itself, so the sampler ends
    on Griffin-Lim's audio of the mel, whatever its step count."""
    with pytest.raises(ValueError, match="process"):
        DiffWave(dataclasses.replace(bridge_config(), process="ode"), MEL)
    with pytest.raises(ValueError, match="bridge.steps"):
        bridge(steps=51)
    model = bridge(guide_residual=True).eval()
    mel = torch.randn(1, 16, 6) - 3
    guide = guide_waveform(model, mel)
    assert guide.abs().max() > 0
    out = model.denoise(torch.randn(1, 6 * 64), torch.tensor([3]), model.condition(mel))
    torch.testing.assert_close(out.squeeze(1), guide)
    for steps in (None, 1, 4):
        audio = vocode(mel, model, steps=steps, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(audio, guide.clamp(-1, 1), atol=1e-5, rtol=0)


def test_bridge_point_runs_from_the_recording_to_the_guide():
    clean, guide, noise = torch.randn(3, 4000), torch.randn(3, 4000), torch.randn(3, 4000)
    time = bridge_time(torch.tensor([49, 24, 0]), 50).unsqueeze(1)
    torch.testing.assert_close(time.squeeze(1), torch.tensor([1.0, 0.5, 0.02]))
    point = bridge_point(clean, guide, time, noise, 0.4)
    torch.testing.assert_close(point[0], guide[0])
    torch.testing.assert_close(point[1], 0.5 * clean[1] + 0.5 * guide[1] + 0.2 * noise[1])
    torch.testing.assert_close(point[2], 0.98 * clean[2] + 0.02 * guide[2] + 0.4 * (0.02 * 0.98) ** 0.5 * noise[2])


def test_bridge_training_input_lies_on_the_bridge_at_the_step_it_is_told():
    model = bridge(noise=0.0)
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

    clean, guide = torch.rand(2, 640) - 0.5, torch.rand(2, 640) - 0.5
    visits = []

    def denoise(audio, step, conditioning):
        visits.append((audio.clone(), float(step[0])))
        return clean.unsqueeze(1)

    for noise in (0.0, 0.5):
        visits.clear()
        oracle = SimpleNamespace(alpha_bar=torch.ones(50), config=SimpleNamespace(bridge=SimpleNamespace(noise=noise)),
                                 denoise=denoise)
        draw = generator_draws(guide.shape, torch.Generator().manual_seed(0), torch.device("cpu"))
        out = reverse(oracle, None, NoisePrior(), guide, 5, draw, torch.autocast("cpu", enabled=False))
        torch.testing.assert_close(out, clean)
        assert [step for _, step in visits] == pytest.approx([49, 39, 29, 19, 9])
        if noise == 0:
            for (audio, step), t in zip(visits, (1.0, 0.8, 0.6, 0.4, 0.2)):
                torch.testing.assert_close(audio, (1 - t) * clean + t * guide)


def test_mel_loss_is_zero_for_the_recording_and_checked():
    model = bridge(guide_residual=True, mel_loss_weight=2.0)
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
    spectral_only = bridge(guide_residual=True, mel_loss_weight=2.0, clean_loss_weight=0.0)
    loss = training_loss(spectral_only, batch)
    assert loss["clean_loss"] > 0
    torch.testing.assert_close(loss["loss"], 2.0 * loss["mel_loss"])
    loss["loss"].backward()
    assert spectral_only.output_projection.weight.grad.abs().max() > 0
    with pytest.raises(ValueError, match="bridge.clean_loss_weight"):
        bridge(clean_loss_weight=0.0)
    assert [e.config for e in bridge(mel_loss_weight=1.0).loss_extractors] == [MEL]
    extractors = bridge(mel_loss_weight=1.0, mel_loss_fft_sizes=[128, 512]).loss_extractors
    shapes = [(e.config.n_fft, e.config.hop_length, e.config.n_mels) for e in extractors]
    assert shapes == [(128, 32, 8), (512, 128, 32)]
    each = [mel_loss([extractor], audio * 0.5, audio) for extractor in extractors]
    torch.testing.assert_close(mel_loss(extractors, audio * 0.5, audio), (each[0] + each[1]) / 2)


def test_the_guide_is_the_griffin_lim_of_the_mel_and_not_in_the_weights():
    """The model keeps its Griffin-Lim (bases built once) outside its state dict, so checkpoints written before
    load unchanged, and its guide is `griffin_lim` of the mel from phase seed 0."""
    from gradwave.common.griffin_lim import griffin_lim
    from gradwave.common.mel import MelSpectrogram

    model = bridge()
    assert not [key for key in model.state_dict() if "griffin_lim" in key or "guide_extractor" in key]
    mel = torch.randn(2, 16, 6) - 3
    expected = griffin_lim(mel, MelSpectrogram(MEL), n_iter=4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(guide_waveform(model, mel), expected, atol=0, rtol=0)


def test_the_sampler_can_start_from_a_guide_of_more_iterations_than_training_had(monkeypatch):
    """`bridge.sampling_guide_iterations` sets the guide the sampler (and the network's conditioning) starts
    from; training's guide keeps `bridge.guide_iterations`."""
    from gradwave.common.griffin_lim import griffin_lim
    from gradwave.common.mel import MelSpectrogram

    with pytest.raises(ValueError, match="sampling_guide_iterations"):
        bridge(sampling_guide_iterations=-1)
    model = bridge(sampling_guide_iterations=9, mel_loss_weight=1.0)
    mel = torch.randn(1, 16, 6) - 3
    reference = {n: griffin_lim(mel, MelSpectrogram(MEL), n_iter=n, generator=torch.Generator().manual_seed(0))
                 for n in (4, 9)}
    assert not torch.allclose(reference[4], reference[9])
    torch.testing.assert_close(guide_waveform(model, mel), reference[9], atol=0, rtol=0)
    torch.testing.assert_close(model.condition(mel).guide, model.to_bands(reference[9]), atol=0, rtol=0)
    seen = []
    monkeypatch.setattr(model, "forward", lambda noisy, step, mel, guide: seen.append(guide) or noisy.unsqueeze(1))
    training_loss(model, {"audio": torch.randn(1, 6 * 64), "spectrogram": mel})
    torch.testing.assert_close(seen[0], reference[4], atol=0, rtol=0)
    assert bridge().guide_griffin_lim.iterations == 4  # 0: the sampler's guide is training's

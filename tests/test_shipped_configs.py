"""The shipped DiffWave configs (the LJSpeech recipe's demo and full vocoders, the SC09 demos and the SC09
schedules) keep their behaviour: a fixed seed gives the training loss and the sampler output recorded in
`data/shipped_diffwave_behaviour.pt` by the code before the DiffWave clean-up (weights initialised from
seed 0, then perturbed from seed 1 so that the sampler does more than return its start)."""
import json
from pathlib import Path

import pytest
import torch

from common.config import apply_overrides, from_dict, to_dict
from common.mel import MelSpectrogram
from diffwave.build import build_model
from diffwave.config import DiffWaveConfig, DiffWaveModelConfig, TrainingStatistics
from diffwave.inference import vocode
from diffwave.prior import frame_energy_range
from diffwave.schedules import noise_levels, schedule_for
from grad_tts.config import GradTTSConfig

REPO = Path(__file__).resolve().parents[1]

RECORDED = torch.load(REPO / "tests" / "data" / "shipped_diffwave_behaviour.pt", weights_only=True)


def audio_batch(samples: int, count: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    t = torch.arange(samples) / 16000
    rows = []
    for k in range(count):
        f = 150 + 70 * k
        x = (0.3 * torch.sin(2 * torch.pi * f * t) + 0.1 * torch.sin(2 * torch.pi * 3.1 * f * t)
             + 0.02 * torch.randn(samples, generator=generator))
        rows.append(x * (0.5 + 0.5 * torch.sin(2 * torch.pi * 2 * t)))
    return torch.stack(rows)


def perturbed(config: DiffWaveModelConfig, scale: float, mel=None, statistics=None):
    torch.manual_seed(0)
    model = build_model(config, mel, statistics)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model


def check(name: str, model, batch: dict, mel) -> None:
    loss = model.compute_loss(batch)["loss"].detach()
    torch.testing.assert_close(loss, RECORDED[name]["loss"], rtol=1e-5, atol=1e-6)
    generator = torch.Generator().manual_seed(0)
    audio = vocode(mel, model.eval(), n_samples=None if mel is not None else 16000, generator=generator)
    torch.testing.assert_close(audio, RECORDED[name]["audio"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, conf", [("ljspeech_demo", "demo_diffwave"), ("ljspeech", "diffwave")])
def test_ljspeech_vocoders_unchanged(name, conf):
    mel = GradTTSConfig().mel
    data = json.loads((REPO / "recipes" / "ljspeech" / "conf" / f"{conf}.json").read_text())
    config = from_dict(DiffWaveConfig, {"model": data["model"], "mel": to_dict(mel)})
    config = apply_overrides(config, [f"model.n_mels={mel.n_mels}", f"model.hop_samples={mel.hop_length}",
                                      f"model.sample_rate={mel.sample_rate}"])
    audio = audio_batch(32 * mel.hop_length)
    mels = MelSpectrogram(mel)(audio)[..., :32]
    statistics = TrainingStatistics(prior_energy_min=frame_energy_range(list(mels))[0])
    model = perturbed(config.model, 0.05 if config.model.process == "bridge" else 0.003, mel, statistics)
    check(name, model, {"audio": audio, "spectrogram": mels, "seeds": torch.tensor([3, 5])}, mels[:1])


@pytest.mark.parametrize("conf", ["demo_wavenet", "demo_sashimi"])
def test_sc09_demos_unchanged(conf):
    data = json.loads((REPO / "recipes" / "sc09" / "conf" / f"{conf}.json").read_text())
    model = perturbed(from_dict(DiffWaveModelConfig, data["model"]), 0.003)
    check(f"sc09_{conf}", model, {"audio": audio_batch(16000), "seeds": torch.tensor([3, 5])}, None)


@pytest.mark.parametrize("conf", ["wavenet", "sashimi"])
def test_sc09_schedules_unchanged(conf):
    data = json.loads((REPO / "recipes" / "sc09" / "conf" / f"{conf}.json").read_text())
    config = from_dict(DiffWaveModelConfig, data["model"])
    recorded = RECORDED[f"sc09_{conf}"]
    torch.testing.assert_close(noise_levels(config), recorded["alpha_bar"])
    schedule = schedule_for(config)
    torch.testing.assert_close(torch.tensor(schedule.steps), recorded["fast_steps"])
    torch.testing.assert_close(torch.tensor(schedule.beta), recorded["fast_beta"])

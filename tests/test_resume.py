"""Resume means resume: the run's own config, the configured learning rate, a clear error for weights
that do not fit, RNG states that fit the machine, and sample writing that does not move the RNG."""
import pytest
import torch
from corpus import make_ljspeech

from gradwave.common.checkpoint import restore_cuda_rng
from gradwave.common.config import ConfigError, to_dict
from gradwave.common.filelists import read_corpus
from gradwave.common.mel import MelConfig
from gradwave.common.trainer import Trainer, TrainingTask
from diffwave.checkpoint import load_diffwave
from diffwave.config import DiffWaveModelConfig, DiffWaveTrainConfig
from diffwave.data import AudioMelDataset, collate
from diffwave.model import DiffWave
from diffwave.train import main as train_main

TINY = dict(residual_layers=2, residual_channels=4, dilation_cycle_length=1, n_mels=80)
TINY_SETS = ["--set", "model.residual_layers=2", "--set", "model.residual_channels=4", "--set",
             "model.dilation_cycle_length=1", "--set", "train.batch_size=2", "--set", "train.num_workers=0",
             "--set", "train.crop_mel_frames=8", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_ljspeech(tmp_path_factory.mktemp("resume"), n=6)


class DropoutLikeDiffWave(DiffWave):
    """Its loss draws from the global RNG, as dropout does (Grad-TTS's encoder has it)."""

    def compute_loss(self, batch):
        out = super().compute_loss(batch)
        return {**out, "loss": out["loss"] * (1 + 0.5 * torch.rand(()))}


def task(corpus, draws: list, **train):
    config = DiffWaveTrainConfig(**{"batch_size": 2, "num_workers": 0, "checkpoint_every": 2, "sample_every": 2,
                                    **train})
    dataset = AudioMelDataset(read_corpus(corpus / "wavs"), MelConfig(n_mels=80), crop_frames=8)

    def write_samples(model, writer, step):  # like the real writers: draws noise from the global RNG
        draws.append(float(torch.randn(64).sum()))

    return TrainingTask("diffwave", DropoutLikeDiffWave(DiffWaveModelConfig(**TINY)), dataset, collate, config,
                        {"config": {}, "mel": None}, write_samples=write_samples)


def test_resume_is_exact_with_samples_written_at_checkpoints(corpus, tmp_path):
    def run(out, steps, resume=None):
        torch.manual_seed(0)
        draws = []
        trainer = Trainer(task(corpus, draws), out, device="cpu", resume=resume, progress=False)
        return trainer, trainer.train(steps), draws

    straight, values, draws = run(tmp_path / "a", 6)
    run(tmp_path / "b", 4)
    resumed, again, _ = run(tmp_path / "b", 6, resume=tmp_path / "b" / "last.pt")
    assert len(draws) == 3  # the writer did run at each checkpoint
    assert values["loss"] == pytest.approx(again["loss"], rel=1e-6)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6)


def test_resume_applies_the_configured_learning_rate(corpus, tmp_path, caplog):
    caplog.set_level("INFO")
    Trainer(task(corpus, [], learning_rate=1e-3), tmp_path, device="cpu", progress=False).train(2)
    trainer = Trainer(task(corpus, [], learning_rate=5e-5), tmp_path, device="cpu", resume=tmp_path / "last.pt",
                      progress=False)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(5e-5)
    assert "learning rate 5e-05 from the config (the checkpoint's optimizer had 0.001)" in caplog.text


def test_cli_resume_rebuilds_the_saved_model_and_refuses_one_that_does_not_fit(corpus, tmp_path, caplog):
    caplog.set_level("INFO")
    out = tmp_path / "exp"
    data = str(corpus / "wavs")
    assert train_main([data, "--out", str(out), *TINY_SETS, "--max-steps", "2"]) == 0
    # no --config and no model --set: the run's own config.json, not the full-size defaults
    assert train_main([data, "--out", str(out), "--resume", "--max-steps", "3", "--no-progress"]) == 0
    model, ckpt = load_diffwave(out / "last.pt")
    assert ckpt["step"] == 3 and model.config.residual_channels == 4
    assert "resuming with the run's own config" in caplog.text
    caplog.clear()
    assert train_main([data, "--out", str(out), "--resume", "--max-steps", "4", "--no-progress",
                       "--set", "train.learning_rate=1e-5"]) == 0
    assert "differs from" in caplog.text and "train.learning_rate: 0.0002 -> 1e-05" in caplog.text
    caplog.clear()
    assert train_main([data, "--out", str(out), "--resume", "--max-steps", "5", "--no-progress",
                       "--set", "model.residual_channels=8"]) == 1
    assert "its weights do not fit the model this config builds" in caplog.text
    assert "Traceback" not in caplog.text


def test_cuda_rng_restores_what_fits(caplog):
    states = [torch.full((4,), i, dtype=torch.uint8) for i in range(4)]
    restored = []
    restore_cuda_rng(states, 2, lambda state, index: restored.append((index, int(state[0]))))
    assert restored == [(0, 0), (1, 1)]
    assert "RNG states of 4 GPUs, this machine has 2" in caplog.text
    restored.clear()
    restore_cuda_rng(states[:1], 2, lambda state, index: restored.append(index))
    assert restored == [0]


def test_weight_average_follows_its_formula_survives_resume_and_is_what_loaders_use(corpus, tmp_path):
    def run(out, steps, resume=None):
        torch.manual_seed(0)
        return Trainer(task(corpus, [], ema_decay=0.75), out, device="cpu", resume=resume, progress=False)

    trainer = run(tmp_path / "a", 1)
    weights = [{n: p.detach().clone() for n, p in trainer.model.named_parameters()}]
    for steps in (1, 2):
        trainer.train(steps)
        weights.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})
    for name, value in trainer.ema.items():
        expected = 0.75 * (0.75 * weights[0][name] + 0.25 * weights[1][name]) + 0.25 * weights[2][name]
        torch.testing.assert_close(value, expected)
    assert not torch.equal(trainer.ema["output_projection.weight"], weights[2]["output_projection.weight"])

    straight = run(tmp_path / "b", 0)
    straight.train(6)
    run(tmp_path / "c", 0).train(4)
    resumed = run(tmp_path / "c", 0, resume=tmp_path / "c" / "last.pt")
    resumed.train(6)
    for name, value in straight.ema.items():
        torch.testing.assert_close(value, resumed.ema[name], atol=1e-7, rtol=1e-6)

    saved = torch.load(tmp_path / "c" / "last.pt", weights_only=True)
    saved["config"] = to_dict(DiffWaveModelConfig(**TINY))  # what diffwave.train would have stored
    torch.save(saved, tmp_path / "described.pt")
    model, _ = load_diffwave(tmp_path / "described.pt")
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved["ema"][name])
    assert set(saved["ema"]) == set(saved["model"])
    assert any(not torch.equal(saved["ema"][k], saved["model"][k]) for k in saved["model"])


def test_no_weight_average_unless_asked(corpus, tmp_path):
    Trainer(task(corpus, []), tmp_path, device="cpu", progress=False).train(2)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["ema"] is None
    with pytest.raises(ConfigError, match="train.ema_decay"):
        DiffWaveTrainConfig(ema_decay=1.0)

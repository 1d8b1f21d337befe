"""One seed, one model: two runs of the same training command log the same losses and write the
same weights, for both models; another seed gives another model."""
import pytest
import torch
from corpus import make_ljspeech
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gradwave.common.checkpoint import load_checkpoint
from diffwave.train import main as diffwave_train
from grad_tts.train import main as grad_tts_train

COMMON = ["--set", "train.num_workers=0", "--set", "train.log_every=1", "--set", "train.sample_every=1000",
          "--max-steps", "3", "--no-progress"]
GRAD_TTS = ["--set", "model.n_enc_channels=16", "--set", "model.filter_channels=32", "--set",
            "model.filter_channels_dp=16", "--set", "model.n_enc_layers=1", "--set", "model.dec_dim=8",
            "--set", "train.batch_size=2", "--set", "train.segment_frames=40"]
DIFFWAVE = ["--set", "model.residual_layers=2", "--set", "model.residual_channels=4", "--set",
            "train.batch_size=2", "--set", "train.crop_mel_frames=8"]
TRAINERS = {"grad_tts": (grad_tts_train, GRAD_TTS), "diffwave": (diffwave_train, DIFFWAVE)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_ljspeech(tmp_path_factory.mktemp("lj"), n=6)


def logged_losses(out) -> dict[str, list[float]]:
    events = EventAccumulator(str(out / "logs"))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
            if tag.startswith("train/") and "loss" in tag}


def train(kind, corpus, out, seed):
    main, arguments = TRAINERS[kind]
    assert main([str(corpus), "--out", str(out), *arguments, *COMMON, "--set", f"train.seed={seed}"]) == 0
    return logged_losses(out), load_checkpoint(out / "last.pt", kind)["model"]


@pytest.mark.parametrize("kind", sorted(TRAINERS))
def test_one_seed_gives_one_model(kind, corpus, tmp_path):
    torch.manual_seed(12345)  # what ran before must not matter
    losses_a, weights_a = train(kind, corpus, tmp_path / "a", seed=7)
    torch.manual_seed(54321)
    losses_b, weights_b = train(kind, corpus, tmp_path / "b", seed=7)
    assert losses_a and all(len(v) == 3 for v in losses_a.values())
    assert losses_a == losses_b
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)

    losses_c, weights_c = train(kind, corpus, tmp_path / "c", seed=8)
    assert losses_c != losses_a
    assert not all(torch.equal(weights_a[k], weights_c[k]) for k in weights_a)

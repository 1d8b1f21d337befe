"""The trainers' periodic validation samples in TensorBoard: audio, and its DNSMOS as a scalar (a run's
naturalness curve without a separate evaluation)."""
import pytest
from corpus import make_ljspeech
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_reproducible import TRAINERS

pytest.importorskip("speechmos", reason="DNSMOS needs speechmos (pip install -e .[eval])")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_ljspeech(tmp_path_factory.mktemp("lj"), n=6)


@pytest.mark.parametrize("kind", sorted(TRAINERS))
def test_samples_carry_audio_and_dnsmos(kind, corpus, tmp_path):
    main, arguments = TRAINERS[kind]
    assert main([str(corpus), "--out", str(tmp_path), *arguments, "--set", "train.num_workers=0",
                 "--set", "train.sample_every=2", "--max-steps", "2", "--no-progress"]) == 0
    events = EventAccumulator(str(tmp_path / "logs"))
    events.Reload()
    assert events.Tags()["audio"]
    for name in ("valid/dnsmos_p808", "valid/dnsmos_ovrl"):
        (point,) = events.Scalars(name)
        assert point.step == 2 and 1.0 <= point.value <= 5.0

"""CPU-dependent choices made by measurement: timed once, remembered per CPU and torch version, forced
choices honoured, and bf16 never where the CPU does not compute it natively."""
import json
import time

import pytest
import torch

from gradwave.common import autotune, precision
from gradwave.common.precision import choose_precision


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADWAVE_CACHE_DIR", str(tmp_path))
    return tmp_path / autotune.CACHE_FILE


def refuse(*_):
    raise AssertionError("timed although the choice was known")


def test_the_cache_is_written_once_and_read_after(cache):
    runs = []

    def work(label, seconds):
        return lambda: runs.append(label) or time.sleep(seconds)

    assert autotune.fastest("work", {"slow": work("slow", 0.02), "quick": work("quick", 0.0)}) == "quick"
    assert runs.count("slow") == runs.count("quick") == 4  # a warm-up and three timings each
    (key, choice), = json.loads(cache.read_text()).items()
    assert choice == "quick" and "work" in key and torch.__version__ in key
    assert autotune.fastest("work", {"slow": refuse, "quick": refuse}) == "quick"
    assert autotune.fastest("other work", {"a": work("a", 0.02), "b": work("b", 0.0)}) == "b"
    assert len(json.loads(cache.read_text())) == 2


def test_forced_precisions_are_honoured_without_timing(cache):
    for forced in ("fp32", "bf16"):
        assert choose_precision(forced, "cpu", "model", refuse) == forced
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        choose_precision("fp16", "cpu", "model", refuse)
    assert not cache.exists()


def test_a_cpu_without_native_bf16_never_gets_it(cache, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert choose_precision("auto", "cpu", "model", refuse) == "fp32"
    assert not cache.exists()


@pytest.mark.parametrize("faster", ["fp32", "bf16"])
def test_auto_takes_the_faster_where_bf16_is_native(cache, monkeypatch, faster):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert choose_precision("auto", "cpu", f"model {faster}",
                            lambda p: time.sleep(0.0 if p == faster else 0.02)) == faster


def test_training_amp_auto_is_measured_where_bf16_is_native(cache, monkeypatch, tmp_path):
    """`train.amp = "auto"`: timed on the first batch and remembered where the CPU has native bf16 (elsewhere
    `autocast_dtype` makes it fp32, test_diffwave)."""
    from corpus import make_ljspeech
    from test_reproducible import TRAINERS

    from gradwave.common import trainer

    monkeypatch.setattr(trainer, "native_bf16", lambda device: True)
    main, arguments = TRAINERS["diffwave"]
    corpus = make_ljspeech(tmp_path / "corpus", n=4)
    assert main([str(corpus), "--out", str(tmp_path / "out"), *arguments, "--set", "train.num_workers=0",
                 "--set", "train.amp=auto", "--max-steps", "2", "--no-progress"]) == 0
    chosen = json.loads(cache.read_text()) if cache.exists() else {}
    training = [choice for key, choice in chosen.items() if "training precision of diffwave" in key]
    assert len(training) == 1 and set(training) <= {"none", "bf16"}

"""Training under torchrun and PyTorch DDP (2 processes, gloo): the gradients equal one process's on the
same global batch, for Grad-TTS (unequal lengths: the losses are normalised by global counts), Grad-TTS
training its encoder alone (the decoder frozen, none of its gradients awaited) and DiffWave;
time-limited processes stop at the same step; a global batch that does not divide is refused. One torchrun
launch does all of it (tests/ddp_worker.py), one plain process gives the single-process gradients."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from corpus import make_ljspeech, make_wav

REPO = Path(__file__).resolve().parents[1]
WORKER = str(REPO / "tests" / "ddp_worker.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    text_corpus = root / "unequal"
    texts = ["Yes.", "The same words, and then a good many more of them.", "A middle one here.", "No, not that."]
    for i, text in enumerate(texts):
        make_wav(text_corpus / "wavs" / f"u{i}.wav", 0.5 + 0.06 * len(text), seed=i)
    (text_corpus / "metadata.csv").write_text("".join(f"u{i}|{t}|{t}\n" for i, t in enumerate(texts)))
    wavs = make_ljspeech(root / "dw", n=10) / "wavs"
    out = root / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", "OMP_NUM_THREADS": "1"}
    paths = [str(text_corpus), str(wavs), str(out)]
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                               "--master_port", "29531", WORKER, "ddp", *paths],
                              env=env, capture_output=True, text=True, timeout=300)
    assert launched.returncode == 0, launched.stderr[-3000:]
    subprocess.run([sys.executable, WORKER, "single", *paths], check=True, env=env, timeout=300)
    return out


@pytest.mark.parametrize("kind", ["grad_tts", "diffwave", "grad_tts_encoder_only"])
def test_ddp_gradients_equal_single_process(runs, kind):
    ddp, single = (torch.load(runs / f"{mode}_{kind}.pt", weights_only=True) for mode in ("ddp", "single"))
    assert ddp["grads"].keys() == single["grads"].keys()
    if kind.startswith("grad_tts"):  # the encoder-only run's decoder gets no gradient, in either mode
        assert any(name.startswith("decoder.") for name in ddp["grads"]) == (kind == "grad_tts")
    for name, grad in single["grads"].items():
        torch.testing.assert_close(ddp["grads"][name], grad, atol=1e-6, rtol=1e-4, msg=name)


def test_time_limited_processes_stop_together(runs):
    # rank 1 starts its clock a second late: each rank deciding alone would leave one waiting
    # in a gradient all-reduce that the other never joins
    steps = [int((runs / f"rank{r}.txt").read_text()) for r in (0, 1)]
    assert steps[0] == steps[1] > 0


def test_global_batch_must_divide_among_processes(runs):
    assert (runs / "indivisible.txt").read_text() == \
        "train.batch_size 3 is the global batch and must divide among 2 processes"

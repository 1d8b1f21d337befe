import csv
import json
import importlib.util

import pytest
from corpus import make_wav
from tiny_checkpoints import write_tiny_checkpoints

from bench.samplers import main as samplers_main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pystoi") is None,
                                reason="evaluation extras not installed (pip install -e .[eval])")


def test_tiny_sampler_table(tmp_path):
    root = write_tiny_checkpoints(tmp_path)
    lines = []
    for k, text in enumerate(["Hello there.", "A second sentence."]):
        make_wav(tmp_path / f"t{k}.wav", 1.0, seed=k)
        lines.append(f"{tmp_path / f't{k}.wav'}|{text}")
    (tmp_path / "test.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert samplers_main(["--acoustic", str(root / "acoustic.pt"), "--vocoder", str(root / "vocoder.pt"),
                          "--test", str(tmp_path / "test.txt"), "--out", str(out), "--steps", "2,8",
                          "--reference-steps", "20", "--vocoder-steps", "1", "--no-asr"]) == 0
    with (out / "grad_tts.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["sampler"], r["steps"]) for r in rows] == [(s, n) for s in ("euler", "ml", "dpm") for n in ("2", "8")]
    euler = {r["steps"]: float(r["log_mel_distance"]) for r in rows if r["sampler"] == "euler"}
    assert euler["8"] < euler["2"]  # closer to the 20-step reference with more steps
    with (out / "diffwave.csv").open() as handle:
        assert [r["schedule"] for r in csv.DictReader(handle)] == ["1 steps", "fast (6)", "fast (6), bf16", "full"]
    assert (out / "samplers.png").stat().st_size > 0 and "DiffWave" in (out / "samplers.md").read_text()


@pytest.mark.parametrize("backend", ["torch", pytest.param("onnx", marks=pytest.mark.slow)])
def test_chain_benchmark_reports_every_stage(tmp_path, backend):
    """(The onnx backend exports a voice first, 20 s more: in the slow set, `pytest -m slow`; the voice
    itself is tested in tests/test_voice.py.)"""
    from bench.chain import main as chain_main

    out = tmp_path / "chain.json"
    root = write_tiny_checkpoints(tmp_path)
    assert chain_main(["--acoustic", str(root / "acoustic.pt"), "--vocoder", str(root / "vocoder.pt"), "--steps", "2",
                       "--vocoder-steps", "2", "--threads", "1", "--repeats", "1", "--lines", "2", "--sampler", "dpm",
                       "--backend", backend, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["backend"] == backend
    assert result["rtf_chain"] == pytest.approx(result["rtf_acoustic"] + result["rtf_vocoder"], abs=2e-3)
    assert result["rtf_synthesize_py"] > 0 and result["peak_rss_mib"] > 0 and result["ids"] > 100

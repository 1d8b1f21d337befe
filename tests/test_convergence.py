import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest
from corpus import make_ljspeech

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from convergence import main as convergence_main, plan, rows_to_continue  # noqa: E402

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pocketsphinx") is None,
                                reason="evaluation extras not installed (pip install -e .[eval])")


def test_plan_splits_the_budget():
    sequential = plan(10, 4, "sequential", 0.5, None)
    assert [(s.grad_tts, s.diffwave) for s in sequential] == [(4, 0), (1, 3), (0, 2)]
    parallel = plan(10, 5, "parallel", 0.5, None)
    assert [(s.grad_tts, s.diffwave) for s in parallel] == [(5, 5), (5, 5)]
    assert [(s.grad_tts, s.diffwave) for s in plan(2, 1, "sequential", 0.5, "diffwave")] == [(0, 1), (0, 1)]


def test_tiny_curve_writes_csv_and_plot(tmp_path):
    corpus = make_ljspeech(tmp_path / "lj", n=8)
    rows = [line.split("|") for line in (corpus / "metadata.csv").read_text().splitlines()]
    data = tmp_path / "prepared"
    data.mkdir()
    for name, part in (("train", rows[:6]), ("valid", rows[6:7]), ("test", rows[7:8])):
        (data / f"{name}.txt").write_text("".join(f"{corpus / 'wavs' / (uid + '.wav')}|{text}\n"
                                                  for uid, text, _ in part))
    (tmp_path / "gt.json").write_text(json.dumps({
        "model": {"n_enc_channels": 16, "filter_channels": 32, "filter_channels_dp": 16, "n_enc_layers": 1,
                  "dec_dim": 8},
        "train": {"batch_size": 2, "max_steps": 2, "segment_frames": 40, "num_workers": 0, "sample_every": 100},
        "inference": {"timesteps": 2}}))
    (tmp_path / "dw.json").write_text(json.dumps({
        "model": {"residual_layers": 2, "residual_channels": 4, "dilation_cycle_length": 1, "bands": 2,
                  "prior": {"enabled": True}},
        "train": {"batch_size": 2, "max_steps": 2, "crop_mel_frames": 8, "num_workers": 0, "sample_every": 100}}))
    out = tmp_path / "curve"
    args = ["--data", str(data), "--out", str(out), "--every", "0.5", "--grad-tts-conf", str(tmp_path / "gt.json"),
            "--diffwave-conf", str(tmp_path / "dw.json"), "--schedule", "parallel"]
    assert convergence_main(args + ["--minutes", "0.5"]) == 0
    with (out / "curve.csv").open() as handle:
        assert [float(r["minutes"]) for r in csv.DictReader(handle)] == [0.5]
    assert convergence_main(args + ["--minutes", "1", "--continue"]) == 0
    with (out / "curve.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [float(r["minutes"]) for r in table] == [0.5, 1.0]
    last = table[-1]
    assert last["grad_tts_step"] == "2" and last["diffwave_step"] == "2"
    for key in ("encoder_griffin_lim_wer", "griffin_lim_wer", "diffwave_wer", "copy_wer", "copy_stoi",
                "recordings_wer"):
        assert 0.0 <= float(last[key]) <= 5.0, key
    assert (out / "curve.png").stat().st_size > 1000
    assert len(list((out / "points" / "02" / "diffwave").glob("*.wav"))) == 1
    assert (out / "points" / "02" / "copy_synthesis").is_dir()


def test_continue_rewinds_to_the_last_point(tmp_path):
    from gradwave.common.checkpoint import list_step_checkpoints, make_checkpoint, read_file, save_training_checkpoint

    for step in (1, 2, 3):
        save_training_checkpoint(make_checkpoint("diffwave", {}, {}, None, step=step), tmp_path / "diffwave")
    (tmp_path / "curve.csv").write_text("minutes,grad_tts_step,diffwave_step,copy_wer\n0.5,,2,0.9000\n")
    rows = rows_to_continue(tmp_path, [0.5, 1.0])
    assert rows == [{"minutes": 0.5, "grad_tts_step": None, "diffwave_step": 2, "copy_wer": 0.9}]
    assert read_file(tmp_path / "diffwave" / "last.pt")["step"] == 2
    assert [p.name for p in list_step_checkpoints(tmp_path / "diffwave")][-1] == "ckpt_00000002.pt"
    with pytest.raises(SystemExit, match="does not give"):
        rows_to_continue(tmp_path, [0.4, 0.8])

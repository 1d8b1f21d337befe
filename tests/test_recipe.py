import csv
import json
import subprocess
from pathlib import Path

import pytest
import soundfile
from corpus import make_ljspeech

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "recipes" / "ljspeech" / "run.sh"


@pytest.fixture(scope="module")
def tiny_confs(tmp_path_factory):
    root = tmp_path_factory.mktemp("conf")
    (root / "gt.json").write_text(json.dumps({
        "model": {"n_enc_channels": 16, "filter_channels": 32, "filter_channels_dp": 16, "n_enc_layers": 1,
                  "dec_dim": 8},
        "train": {"batch_size": 2, "max_steps": 2, "segment_frames": 40, "num_workers": 0, "sample_every": 1000},
        "inference": {"timesteps": 2}}))  # synthesis of the recipe's lines is the point, not its quality
    # no validation samples: their DNSMOS takes seconds a clip (tests/test_training_samples.py covers them)
    (root / "dw.json").write_text(json.dumps({
        "model": {"residual_layers": 2, "residual_channels": 4, "dilation_cycle_length": 1},
        "train": {"batch_size": 2, "max_steps": 2, "crop_mel_frames": 8, "num_workers": 0, "sample_every": 1000}}))
    return root


def run_recipe(corpus, work, confs, *extra):
    return subprocess.run(["bash", str(RUN), "--no-setup", "--data", str(corpus), "--work", str(work),
                           "--grad-tts-conf", str(confs / "gt.json"), "--diffwave-conf", str(confs / "dw.json"),
                           *extra], capture_output=True, text=True, timeout=900)


def read_filelist_lines(work):
    return [l for l in (work / "data/prepared/train.txt").read_text().splitlines() if l.strip()]


def read_manifest(folder):
    with open(folder / "manifest.tsv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_recipe_end_to_end_and_rerun(tmp_path, tiny_confs):
    corpus = make_ljspeech(tmp_path / "LJSpeech-1.1", n=12)
    # one broken and one missing recording: reported in rejected.tsv, the rest goes on
    (corpus / "wavs" / "LJ000-0003.wav").write_bytes(b"garbage")
    (corpus / "wavs" / "LJ000-0004.wav").unlink()
    new_sentences = make_ljspeech(tmp_path / "new_sentences", n=2)
    work = tmp_path / "work"
    first = run_recipe(corpus, work, tiny_confs, "--new-sentences", str(new_sentences), "--schedule", "parallel",
                       "--minutes", "5", "--vocoder-finetune", "0.3")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # the parallel schedule trains both models at once, each bounded by the shared --minutes
    assert "train Grad-TTS and DiffWave at once" in first.stdout
    assert "Grad-TTS" in (work / "exp/grad_tts.log").read_text()
    assert json.loads((work / "exp/grad_tts/config.json").read_text())["train"]["max_minutes"] == 5
    # the vocoder's last 30% on Grad-TTS's teacher-forced mels of its clips, from what it learnt before
    assert "on the teacher-forced mels" in first.stdout
    assert json.loads((work / "exp/diffwave_recordings/config.json").read_text())["train"]["max_minutes"] == 3.5
    assert json.loads((work / "exp/diffwave/config.json").read_text())["train"]["max_minutes"] == 1.5
    assert len(list((work / "exp/teacher_forced").glob("*.npy"))) == len(read_filelist_lines(work))
    rejected = (work / "data/prepared/rejected.tsv").read_text()
    assert "LJ000-0003.wav" in rejected and "LJ000-0004.wav" in rejected
    assert "LJ000-0003.wav" in first.stderr
    lines_out = work / "exp/synth/lines_diffwave"
    rows = read_manifest(lines_out)
    lines = [l for l in (REPO / "recipes/ljspeech/lines.txt").read_text().splitlines() if l.strip()]
    assert len(rows) == len(lines)
    for row in rows:
        info = soundfile.info(str(lines_out / row["file"]))
        assert info.samplerate == 22050
        assert float(row["seconds"]) == pytest.approx(info.frames / 22050, abs=1e-3)
    by_length = sorted(rows, key=lambda r: len(r["normalized"]))
    assert float(by_length[0]["seconds"]) < float(by_length[-1]["seconds"])
    assert read_manifest(work / "exp/synth/test_griffin_lim")
    assert len(read_manifest(work / "exp/synth/new_sentences_diffwave")) == 2

    # stage 5 scores each split, the held-out new_sentences first, DNSMOS beside WER
    report = (work / "exp/eval/report.md").read_text()
    assert report.index("## Evaluation: new_sentences") < report.index("## Evaluation: the corpus's test split")
    assert report.count("| recordings |") == 2 and report.count("fine structure (model mel)") == 2
    assert report.count("| grad_tts+diffwave |") == 4  # its scores and its detail ratios, in each split
    assert "DNSMOS P.808" in report
    results = json.loads((work / "exp/eval/new_sentences/results.json").read_text())
    for system in ("grad_tts+griffin_lim", "grad_tts+diffwave"):
        assert len(results["systems"][system]["intelligibility"]["utterances"]) == 2
        assert 1 <= results["systems"][system]["quality"]["p808"] <= 5
    assert "copy_synthesis" in json.loads((work / "exp/eval/test/results.json").read_text())
    again = run_recipe(corpus, work, tiny_confs)
    assert again.returncode == 0
    for stage in range(6):
        assert f"stage {stage} (" in again.stdout and "done before, skipping" in again.stdout


def test_recipe_without_data_says_what_to_do(tmp_path, tiny_confs):
    result = run_recipe(tmp_path / "nowhere", tmp_path / "work", tiny_confs, "--stop-stage", "0")
    assert result.returncode == 1
    assert "--data must point at an LJSpeech-1.1 folder" in result.stderr


def test_recipe_honours_python_and_skips_evaluation_without_its_extra(tmp_path, tiny_confs):
    import os
    import sys

    calls = tmp_path / "calls.txt"
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    hidden = tmp_path / "no_eval_extra" / "pocketsphinx"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("pocketsphinx is not installed")\n')
    corpus = make_ljspeech(tmp_path / "LJSpeech-1.1", n=6)
    env = {**os.environ, "PYTHON": str(wrapper), "PYTHONPATH": str(hidden.parent)}
    result = subprocess.run(["bash", str(RUN), "--no-setup", "--data", str(corpus), "--work", str(tmp_path / "work"),
                             "--stage", "1", "--stop-stage", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"python: {wrapper}" in result.stdout and "prepare.py" in calls.read_text()
    result = subprocess.run(["bash", str(RUN), "--no-setup", "--work", str(tmp_path / "work"), "--stage", "5"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stage 5 skipped: the evaluation needs the eval extra" in result.stdout
    assert not (tmp_path / "work" / "exp" / ".stage5.done").exists()  # it runs once the extra is there

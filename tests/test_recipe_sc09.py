"""The SC09 recipe end to end on a tiny spoken-digits corpus with tiny configs, and the digit scorer."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from gradwave.common.audio import save_wav

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "recipes" / "sc09" / "run.sh"
TINY = {
    "wavenet": {"model": {"backbone": "wavenet", "unconditional": True, "residual_channels": 4, "residual_layers": 2,
                          "dilation_cycle_length": 2, "step_embedding_dims": [16, 16, 16], "inference_noise_schedule": [],
                          "audio_len": 16000, "noise_schedule": [0.001, 0.01, 0.05, 0.2], "loss": "l2"},
                "mel": {"sample_rate": 16000}, "train": {"batch_size": 2, "max_steps": 2, "num_workers": 0}},
    "sashimi": {"model": {"backbone": "sashimi", "unconditional": True, "step_embedding_dims": [16, 16, 16],
                          "sashimi": {"d_model": 4, "n_layers": 1, "pool": [4, 4], "l_max": 16000},
                          "inference_noise_schedule": [], "audio_len": 16000,
                          "noise_schedule": [0.001, 0.01, 0.05, 0.2], "loss": "l2"},
                "mel": {"sample_rate": 16000}, "train": {"batch_size": 2, "max_steps": 2, "num_workers": 0}},
}
needs_engine = pytest.mark.skipif(not (shutil.which("flite") or shutil.which("espeak-ng")),
                                  reason="the digits corpus needs flite or espeak-ng (scripts/setup.sh installs flite)")


def run_recipe(work, backbone, *extra):
    conf = work / f"{backbone}.json"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(json.dumps(TINY[backbone]))
    return subprocess.run(["bash", str(RUN), "--no-setup", "--demo", "--work", str(work), "--backbone", backbone,
                           "--conf", str(conf), "--per-digit", "2", "--samples", "2", *extra],
                          capture_output=True, text=True, timeout=900)


@needs_engine
def test_sc09_recipe_end_to_end_and_rerun(tmp_path):
    pytest.importorskip("pocketsphinx", reason="the digit evaluation needs the eval extra")
    work = tmp_path / "work"
    first = run_recipe(work, "wavenet")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    corpus = work / "data" / "sc09_digits"
    labels = (corpus / "train" / "labels.txt").read_text().split()
    assert len(labels) == 10 and {line.split("|")[1] for line in labels} == {str(d) for d in range(10)}
    info = soundfile.info(str(corpus / "train" / labels[0].split("|")[0]))
    assert (info.samplerate, info.frames) == (16000, 16000)
    clips = sorted((work / "exp/sc09_wavenet/generated").glob("*.wav"))
    assert len(clips) == 2 and soundfile.info(str(clips[0])).frames == 16000
    generated = json.loads((work / "exp/sc09_wavenet/eval/generated.json").read_text())
    reference = json.loads((work / "exp/sc09_wavenet/eval/reference_train.json").read_text())
    assert generated["clips"] == 2 and reference["clips"] == 10 and 0 <= reference["accuracy"] <= 1
    report = (work / "exp/sc09_wavenet/eval/report.md").read_text()
    assert "wavenet backbone, 2 training steps" in report and "corpus, held-out clips" in report
    again = run_recipe(work, "wavenet")
    assert again.returncode == 0 and again.stdout.count("done before, skipping") == 4


@needs_engine
def test_sc09_recipe_trains_and_generates_with_sashimi(tmp_path):
    result = run_recipe(tmp_path / "work", "sashimi", "--stop-stage", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(list((tmp_path / "work/exp/sc09_sashimi/generated").glob("*.wav"))) == 2


def test_digit_scores_count_recognised_clips_and_spread(tmp_path, monkeypatch):
    from gradwave.evaluation import digits

    heard = {"a": "three", "b": "three", "c": "", "d": "seven"}

    class FakeRecognizer:
        def __call__(self, wav, rate):
            return heard[self.names.pop(0)]

    for name in heard:
        save_wav(tmp_path / f"{name}.wav", np.zeros(1600, dtype=np.float32), 16000)
    (tmp_path / "labels.txt").write_text("a.wav|3\nb.wav|4\nc.wav|0\nd.wav|7\n")
    fake = FakeRecognizer()
    fake.names = list(heard)
    result = digits.score_digits(sorted(tmp_path.glob("*.wav")), digits.read_labels(tmp_path / "labels.txt"), fake)
    assert result["recognised_share"] == 0.75 and result["class_counts"][3] == 2 and result["class_counts"][7] == 1
    assert result["accuracy"] == 0.5 and 0 < result["class_entropy"] < 1
    (tmp_path / "bad.txt").write_text("a.wav|ten\n")
    with pytest.raises(ValueError, match="line 1"):
        digits.read_labels(tmp_path / "bad.txt")


def test_digit_recognizer_hears_a_spoken_digit_and_not_noise(tmp_path):
    pytest.importorskip("pocketsphinx", reason="the digit recognizer needs the eval extra")
    if not shutil.which("flite"):
        pytest.skip("speaking a digit needs flite (scripts/setup.sh installs it)")
    from gradwave.evaluation.asr import DigitRecognizer
    from gradwave.common.audio import load_wav

    subprocess.run(["flite", "-voice", "slt", "-t", "seven", "-o", str(tmp_path / "seven.wav")], check=True)
    recognizer = DigitRecognizer()
    assert recognizer(load_wav(tmp_path / "seven.wav", 16000), 16000) == "seven"
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.3
    assert recognizer(noise, 16000) == ""

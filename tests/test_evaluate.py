import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gradwave.common.audio import load_wav, save_wav
from gradwave.common.checkpoint import make_checkpoint, save_checkpoint
from gradwave.common.config import to_dict
from gradwave.common.mel import MelConfig, MelSpectrogram
from gradwave.evaluation.metrics import copy_synthesis_scores, error_rates
from diffwave.config import DiffWaveModelConfig
from diffwave.model import DiffWave

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "The library closes at noon on Saturdays.",
    "We watched the stars from the top of the hill.",
    "The children played in the garden until it got dark.",
    "Fresh coffee and warm bread make a good breakfast.",
    "The storm knocked down three trees on our street.",
]
# Measured on these six plain sentences with flite's slt voice and pocketsphinx 5.1.1 (bundled
# en-us model): WER 0.00. Harder text does worse ("sea shells" is heard as "seashells"; a tongue
# twister such as "How much wood would a woodchuck chuck?" scores WER 0.57), so the ceiling of
# 0.25 leaves room for other engine builds (espeak-ng) while staying far below noise or silence (~1.0).
WER_CEILING = 0.25

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pocketsphinx") is None,
                                reason="evaluation extras not installed (pip install -e .[eval])")


def load_demo_module():
    spec = importlib.util.spec_from_file_location("make_demo_corpus",
                                                  REPO / "recipes/ljspeech/local/make_demo_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    if not (shutil.which("flite") or shutil.which("espeak-ng")):
        pytest.skip("no flite or espeak-ng (scripts/setup.sh installs flite where apt-get can)")
    demo = load_demo_module()
    engine = demo.find_engine()
    root = tmp_path_factory.mktemp("spoken")
    entries = []
    for i, text in enumerate(SENTENCES):
        path = root / f"utt{i}.wav"
        demo.speak(engine, text, path)
        entries.append((path, text))
    (root / "list.txt").write_text("".join(f"{p}|{t}\n" for p, t in entries))
    return root, entries


@pytest.fixture(scope="module")
def evaluator():
    from gradwave.evaluation.evaluate import Evaluator

    return Evaluator()


def test_recognizer_understands_engine_speech(spoken, evaluator):
    from gradwave.evaluation.evaluate import read_entries

    root, _ = spoken
    scores = evaluator.intelligibility(read_entries(root / "list.txt"))
    assert scores["wer"] <= WER_CEILING, scores["utterances"]


def test_recognizer_rejects_noise_and_silence(spoken, evaluator, tmp_path):
    from gradwave.evaluation.evaluate import Entry

    rng = np.random.default_rng(0)
    save_wav(tmp_path / "noise.wav", rng.normal(0, 0.1, 22050 * 3), 22050)
    save_wav(tmp_path / "silence.wav", np.zeros(22050 * 3), 22050)
    entries = [Entry("n", tmp_path / "noise.wav", SENTENCES[0]), Entry("s", tmp_path / "silence.wav", SENTENCES[1])]
    assert evaluator.intelligibility(entries)["wer"] >= 0.9


def test_error_rates():
    assert error_rates(["a b c"], ["a b c"]) == {"wer": 0.0, "cer": 0.0}
    assert error_rates(["a b c d"], ["a x c"])["wer"] == pytest.approx(0.5)
    assert error_rates(["hello"], [""])["wer"] == 1.0


def test_copy_synthesis_scores_self_and_noise(spoken):
    _, entries = spoken
    extractor = MelSpectrogram(MelConfig())
    speech = load_wav(entries[0][0], 22050)
    perfect = copy_synthesis_scores(speech, speech.clone(), extractor)
    assert perfect["log_mel_l1"] == 0 and perfect["mcd_db"] == 0
    assert perfect["stoi"] > 0.99 and perfect["pesq_wb"] > 4.5
    noise = torch.randn_like(speech) * 0.1
    bad = copy_synthesis_scores(speech, noise, extractor)
    assert bad["log_mel_l1"] > 1.0 and bad["mcd_db"] > 5.0
    assert bad["stoi"] < 0.5 and bad["pesq_wb"] < 1.5


def test_report_on_tiny_run(spoken, tmp_path):
    from gradwave.evaluation.evaluate import main

    root, entries = spoken
    synth = tmp_path / "synth"
    synth.mkdir()
    rows = ["id\ttext\tnormalized\tfile\tseconds\trtf_acoustic\trtf_vocoder\trtf\tmel"]
    extractor = MelSpectrogram(MelConfig())
    for path, text in entries[:3]:
        shutil.copy(path, synth / path.name)
        np.save(synth / f"{path.stem}.npy", extractor(load_wav(path, 22050)).numpy() * 0.5)  # a flattened mel
        rows.append(f"{path.stem}\t{text}\t{text.lower()}\t{path.name}\t1.0\t0.1\t0.5\t0.6\t{path.stem}.npy")
    (synth / "manifest.tsv").write_text("\n".join(rows) + "\n")
    vocoder = DiffWave(DiffWaveModelConfig(residual_layers=2, residual_channels=4, dilation_cycle_length=1))
    save_checkpoint(make_checkpoint("diffwave", vocoder.state_dict(), to_dict(vocoder.config), to_dict(MelConfig())),
                    tmp_path / "vocoder.pt")
    out = tmp_path / "eval"
    assert main(["--out", str(out), "--synth", f"engine={synth}", "--truth", str(root / "list.txt"),
                 "--vocoder", str(tmp_path / "vocoder.pt"), "--copy-limit", "1", "--plots", "2"]) == 0
    results = json.loads((out / "results.json").read_text())
    system = results["systems"]["engine"]
    assert system["acoustic"]["duration_ratio"] == pytest.approx(1.0)
    assert system["acoustic"]["dtw_log_mel_l1"] == pytest.approx(0.0, abs=1e-6)
    assert system["speed"] == {"rtf_acoustic": pytest.approx(0.1), "rtf_vocoder": pytest.approx(0.5)}
    assert system["detail"]["audio"] == {"fine_structure": pytest.approx(1.0), "frame_change": pytest.approx(1.0)}
    assert system["detail"]["acoustic_mel"] == {"fine_structure": pytest.approx(0.25),
                                                "frame_change": pytest.approx(0.5)}
    assert results["copy_synthesis"]["utterances"] == 1
    report = (out / "report.md").read_text()
    assert "| engine | 0.250 | 0.500 | 1.000 | 1.000 |" in report
    assert "| engine | 3 |" in report and "| recordings |" in report and "PESQ" in report
    assert 1 <= system["quality"]["p808"] <= 5 and len(system["quality"]["utterances"]) == 3
    assert results["ground_truth_quality"]["ovrl"] == pytest.approx(system["quality"]["ovrl"])
    assert len(list((out / "plots").glob("*.png"))) == 2


def test_dnsmos_scores_speech_above_noise(spoken):
    from gradwave.common.dnsmos import QualityPredictor

    _, entries = spoken
    predict = QualityPredictor()
    speech = predict(load_wav(entries[0][0], 22050), 22050)
    noise = predict(np.random.default_rng(0).normal(0, 0.1, 22050 * 3), 22050)
    assert set(speech) == {"p808", "sig", "bak", "ovrl"}
    for scores in (speech, noise):
        assert all(1.0 <= v <= 5.0 for v in scores.values()), scores
    # flite's speech read 3.5 / 2.9 / 4.0 / 2.7 on the demo test split; white noise is far below
    assert speech["p808"] > noise["p808"] + 0.5 and speech["bak"] > noise["bak"] + 1.0
    with pytest.raises(ValueError, match="not finite"):
        predict(np.full(16000, np.nan), 16000)


def test_dnsmos_runs_on_torchs_threads_or_those_it_is_given_and_they_do_not_spin(monkeypatch):
    from gradwave.common.dnsmos import QualityPredictor

    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    for predict, threads in ((QualityPredictor(), 3), (QualityPredictor(threads=1), 1)):
        for session in (predict._model.onnx_sess, predict._model.p808_onnx_sess):
            options = session.get_session_options()
            assert options.intra_op_num_threads == threads
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_steady_tones_are_found_and_those_the_recordings_share_are_left_out():
    from gradwave.evaluation.metrics import average_spectrum, new_tones, tones

    rate = 22050
    t = torch.arange(2 * rate) / rate
    noise = 0.1 * torch.randn(2 * rate, generator=torch.Generator().manual_seed(0))
    hum = 0.05 * torch.sin(2 * torch.pi * 1000 * t)
    whine = 0.05 * torch.sin(2 * torch.pi * 8269 * t)
    assert tones(average_spectrum([noise]), rate) == []
    found = tones(average_spectrum([noise + hum + whine]), rate)
    assert [round(f / 100) for f, _ in found] == [10, 83] and all(db > 20 for _, db in found)
    assert [round(f / 100) for f, _ in new_tones(found, average_spectrum([noise + hum]), rate)] == [83]

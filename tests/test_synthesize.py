import csv

import pytest
import soundfile
import torch

from common.checkpoint import make_checkpoint, save_checkpoint
from common.config import to_dict
from common.mel import MelConfig
from diffwave.config import DiffWaveModelConfig
from diffwave.model import DiffWave
from grad_tts.config import GradTTSModelConfig
from grad_tts.model import GradTTS
from synthesize import Synthesizer, SynthesisError, main, parse_lines, split_long
from text import TextConfig


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    acoustic = GradTTS(GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16,
                                          n_enc_layers=1, dec_dim=8))
    for p in acoustic.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    # durations of about 4 frames per token so that longer texts give clearly longer audio
    acoustic.encoder.proj_w.proj.bias.data.fill_(1.4)
    save_checkpoint(make_checkpoint("grad_tts", acoustic.state_dict(), to_dict(acoustic.config),
                                    to_dict(MelConfig()), text=to_dict(TextConfig())), root / "acoustic.pt")
    vocoder = DiffWave(DiffWaveModelConfig(residual_layers=2, residual_channels=4, dilation_cycle_length=1))
    save_checkpoint(make_checkpoint("diffwave", vocoder.state_dict(), to_dict(vocoder.config), to_dict(MelConfig())),
                    root / "vocoder.pt")
    save_checkpoint(make_checkpoint("diffwave", vocoder.state_dict(), to_dict(vocoder.config),
                                    to_dict(MelConfig(f_max=11025.0, n_fft=2048, win_length=2048))),
                    root / "other_vocoder.pt")
    return root


LINES = """Hello there.

intro|This line has an id.
{}
@#$%
Ünïcödé façade naïve.
A much longer line that goes on. It has several sentences! Does it end? It does; finally it ends here.
"""


def read_manifest(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_lines_file_end_to_end(checkpoints, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text(LINES.format("short"), encoding="utf-8")
    rc = main(["-f", str(lines), "-o", str(tmp_path / "out"), "--acoustic", str(checkpoints / "acoustic.pt"),
               "--vocoder", str(checkpoints / "vocoder.pt"), "--timesteps", "2", "--vocoder-steps", "2",
               "--max-chars", "40"])
    assert rc == 1  # the unspeakable line fails, the others are written
    rows = read_manifest(tmp_path / "out" / "manifest.tsv")
    assert [r["file"] for r in rows] == ["0001.wav", "intro.wav", "0004.wav", "0006.wav", "0007.wav"]
    for row in rows:
        info = soundfile.info(str(tmp_path / "out" / row["file"]))
        assert info.samplerate == 22050
        assert float(row["seconds"]) == pytest.approx(info.frames / 22050, abs=1e-3)
    seconds = {r["id"]: float(r["seconds"]) for r in rows}
    assert seconds["0007"] > seconds["0001"] > seconds["0004"]
    assert rows[3]["normalized"] == "unicode facade naive."
    summary = capsys.readouterr().out
    assert "5 utterances" in summary and "1 failed" in summary and "1 blank lines" in summary


def test_batched_equals_unbatched(checkpoints, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("One.\nA somewhat longer second line.\nThird line here.\n")
    outputs = []
    for batch in ("1", "3"):
        out = tmp_path / f"out{batch}"
        assert main(["-f", str(lines), "-o", str(out), "--acoustic", str(checkpoints / "acoustic.pt"),
                     "--vocoder", "griffin-lim", "--timesteps", "2", "--batch-size", batch]) == 0
        outputs.append([soundfile.read(str(out / f"000{i}.wav"))[0] for i in (1, 2, 3)])
    for a, b in zip(*outputs):
        assert a.shape == b.shape and abs(a - b).max() < 2e-4


def test_mismatched_vocoder_is_refused(checkpoints):
    with pytest.raises(SynthesisError, match="f_max") as info:
        Synthesizer(checkpoints / "acoustic.pt", checkpoints / "other_vocoder.pt")
    assert "n_fft" in str(info.value)


def test_griffin_lim_without_vocoder(checkpoints):
    synth = Synthesizer(checkpoints / "acoustic.pt", "griffin-lim", timesteps=2)
    mel = synth.acoustic(["Hello world."], [None], [0])[0]
    audio = synth.waveform(mel, 0)
    assert audio.shape == (mel.shape[-1] * 256,)
    assert audio.abs().max() > 0


def test_missing_default_checkpoint_says_how(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "l.txt").write_text("hi\n")
    assert main(["-f", "l.txt", "-o", "out"]) == 2
    assert "run.sh" in caplog.text


def test_parsing_helpers(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("a|spk|text one\n\n\nplain\nid|text\n")
    lines, blank = parse_lines(path)
    assert blank == 2
    assert [(l.number, l.uid, l.speaker, l.text) for l in lines] == [
        (1, "a", "spk", "text one"), (4, "0004", None, "plain"), (5, "id", None, "text")]
    assert split_long("One. Two. Three.", 9) == ["One. Two.", "Three."]

import csv
from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch

from gradwave.lines import parse_lines, split_long
from gradwave.synthesizer import SynthesisError, Synthesizer
from synthesize import main
from tiny_checkpoints import write_tiny_checkpoints


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return write_tiny_checkpoints(tmp_path_factory.mktemp("ckpt"))


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
               "--max-chars", "40", "--save-mels"])
    assert rc == 1  # the unspeakable line fails, the others are written
    rows = read_manifest(tmp_path / "out" / "manifest.tsv")
    for row in rows:  # the acoustic model's mel of each line, all of its sentences
        mel = np.load(tmp_path / "out" / row["mel"])
        assert row["mel"] == f"{row['id']}.npy" and mel.shape[0] == 80
        assert mel.shape[1] * 256 <= soundfile.info(str(tmp_path / "out" / row["file"])).frames + 256
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
        assert not list(out.glob("*.npy")) and "mel" not in read_manifest(out / "manifest.tsv")[0]
    for a, b in zip(*outputs):  # Griffin-Lim's 32 momentum iterations amplify the mels' rounding differences
        assert a.shape == b.shape and abs(a - b).max() < 1e-3


def test_mismatched_vocoder_is_refused(checkpoints):
    with pytest.raises(SynthesisError, match="f_max") as info:
        Synthesizer(checkpoints / "acoustic.pt", checkpoints / "other_vocoder.pt")
    assert "n_fft" in str(info.value)


def test_griffin_lim_without_vocoder(checkpoints):
    synth = Synthesizer(checkpoints / "acoustic.pt", "griffin-lim", timesteps=2)
    spoken = synth.acoustic(["Hello world."], [None], [0])[0]
    mel = spoken.mel
    audio = synth.waveform(mel, 0)
    assert int(spoken.durations.sum()) == mel.shape[-1]
    times = spoken.word_times(256 / 22050)
    assert [t["word"] for t in times] == ["hello", "world"]
    assert 0 < times[0]["start"] < times[0]["end"] <= times[1]["start"] < times[1]["end"] <= mel.shape[-1] * 256 / 22050
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
    lines, blank, undecodable = parse_lines(path)
    assert blank == 2 and undecodable == {}
    assert [(l.number, l.uid, l.speaker, l.text) for l in lines] == [
        (1, "a", "spk", "text one"), (4, "0004", None, "plain"), (5, "id", None, "text")]
    assert split_long("One. Two. Three.", 9) == ["One. Two.", "Three."]


def test_samplers_are_a_synthesis_setting(checkpoints, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there.\n", encoding="utf-8")
    for sampler in ("ml", "dpm"):
        assert main(["-f", str(lines), "-o", str(tmp_path / sampler), "--acoustic", str(checkpoints / "acoustic.pt"),
                     "--vocoder", "griffin-lim", "--timesteps", "3", "--sampler", sampler]) == 0
    assert soundfile.read(tmp_path / "ml" / "0001.wav")[0].shape == soundfile.read(tmp_path / "dpm" / "0001.wav")[0].shape
    with pytest.raises(SynthesisError, match="unknown sampler"):
        Synthesizer(checkpoints / "acoustic.pt", sampler="heun")


def test_stream_writes_the_wav_data_to_stdout_as_it_goes(checkpoints, tmp_path, capfdbinary):
    lines = tmp_path / "lines.txt"
    lines.write_text("First line. It has two sentences!\n@#$%\nsecond|The second line.\n", encoding="utf-8")
    common = ["-f", str(lines), "--acoustic", str(checkpoints / "acoustic.pt"), "--vocoder", str(checkpoints / "vocoder.pt"),
              "--timesteps", "2"]
    assert main(common + ["-o", str(tmp_path / "plain")]) == 1  # the unspeakable line fails, the others are written
    capfdbinary.readouterr()
    assert main(common + ["-o", str(tmp_path / "streamed"), "--stream"]) == 1
    captured = capfdbinary.readouterr()
    expected = b"".join(soundfile.read(tmp_path / "plain" / name, dtype="int16")[0].tobytes()
                        for name in ("0001.wav", "second.wav"))
    assert captured.out == expected
    assert b"first audio after" in captured.err
    for name in ("0001.wav", "second.wav"):
        assert (tmp_path / "streamed" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def test_threads_option_sets_torch_threads(checkpoints, tmp_path, caplog):
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there.\n", encoding="utf-8")
    common = ["-f", str(lines), "--acoustic", str(checkpoints / "acoustic.pt"), "--vocoder", "griffin-lim",
              "--timesteps", "2"]
    before = torch.get_num_threads()
    try:
        assert main(common + ["-o", str(tmp_path / "one"), "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert main(common + ["-o", str(tmp_path / "none"), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in caplog.text


def test_a_line_that_is_not_utf8_is_named_and_the_others_are_spoken(checkpoints, tmp_path, caplog, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_bytes("Hello there.\n".encode() + "Caf\xe9 au lait.\n".encode("latin-1") + b"Goodbye now.\n")
    common = ["--acoustic", str(checkpoints / "acoustic.pt"), "--vocoder", "griffin-lim", "--timesteps", "2"]
    assert main(["-f", str(lines), "-o", str(tmp_path / "out"), *common]) == 1
    assert f"{lines} line 2: not UTF-8 text (byte 0xe9 at column 4)" in caplog.text
    assert sorted(p.name for p in (tmp_path / "out").glob("*.wav")) == ["0001.wav", "0003.wav"]
    assert "2 utterances" in capsys.readouterr().out


def test_empty_file_says_so(checkpoints, tmp_path, caplog, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert main(["-f", str(empty), "-o", str(tmp_path / "out"), "--acoustic", str(checkpoints / "acoustic.pt"),
                 "--vocoder", "griffin-lim"]) == 0
    assert "has no text to speak" in caplog.text
    summary = capsys.readouterr().out
    assert "0 utterances, 0.0 s of audio, no audio" in summary and "nan" not in summary


def test_a_diverging_sampler_is_a_clear_error(checkpoints, tmp_path, monkeypatch, caplog):
    synth = Synthesizer(checkpoints / "acoustic.pt", "griffin-lim", timesteps=3, sampler="dpm")
    real = synth.model.synthesise

    def diverging(*args, **kwargs):
        out = real(*args, **kwargs)
        return {**out, "mel": out["mel"] * float("nan")}

    monkeypatch.setattr(synth.model, "synthesise", diverging)
    with pytest.raises(SynthesisError, match="the dpm sampler diverged at 3 steps.*--sampler euler"):
        synth.acoustic(["Hello."], [None], [0])


def test_a_non_finite_waveform_fails_only_its_line(checkpoints, tmp_path, monkeypatch, caplog):
    """A line whose audio is not finite (here its mel is) is reported and not written; the others are."""
    real = Synthesizer.acoustic

    def not_finite(self, texts, *args, **kwargs):
        spoken = real(self, texts, *args, **kwargs)
        return [replace(s, mel=s.mel * float("nan")) if "Loud" in text else s for s, text in zip(spoken, texts)]

    monkeypatch.setattr(Synthesizer, "acoustic", not_finite)
    lines = tmp_path / "lines.txt"
    lines.write_text("Quiet line.\nLoud line.\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["-f", str(lines), "-o", str(out), "--acoustic", str(checkpoints / "acoustic.pt"),
                 "--vocoder", "griffin-lim", "--timesteps", "2"]) == 1
    assert (out / "0001.wav").is_file() and not (out / "0002.wav").exists()
    assert "line 2: the vocoder's audio is not finite" in caplog.text
    assert [row["id"] for row in read_manifest(out / "manifest.tsv")] == ["0001"]


def test_compiled_vocoder_matches_eager(checkpoints):
    eager = Synthesizer(checkpoints / "acoustic.pt", checkpoints / "vocoder.pt", timesteps=2)
    compiled = Synthesizer(checkpoints / "acoustic.pt", checkpoints / "vocoder.pt", timesteps=2, compile_vocoder=True)
    assert compiled.description["vocoder"]["compiled"] is True
    for text in ("Hello there.", "A rather longer sentence follows it."):  # two lengths, one compile
        mel = eager.acoustic([text], [None], [0])[0].mel
        torch.testing.assert_close(compiled.waveform(mel, 0), eager.waveform(mel, 0), atol=2e-4, rtol=1e-3)


def test_sampling_defaults_come_from_the_checkpoint(checkpoints, tmp_path):
    """A checkpoint's `inference` config sets the defaults (an encoder-only voice speaks its mean);
    files without one sample as upstream did; arguments still win."""
    from gradwave.common.checkpoint import load_checkpoint, save_checkpoint

    plain = Synthesizer(checkpoints / "acoustic.pt")
    assert plain.sampling == {"timesteps": 10, "temperature": 1.5, "length_scale": 1.0, "sampler": "euler"}
    ckpt = load_checkpoint(checkpoints / "acoustic.pt", "grad_tts")
    ckpt["inference"] = {"timesteps": 0, "temperature": 1.0, "length_scale": 1.1, "sampler": "ml"}
    save_checkpoint(ckpt, tmp_path / "encoder_only.pt")
    own = Synthesizer(tmp_path / "encoder_only.pt")
    assert own.sampling == {"timesteps": 0, "temperature": 1.0, "length_scale": 1.1, "sampler": "ml"}
    spoken = own.acoustic(["Hello world."], [None], [0])[0]
    encoder = own.model.synthesise(torch.tensor([own.encode("Hello world.").ids]),
                                   torch.tensor([len(own.encode("Hello world.").ids)]), 0, length_scale=1.1)
    assert torch.equal(spoken.mel, encoder["encoder"][0])
    assert Synthesizer(tmp_path / "encoder_only.pt", timesteps=3).sampling["timesteps"] == 3
    ckpt["inference"] = {"timesteps": -1}
    save_checkpoint(ckpt, tmp_path / "bad.pt")
    with pytest.raises(SynthesisError, match="bad.pt: inference.timesteps"):
        Synthesizer(tmp_path / "bad.pt")

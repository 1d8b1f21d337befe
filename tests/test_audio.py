import numpy as np
import pytest
import soundfile
import torch

from gradwave.common.audio import AudioError, load_wav, save_wav


def test_round_trip(tmp_path):
    wav = torch.sin(torch.linspace(0, 100, 2205)) * 0.5
    save_wav(tmp_path / "a.wav", wav, 22050)
    back = load_wav(tmp_path / "a.wav", 22050)
    torch.testing.assert_close(back, wav, atol=1e-4, rtol=0)


def test_resamples_with_log(tmp_path, caplog):
    soundfile.write(tmp_path / "b.wav", np.zeros(16000, dtype=np.float32), 16000)
    with caplog.at_level("INFO"):
        wav = load_wav(tmp_path / "b.wav", 22050)
    assert len(wav) == 22050
    assert "resampling from 16000" in caplog.text


def test_stereo_becomes_mono(tmp_path):
    soundfile.write(tmp_path / "s.wav", np.stack([np.ones(100), -np.ones(100)], 1) * 0.5, 22050)
    assert torch.allclose(load_wav(tmp_path / "s.wav"), torch.zeros(100))


@pytest.mark.parametrize("content,reason", [(b"", "not a readable"), (b"this is text, not audio", "not a readable")])
def test_bad_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=reason) as info:
        load_wav(path)
    assert "broken.wav" in str(info.value)


def test_empty_audio(tmp_path):
    soundfile.write(tmp_path / "e.wav", np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(AudioError, match="no samples"):
        load_wav(tmp_path / "e.wav")


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_wav(tmp_path / "nope.wav")

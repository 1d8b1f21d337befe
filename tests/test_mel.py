import json

import pytest
import torch

from common.config import from_dict, to_dict
from common.mel import PRESETS, MelConfig, MelSpectrogram, preset


@pytest.mark.parametrize("name,file,key", [("hifigan", "mel_hifigan.pt", "hifigan_mel"),
                                           ("diffwave_lmnt", "mel_lmnt.pt", "lmnt_mel")])
def test_preset_matches_reference(load_reference, name, file, key):
    ref = load_reference(file)
    extractor = MelSpectrogram(preset(name))
    mel = extractor(ref["wav"])
    assert mel.shape == ref[key].shape
    torch.testing.assert_close(mel, ref[key], atol=1e-4, rtol=0)
    assert extractor.config.n_frames(len(ref["wav"])) == ref[key].shape[-1]


@pytest.mark.parametrize("name,file,key", [("hifigan", "mel_hifigan.pt", "hifigan_mel"),
                                           ("diffwave_lmnt", "mel_lmnt.pt", "lmnt_mel")])
def test_batch_matches_reference(load_reference, name, file, key):
    ref = load_reference(file)
    batch = torch.stack([ref["wav"], ref["wav"].flip(0), ref["wav"]])
    mel = MelSpectrogram(preset(name))(batch)
    torch.testing.assert_close(mel[0], ref[key], atol=1e-4, rtol=0)
    torch.testing.assert_close(mel[2], ref[key], atol=1e-4, rtol=0)
    assert not torch.allclose(mel[1], mel[0])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_json_round_trip(name):
    config = preset(name)
    restored = from_dict(MelConfig, json.loads(json.dumps(to_dict(config))))
    assert restored == config
    assert restored.differences(config) == []


def test_differences_name_fields():
    diffs = preset("hifigan").differences(preset("diffwave_lmnt"))
    names = {d.split(":")[0] for d in diffs}
    assert {"f_min", "f_max", "mel_scale", "compression"} <= names


def test_invalid_config_names_field():
    with pytest.raises(ValueError, match="mel_scale"):
        MelConfig(mel_scale="bark")


def test_too_short_audio_is_clear():
    with pytest.raises(ValueError, match="too short"):
        MelSpectrogram()(torch.zeros(100))


def test_decompress_inverts_compress():
    extractor = MelSpectrogram(preset("hifigan"))
    linear = torch.rand(80, 10) + 0.01
    torch.testing.assert_close(extractor.decompress(extractor.compress(linear)), linear)


def test_griffin_lim_round_trip_is_close():
    from common.griffin_lim import griffin_lim

    extractor = MelSpectrogram(preset("hifigan"))
    t = torch.arange(22050) / 22050
    mel = extractor(0.5 * torch.sin(2 * torch.pi * 440 * t))
    audio = griffin_lim(mel, extractor, generator=torch.Generator().manual_seed(0))
    assert audio.shape == (mel.shape[-1] * 256,)
    noise_distance = (extractor(torch.randn(22050) * 0.1) - mel).abs().mean()
    assert (extractor(audio) - mel).abs().mean() < 0.1 * noise_distance

import json

import pytest
import torch

from gradwave.common.config import from_dict, to_dict
from gradwave.common.mel import PRESETS, MelConfig, MelSpectrogram, preset


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
    from gradwave.common.griffin_lim import griffin_lim

    extractor = MelSpectrogram(preset("hifigan"))
    t = torch.arange(22050) / 22050
    mel = extractor(0.5 * torch.sin(2 * torch.pi * 440 * t))
    audio = griffin_lim(mel, extractor, generator=torch.Generator().manual_seed(0))
    assert audio.shape == (mel.shape[-1] * 256,)
    noise_distance = (extractor(torch.randn(22050) * 0.1) - mel).abs().mean()
    assert (extractor(audio) - mel).abs().mean() < 0.1 * noise_distance


def test_griffin_lim_of_a_mel_beyond_full_scale_stays_finite():
    from gradwave.common.griffin_lim import griffin_lim

    extractor = MelSpectrogram(preset("hifigan"))
    audio = griffin_lim(torch.full((80, 20), 150.0), extractor, n_iter=2, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(audio).all() and audio.abs().max() > 0


def test_griffin_lim_of_a_batch_is_each_mel_alone():
    from gradwave.common.griffin_lim import griffin_lim

    extractor = MelSpectrogram(preset("hifigan"))
    t = torch.arange(8192) / 22050
    mels = extractor(torch.stack([0.5 * torch.sin(2 * torch.pi * 300 * t), 0.1 * torch.sin(2 * torch.pi * 700 * t)]))
    batch = griffin_lim(mels, extractor, n_iter=4, generator=torch.Generator().manual_seed(3))
    for k in range(2):
        alone = griffin_lim(mels[k], extractor, n_iter=4, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(batch[k], alone, atol=1e-5, rtol=1e-4)


def test_feature_cache_follows_rewritten_audio(tmp_path):
    import os

    import numpy as np
    import soundfile

    from gradwave.common.features import FeatureLoader

    wav = tmp_path / "a.wav"
    rate = MelConfig().sample_rate
    soundfile.write(wav, 0.1 * np.sin(np.arange(rate) * 0.05), rate)
    loader = FeatureLoader(MelConfig(), tmp_path / "cache")
    first = loader.mel(wav)
    torch.testing.assert_close(loader.mel(wav), first)  # served from the cache
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == 1
    soundfile.write(wav, 0.5 * np.sin(np.arange(rate) * 0.2), rate)  # data preparation re-run
    later = os.stat(wav).st_mtime_ns + 10**9
    os.utime(wav, ns=(later, later))
    torch.testing.assert_close(loader.mel(wav), FeatureLoader(MelConfig()).mel(wav))
    assert not torch.allclose(loader.mel(wav), first)


def test_feature_cache_writes_through_its_own_temporary_file(tmp_path):
    import numpy as np
    import soundfile

    from gradwave.common.features import FeatureLoader

    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.zeros(22050), 22050)
    loader = FeatureLoader(MelConfig(), tmp_path / "cache")
    target = loader.cache_file(wav)
    target.parent.mkdir(parents=True)
    # another process in the middle of writing the same entry under a shared name
    (target.parent / (target.name + ".tmp")).mkdir()
    loader.mel(wav)
    assert target.is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([target.name, target.name + ".tmp"])

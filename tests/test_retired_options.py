"""Options measured no better and removed: files that carry them at their old "off" load as before; files
that switched one on are refused with one line naming the field. Schedules are written start/end/count."""
import dataclasses

import pytest
import torch

from gradwave.common.checkpoint import CheckpointError, make_checkpoint, save_checkpoint
from gradwave.common.config import ConfigError, from_dict, to_dict
from gradwave.common.mel import MelConfig
from diffwave.checkpoint import load_diffwave
from diffwave.config import (MOVED_FIELDS, BridgeConfig, DiffWaveConfig, DiffWaveModelConfig, PriorConfig,
                             TrainingStatistics)
from diffwave.inference import vocode
from diffwave.model import DiffWave
from diffwave.prior import mel_band_map
from diffwave.schedules import betas, training_betas
from grad_tts.config import GradTTSConfig

TINY = dict(residual_layers=2, residual_channels=8, dilation_cycle_length=2, n_mels=16, hop_samples=64)
MEL = MelConfig(n_mels=16, hop_length=64, n_fft=256, win_length=256)
BRIDGE = dict(TINY, bands=2, process="bridge", prior=PriorConfig(enabled=True, bands=8),
              bridge=BridgeConfig(guide_iterations=4, mel_loss_weight=1.0))
# What the earlier version wrote for a bridge with a banded prior: every option at its "off", the
# statistics and the mel maps inside the model config.
EARLIER = dict(whitened=False, prior_scale="energy", prior_band_gain=[], prior_headroom=2.0, schedule_to_noise=False,
               stft_loss_weight=0.0, predict="clean", prior_energy_min=0.03, prior_mel_band=mel_band_map(MEL, 8),
               guide_mel=to_dict(MEL))


def flat(config: dict) -> dict:
    """A model config as earlier versions wrote it: the prior's and the bridge's fields at the top level."""
    config = dict(config)
    sections = {name: config.pop(name) for name in ("prior", "bridge")}
    return {**config, **{old: sections[section][new] for old, (section, new) in MOVED_FIELDS.items()}}


def earlier_checkpoint(path, **changes) -> DiffWave:
    """A bridge model saved as the earlier version saved it; returns the model it holds."""
    model = DiffWave(DiffWaveModelConfig(**BRIDGE), MEL, TrainingStatistics(prior_energy_min=0.03))
    config = {**flat(to_dict(model.config)), **EARLIER, **changes}
    save_checkpoint(make_checkpoint("diffwave", model.state_dict(), config, to_dict(MEL)), path)
    return model


def test_an_earlier_checkpoint_with_the_options_off_loads_and_samples_as_before(tmp_path):
    model = earlier_checkpoint(tmp_path / "old.pt")
    torch.nn.init.normal_(model.output_projection.weight, std=0.1)
    save_checkpoint(make_checkpoint("diffwave", model.state_dict(), {**flat(to_dict(model.config)), **EARLIER},
                                    to_dict(MEL)), tmp_path / "old.pt")
    loaded, _ = load_diffwave(tmp_path / "old.pt")
    assert loaded.statistics.prior_energy_min == 0.03 and loaded.guide_extractor.config == MEL
    assert loaded.config == model.config  # the flat prior and bridge fields are in their sections
    mel = torch.randn(1, 16, 6) - 3
    expected = vocode(mel, model.eval(), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(vocode(mel, loaded, generator=torch.Generator().manual_seed(0)), expected)


@pytest.mark.parametrize("field, value", [("whitened", True), ("prior_scale", "amplitude"), ("stft_loss_weight", 0.5),
                                          ("schedule_to_noise", True), ("predict", "noise")])
def test_an_earlier_checkpoint_with_a_removed_option_on_is_refused_naming_it(tmp_path, field, value):
    earlier_checkpoint(tmp_path / "old.pt", **{field: value})
    with pytest.raises(CheckpointError) as refused:
        load_diffwave(tmp_path / "old.pt")
    message = str(refused.value)
    assert f"{field}=" in message and "removed" in message and "\n" not in message and "old.pt" in message


def test_clean_prediction_under_the_ddpm_is_refused_and_noise_prediction_loads():
    assert from_dict(DiffWaveModelConfig, {"predict": "noise"}) == DiffWaveModelConfig()
    with pytest.raises(ConfigError, match="predict=\"clean\""):
        from_dict(DiffWaveModelConfig, {"predict": "clean"})


def test_the_training_configs_lr_decay_is_refused_when_it_was_on():
    assert from_dict(DiffWaveConfig, {"train": {"lr_decay": "none"}}) == DiffWaveConfig()
    with pytest.raises(ConfigError, match="lr_decay"):
        from_dict(DiffWaveConfig, {"train": {"lr_decay": "linear"}}, "conf.json")


@pytest.mark.parametrize("field, off, on", [("decoder_start_step", 0, 3000), ("decoder_start_fraction", 0.0, 0.5),
                                             ("detach_decoder_input", False, True)])
def test_grad_tts_decoder_phases_are_refused_when_they_were_on(field, off, on):
    """The decoder's later start and its detached input went for `train.decoder`; earlier run configs
    (config.json, read again on --resume) load with them off."""
    assert from_dict(GradTTSConfig, {"train": {field: off}}) == GradTTSConfig()
    with pytest.raises(ConfigError) as refused:
        from_dict(GradTTSConfig, {"train": {field: on, "lr_decay": "none"}}, "exp/grad_tts/config.json")
    message = str(refused.value)
    assert f"{field}=" in message and "config.json" in message and "\n" not in message


def test_schedules_are_start_end_count_and_a_list_still_loads():
    default = DiffWaveModelConfig()
    assert default.noise_schedule == {"start": 1e-4, "end": 0.05, "count": 50}
    listed = dataclasses.replace(default, noise_schedule=betas(default.noise_schedule))
    assert len(listed.noise_schedule) == 50 and listed.noise_schedule[-1] == pytest.approx(0.05)
    assert training_betas(listed) == training_betas(default)
    with pytest.raises(ValueError, match="start, end and count"):
        DiffWave(DiffWaveModelConfig(**TINY, noise_schedule={"start": 1e-4, "end": 0.05}))


def test_flat_prior_and_bridge_fields_load_into_their_sections_and_not_twice():
    config = from_dict(DiffWaveModelConfig, {"prior_grad": True, "prior_bands": 8, "bridge_steps": 3})
    assert config.prior == PriorConfig(enabled=True, bands=8) and config.bridge == BridgeConfig(steps=3)
    with pytest.raises(ConfigError, match="bridge_steps and bridge.steps are the same field"):
        from_dict(DiffWaveModelConfig, {"bridge_steps": 3, "bridge": {"steps": 4}})

import os
from unittest import mock

import pytest
import torch

from gradwave.common.checkpoint import (LAST, CheckpointError, capture_rng, list_step_checkpoints, load_checkpoint,
                               make_checkpoint, restore_rng, rewind_training, save_checkpoint,
                               save_training_checkpoint)
from gradwave.common.config import to_dict
from gradwave.common.mel import MelConfig


def _checkpoint(step=0, value=1.0):
    model = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(model.weight, value)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return make_checkpoint("grad_tts", model.state_dict(), {"hidden": 3}, to_dict(MelConfig()),
                           text={"symbols": ["a", "b"], "cleaners": "english_cleaners"}, speakers=["x"],
                           step=step, optimizer=optimizer.state_dict(), rng=capture_rng())


def test_round_trip_weights_only(tmp_path):
    saved = _checkpoint(step=7)
    save_checkpoint(saved, tmp_path / "a.pt")
    plain = torch.load(tmp_path / "a.pt", weights_only=True)
    assert plain["step"] == 7
    loaded = load_checkpoint(tmp_path / "a.pt", "grad_tts")
    assert loaded["config"] == {"hidden": 3}
    assert loaded["mel"] == to_dict(MelConfig())
    torch.testing.assert_close(loaded["model"]["weight"], saved["model"]["weight"])
    assert loaded["optimizer"]["state"][0]["exp_avg"].shape == (2, 3)


def test_rng_restore_reproduces_draws():
    state = capture_rng()
    first = torch.rand(3)
    restore_rng(state)
    torch.testing.assert_close(torch.rand(3), first)


def test_interrupted_save_keeps_previous(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(_checkpoint(step=1), path)

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"partial")
        raise KeyboardInterrupt

    with mock.patch("gradwave.common.checkpoint.torch.save", side_effect=crash):
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(_checkpoint(step=2), path)
    assert load_checkpoint(path, "grad_tts")["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_truncated_and_garbage_files(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(_checkpoint(), good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(1000))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path, reason in [(truncated, "cannot be read"), (garbage, "cannot be read"), (empty, "empty"),
                         (tmp_path / "missing.pt", "no such")]:
        with pytest.raises(CheckpointError, match=reason) as info:
            load_checkpoint(path, "grad_tts")
        assert path.name in str(info.value)


def test_wrong_kind(tmp_path):
    save_checkpoint(_checkpoint(), tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="is a grad_tts checkpoint, expected diffwave"):
        load_checkpoint(tmp_path / "a.pt", "diffwave")


def test_foreign_file_without_adapter(tmp_path):
    torch.save({"weight": torch.zeros(1)}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not a grad_tts checkpoint"):
        load_checkpoint(tmp_path / "bare.pt", "grad_tts")
    adapted = load_checkpoint(tmp_path / "bare.pt", "grad_tts", adapt=lambda data, path: {"model": data})
    assert "weight" in adapted["model"]


def test_keep_last_n(tmp_path):
    for step in range(1, 6):
        save_training_checkpoint(_checkpoint(step=step), tmp_path, keep_last=2)
    assert [p.name for p in list_step_checkpoints(tmp_path)] == ["ckpt_00000004.pt", "ckpt_00000005.pt"]
    assert load_checkpoint(tmp_path / LAST, "grad_tts")["step"] == 5


def test_rewind_drops_later_steps(tmp_path):
    for step in range(1, 5):
        save_training_checkpoint(_checkpoint(step=step), tmp_path)
    rewind_training(tmp_path, 2)
    assert [p.name for p in list_step_checkpoints(tmp_path)] == ["ckpt_00000001.pt", "ckpt_00000002.pt"]
    assert load_checkpoint(tmp_path / LAST, "grad_tts")["step"] == 2
    with pytest.raises(CheckpointError, match="cannot rewind to step 7"):
        rewind_training(tmp_path, 7)

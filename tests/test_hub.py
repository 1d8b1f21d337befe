"""torch.hub entry points, loaded from this checkout with source='local' and local or file:// files."""
from pathlib import Path

import pytest
import torch
from tiny_checkpoints import write_tiny_checkpoints

from diffwave.model import DiffWave
from grad_tts.model import GradTTS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return write_tiny_checkpoints(tmp_path_factory.mktemp("hub"))


def test_importing_the_entry_points_fetches_nothing(tmp_path):
    import importlib.util

    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        spec = importlib.util.spec_from_file_location("hubconf_under_test", REPO / "hubconf.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        torch.hub.set_dir(before)
    assert all(callable(getattr(module, name)) for name in ("grad_tts", "diffwave", "synthesizer"))
    assert "torch" in module.dependencies and not (tmp_path / "hub").exists()


def test_models_load_by_path(checkpoints):
    acoustic = torch.hub.load(str(REPO), "grad_tts", source="local", checkpoint=str(checkpoints / "acoustic.pt"))
    vocoder = torch.hub.load(str(REPO), "diffwave", source="local", checkpoint=str(checkpoints / "vocoder.pt"))
    assert isinstance(acoustic, GradTTS) and not acoustic.training
    assert isinstance(vocoder, DiffWave) and not vocoder.training


def test_url_is_fetched_once_into_the_hub_cache(checkpoints, tmp_path):
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        url = (checkpoints / "acoustic.pt").as_uri()
        synth = torch.hub.load(str(REPO), "synthesizer", source="local", acoustic=url, timesteps=2)
        assert (tmp_path / "hub" / "checkpoints" / "acoustic.pt").is_file()
        assert synth.acoustic(["Hello."], [None], [0])[0].mel.shape[0] == 80
    finally:
        torch.hub.set_dir(before)

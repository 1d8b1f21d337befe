"""Tiny random-weight checkpoints for tests of the synthesis applications (synthesize.py, serve.py)."""
from pathlib import Path

import torch

from gradwave.common.checkpoint import make_checkpoint, save_checkpoint
from gradwave.common.config import to_dict
from gradwave.common.mel import MelConfig
from diffwave.config import DiffWaveModelConfig
from diffwave.model import DiffWave
from grad_tts.config import GradTTSModelConfig
from grad_tts.model import GradTTS
from text import TextConfig


def write_tiny_checkpoints(root: Path) -> Path:
    """root/acoustic.pt (Grad-TTS), root/vocoder.pt (DiffWave, same mel) and root/other_vocoder.pt
    (DiffWave on different mel features)."""
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

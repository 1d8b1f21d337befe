"""Loading Grad-TTS checkpoints: this toolkit's files and the published upstream `state_dict`s."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import torch

from gradwave.common.checkpoint import inference_state, load_checkpoint, make_checkpoint
from gradwave.common.config import from_dict, to_dict
from gradwave.common.mel import MelConfig
from text import TextConfig

from .config import GradTTSInferenceConfig, GradTTSModelConfig
from .model import GradTTS

KIND = "grad_tts"
OLD_FILE = "grad-tts-old"  # the published file trained before upstream changed pe_scale to 1000


def config_from_state_dict(state: dict, file_name: str = "") -> GradTTSModelConfig:
    """The upstream constructor arguments that a bare upstream state_dict implies. Upstream's
    GroupNorm and attention see the padded frames, so `padding_invariant` is off; `grad-tts-old.pt`
    was trained with `pe_scale=1` (upstream's params.py says so; its weights cannot tell)."""
    emb = state["encoder.emb.weight"]
    layers = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.encoder\.attn_layers\.(\d+)\.", k))}
    spk = state.get("spk_emb.weight")
    return GradTTSModelConfig(
        n_vocab=emb.shape[0],
        n_spks=spk.shape[0] if spk is not None else 1,
        spk_emb_dim=spk.shape[1] if spk is not None else 64,
        n_enc_channels=emb.shape[1],
        filter_channels=state["encoder.encoder.ffn_layers.0.conv_1.weight"].shape[0],
        filter_channels_dp=state["encoder.proj_w.conv_1.weight"].shape[0],
        n_heads=2,
        n_enc_layers=len(layers),
        enc_kernel=state["encoder.encoder.ffn_layers.0.conv_1.weight"].shape[2],
        window_size=(state["encoder.encoder.attn_layers.0.emb_rel_k"].shape[1] - 1) // 2,
        n_feats=state["encoder.proj_m.weight"].shape[0],
        dec_dim=state["decoder.estimator.mlp.0.weight"].shape[1],
        pe_scale=1 if OLD_FILE in file_name else 1000,
        padding_invariant=False,
    )


def adapt_upstream(data: Any, path: Path) -> Optional[dict]:
    """A published Grad-TTS file (a bare state_dict) as a checkpoint of this toolkit, or None."""
    if not (isinstance(data, dict) and "encoder.emb.weight" in data):
        return None
    config = config_from_state_dict(data, Path(path).name)
    n_spks = config.n_spks
    return make_checkpoint(KIND, data, to_dict(config), to_dict(MelConfig()),
                           text=to_dict(TextConfig(word_lookup="upstream")),
                           speakers=[str(i) for i in range(n_spks)] if n_spks > 1 else None)


def load_grad_tts(path: str | Path, device: str | torch.device = "cpu") -> tuple[GradTTS, dict]:
    """Model in eval mode on `device`, plus the checkpoint dict (config, mel, text, speakers...)."""
    ckpt = load_checkpoint(path, KIND, adapt=adapt_upstream)
    model_config = from_dict(GradTTSModelConfig, ckpt["config"], f"{path}: config")
    model = GradTTS(model_config)
    model.load_state_dict(inference_state(ckpt), strict=True)
    return model.to(device).eval(), ckpt


def inference_config(ckpt: dict) -> GradTTSInferenceConfig:
    """How the checkpoint's model is meant to be sampled; the defaults for files that do not say."""
    return from_dict(GradTTSInferenceConfig, ckpt.get("inference") or {}, "checkpoint inference")


def mel_config(ckpt: dict) -> MelConfig:
    return from_dict(MelConfig, ckpt["mel"], "checkpoint mel")


def text_config(ckpt: dict) -> TextConfig:
    """The checkpoint's text config; files written before `word_lookup` existed were trained with
    upstream's lookup, so they keep it."""
    return from_dict(TextConfig, {"word_lookup": "upstream", **ckpt["text"]}, "checkpoint text")

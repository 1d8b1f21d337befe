"""The seed projects' published files as checkpoints of this toolkit: RF5's `diffwave_sc09_1M_steps.pt`
and `sashimi_sc09_*_steps.pt`, and the SaShiMi+DiffWave code's checkpoints (`{'model_state_dict': ...}`,
or a bare state_dict).

Their files carry weights only; the config is implied. Shapes give the widths, depths, pools and
state size; what shapes cannot tell comes from the projects' published settings:
- WaveNet dilation cycle: 12 for 36 layers (the h256_d36 models), else philsyn's 10 (h128_d30);
- unconditional models: SC09 (16 kHz, one-second clips, T=200, beta 1e-4..0.02, all 200 steps);
- conditional models: LJSpeech (22.05 kHz, T=50, beta 1e-4..0.05) on Tacotron 2 STFT mels
  (the `tacotron` mel preset: 80 Slaney bands up to 8 kHz, centred frames, natural log).
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Optional

import torch

from gradwave.common.checkpoint import CheckpointError, make_checkpoint
from gradwave.common.config import to_dict
from gradwave.common.mel import preset

from .config import KIND, DiffWaveModelConfig, SashimiConfig, linear

SC09 = dict(noise_schedule=linear(1e-4, 0.02, 200), inference_noise_schedule=[], sample_rate=16000,
            audio_len=16000, loss="l2")
LJSPEECH = dict(noise_schedule=linear(1e-4, 0.05, 50), inference_noise_schedule=[], sample_rate=22050,
                loss="l2")


def seed_state_dict(data: Any) -> Optional[dict]:
    """The weights of a seed file, or None when `data` is not one."""
    state = data.get("model_state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return None
    if "residual_layer.fc_t1.weight" in state or "fc_t1.weight" in state or "sashimi.fc_t1.weight" in state:
        return state
    return None


def _count(state: dict, pattern: str) -> int:
    return len({m.group(1) for k in state if (m := re.match(pattern, k))})


def embedding_dims(state: dict, prefix: str) -> list[int]:
    """The step embedding's widths (in, mid, out) from its two layers `fc_t1`, `fc_t2`."""
    first, second = state[f"{prefix}fc_t1.weight"], state[f"{prefix}fc_t2.weight"]
    return [first.shape[1], first.shape[0], second.shape[0]]


def wavenet_config(state: dict) -> DiffWaveModelConfig:
    layers = _count(state, r"residual_layer\.residual_blocks\.(\d+)\.")
    conditional = "residual_layer.residual_blocks.0.mel_conv.conv.weight_v" in state
    return DiffWaveModelConfig(
        backbone="wavenet",
        residual_channels=state["init_conv.0.conv.weight_v"].shape[0],
        skip_channels=state["residual_layer.residual_blocks.0.skip_conv.weight_v"].shape[0],
        residual_layers=layers,
        dilation_cycle_length=12 if layers == 36 else 10,
        step_embedding_dims=embedding_dims(state, "residual_layer."),
        unconditional=not conditional,
        n_mels=state["residual_layer.residual_blocks.0.mel_conv.conv.weight_v"].shape[1] if conditional else 80,
        **(LJSPEECH if conditional else SC09))


def sashimi_config(state: dict) -> DiffWaveModelConfig:
    """Either SaShiMi layout (see diffwave/sashimi.py), told apart by its S4 kernels' buffers."""
    state_spaces = "c_layers.0.layer.kernel.kernel.omega" in state
    linear = "linear.weight_v" if state_spaces else "linear.conv.weight_v"
    d_model = state["init_conv.0.conv.weight_v"].shape[0]
    pools, width, expand = [], d_model, 2
    pool_layers = (int(m.group(1)) for k in state if (m := re.match(rf"d_layers\.(\d+)\.{re.escape(linear)}$", k)))
    for index in sorted(pool_layers):
        out_channels, in_channels = state[f"d_layers.{index}.{linear}"].shape[:2]
        pools.append(in_channels // width)
        expand = out_channels // width
        width = out_channels
    unet = "d_layers.0.fc_t.weight" in state
    kernel = state["c_layers.0.layer.kernel.kernel.C"]
    if state_spaces:
        length = 2 * (state["c_layers.0.layer.kernel.kernel.omega"].shape[0] - 1)
        ff_weight = state.get("c_layers.1.layer.ff.0.0.weight")
    else:
        first_kernel = "d_layers.0.layer.kernel.kernel" if unet else "c_layers.0.layer.kernel.kernel"
        length = int(state[f"{first_kernel}.L"])
        if not unet:
            length *= int(torch.tensor(pools).prod())
        ff_weight = state["c_layers.0.ff.ff.0.conv.weight_v"]
    conditional = "c_layers.0.mel_conv.conv.weight_v" in state
    return DiffWaveModelConfig(
        backbone="sashimi",
        sashimi=SashimiConfig(d_model=d_model, n_layers=_count(state, r"c_layers\.(\d+)\.fc_t\."), pool=pools,
                              expand=expand, ff=0 if ff_weight is None else ff_weight.shape[0] // width, unet=unet,
                              d_state=2 * kernel.shape[2], l_max=length or 16000,
                              layout="state_spaces" if state_spaces else "diffwave_sashimi"),
        step_embedding_dims=embedding_dims(state, ""),
        unconditional=not conditional,
        n_mels=state["c_layers.0.mel_conv.conv.weight_v"].shape[1] if conditional else 80,
        **(LJSPEECH if conditional else SC09))


RF5_SASHIMI_PREFIX = "sashimi."  # RF5's SashimiDiffWave holds the state-spaces SaShiMi as `self.sashimi`


def adapt_seed(data: Any, path: Path) -> Optional[dict]:
    """A seed project's file as a checkpoint of this toolkit, or None when it is not one. RF5's SaShiMi
    files lose their `sashimi.` prefix: our backbone is that module itself."""
    state = seed_state_dict(data)
    if state is None:
        return None
    if f"{RF5_SASHIMI_PREFIX}fc_t1.weight" in state:
        state = {k.removeprefix(RF5_SASHIMI_PREFIX): v for k, v in state.items()}
    try:
        config = wavenet_config(state) if "residual_layer.fc_t1.weight" in state else sashimi_config(state)
    except KeyError as err:
        raise CheckpointError(f"{path}: looks like a seed project's file but has no {err.args[0]!r}; "
                              "its layout is none of the published ones") from None
    mel = None if config.unconditional else to_dict(dataclasses.replace(preset("tacotron"), n_mels=config.n_mels))
    return make_checkpoint(KIND, dict(state), to_dict(config), mel)


def config_from_upstream(args: dict, **diffusion) -> DiffWaveModelConfig:
    """Our config from the SaShiMi+DiffWave code's constructor arguments (`WaveNet(**args)` or
    `Sashimi(**args)`, told apart by `res_channels`), plus any diffusion fields."""
    dims = [args.get("diffusion_step_embed_dim_in", 128), args.get("diffusion_step_embed_dim_mid", 512),
            args.get("diffusion_step_embed_dim_out", 512)]
    common = dict(unconditional=args.get("unconditional", False), step_embedding_dims=dims, **diffusion)
    if "res_channels" in args:
        return DiffWaveModelConfig(backbone="wavenet", residual_channels=args["res_channels"],
                                   skip_channels=args["skip_channels"], residual_layers=args["num_res_layers"],
                                   dilation_cycle_length=args["dilation_cycle"], **common)
    return DiffWaveModelConfig(backbone="sashimi", sashimi=SashimiConfig(
        d_model=args["d_model"], n_layers=args["n_layers"], pool=list(args["pool"]), expand=args["expand"],
        ff=args["ff"], unet=args["unet"], l_max=args["L"]), **common)

"""Writes rf5_sashimi_tiny.pt: outputs of RF5/DiffWave-unconditional's SaShiMi (`sashimi/model.py`, the
state-spaces layout) for tiny configs, the parity target of tests/test_backbones.py.

    git clone https://github.com/RF5/DiffWave-unconditional rf5 && pip install --target deps einops opt_einsum
    python tests/data/make_rf5_sashimi_tiny.py rf5 deps tests/data/rf5_sashimi_tiny.pt

Without pykeops or its CUDA extension the upstream code takes its CPU Cauchy fallback (one member of
each conjugate pair), so the tests compare with `conjugate_pairs=False`. torchaudio, imported but not
used by the diffusion model, is stubbed.
"""
import sys
import types

import torch

CASES = [("uncond", True, True), ("cond", False, True), ("uncond_flat", True, False)]  # name, unconditional, unet


def main(upstream: str, deps: str, out: str) -> None:
    sys.path[:0] = [deps, upstream]
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    from sashimi.model import Sashimi

    torch.manual_seed(0)
    cases = {}
    for name, unconditional, unet in CASES:
        config = dict(d_model=8, n_layers=1, pool=[2, 2], expand=2, ff=2, unet=unet, diffwave=True, glu=True,
                      dropout=0.0, l_max=256, tie_state=False, unconditional=unconditional, mel_upsample=[16, 16],
                      diffusion_step_embed_dim_in=16, diffusion_step_embed_dim_mid=32,
                      diffusion_step_embed_dim_out=32)
        model = Sashimi(**config, trainable={"dt": True, "A": True, "P": True, "B": True}, lr=0.001).eval()
        with torch.no_grad():  # move every non-S4 weight off its initial value (the final conv starts at zero)
            for key, parameter in model.named_parameters():
                if "kernel" not in key:
                    parameter.add_(0.2 * torch.randn_like(parameter))
        audio = torch.randn(2, 1, 256)
        steps = torch.tensor([[3], [150]])
        mel = None if unconditional else torch.randn(2, 80, 1)
        with torch.no_grad():
            output, _ = model((audio.permute(0, 2, 1), steps), mel_spec=mel)
        cases[name] = {"config": config, "audio": audio, "diffusion_steps": steps, "mel": mel,
                       "state_dict": {"sashimi." + k: v.clone() for k, v in model.state_dict().items()},
                       "output": output.permute(0, 2, 1).clone()}
    torch.save(cases, out)


if __name__ == "__main__":
    main(*sys.argv[1:4])

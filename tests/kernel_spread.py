"""How far the shipped DiffWave configs' behaviour moves from its recording under each of torch's CPU kernel
sets on this CPU: the measurement behind test_shipped_configs' tolerances. Run `python tests/kernel_spread.py`;
each kernel set runs in a process of its own (torch reads ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA at start)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KERNEL_SETS = {
    "this CPU's": {},
    "ATen AVX2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "ATen scalar": {"ATEN_CPU_CAPABILITY": "default"},
    "oneDNN AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def measure() -> None:
    """Print, per case, the largest deviation of the audio and the relative deviation of the loss."""
    import torch

    from test_shipped_configs import CASES, RECORDED, behaviour

    for name, case in CASES.items():
        loss, audio = behaviour(*case())
        recorded = RECORDED[name]
        loss_error = float((loss - recorded["loss"]).abs() / recorded["loss"].abs())
        print(f"  {name:20s} audio {float((audio - recorded['audio']).abs().max()):.1e}  loss {loss_error:.1e}")
    print(f"  (kernels: {torch.backends.cpu.get_cpu_capability()})")


def main() -> None:
    if os.environ.get("KERNEL_SPREAD_CHILD"):
        measure()
        return
    here = Path(__file__).resolve().parent
    for label, settings in KERNEL_SETS.items():
        print(label, flush=True)
        env = {**os.environ, **settings, "KERNEL_SPREAD_CHILD": "1", "PYTHONPATH": f"{here}:{here.parent}"}
        subprocess.run([sys.executable, __file__], env=env, check=True)


if __name__ == "__main__":
    main()

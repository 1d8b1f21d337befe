"""What the CPU computes fast. bfloat16 can pay only on a CPU that computes it natively (AVX512-BF16 or AMX;
elsewhere it is emulated and slower), and even there it depends on the work: DiffWave's convolutions ran
about twice as fast in bf16 on an AMD EPYC and slower than fp32 on an Intel Xeon with AMX. So "auto"
times both on the real model the first time (gradwave.common.autotune) where bf16 is native, and is fp32 elsewhere."""
from __future__ import annotations

from typing import Callable, Optional

import torch

from .autotune import fastest

PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device | str) -> bool:
    """True on a CPU with native bf16 arithmetic (not asked of GPUs: their "auto" stays fp32)."""
    if torch.device(device).type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def avx512_cpu() -> bool:
    """Whether PyTorch's CPU kernels run with AVX-512 here. The CPU layouts chosen for speed (channels-last
    2-D convolutions, dilated 1-D convolutions as 2-D ones) pay off with oneDNN's AVX-512 kernels and cost
    15-20% on AVX2-only CPUs (measured on a 2-core AMD EPYC)."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def choose_precision(requested: str, device: torch.device | str, name: str,
                     run: Optional[Callable[[str], object]]) -> str:
    """`requested` "fp32" or "bf16" as given; "auto": fp32 off the CPU and where bf16 is not native, else the
    faster of the two for `run(precision)`, the real work called `name` (timed once per CPU and torch
    version, then read from the cache); `run` is called only for "auto"."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if not native_bf16(device):
        return "fp32"
    return fastest(f"precision of {name}", {precision: (lambda p=precision: run(p)) for precision in ("fp32", "bf16")})

"""What the CPU computes fast. Where bfloat16 pays: a CPU that computes it natively (AVX512-BF16 or AMX)
runs DiffWave's convolutions about twice as fast in bf16 as in fp32; elsewhere bf16 is emulated and slower."""
from __future__ import annotations

import torch


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

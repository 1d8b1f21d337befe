"""Benchmark of monotonic_align.maximum_path: end-to-end call time vs the bare DP.

    python bench/mas.py [--repeats 10]

Cases from the issue: batch 16 x ~150 tokens x ~800 frames and batch 32 x 200 x 1000, lengths
drawn around those sizes. Reports, per case: the Cython call with 1 and 2 threads (end to end,
tensor in, tensor out, with and without the prefix-mask check), the bare DP inside it, the share
of the call spent outside the DP, the numba fallback, and an upstream-style serial call (mask
multiply, copy to a numpy float32 array, int32 path, our DP on one thread, copy back).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.util import cpu_description, timed  # noqa: E402
from monotonic_align import _core, maximum_path  # noqa: E402


def make_case(batch, t_text, t_mel, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x_len = torch.randint(int(t_text * 0.7), t_text + 1, (batch,), generator=gen)
    x_len[0] = t_text
    y_len = torch.maximum(torch.randint(int(t_mel * 0.7), t_mel + 1, (batch,), generator=gen), x_len)
    y_len[0] = t_mel
    value = torch.randn(batch, t_text, t_mel, generator=gen)
    mask = ((torch.arange(t_text)[None, :, None] < x_len[:, None, None])
            & (torch.arange(t_mel)[None, None, :] < y_len[:, None, None])).float()
    return value, mask, x_len.int(), y_len.int()


def best_time(fn, repeats):
    return min(timed(fn, repeats)) * 1e3


def upstream_style(value, mask):
    """The conversions of the well-known serial implementation, around our DP run on one thread."""
    device, dtype = value.device, value.dtype
    value = (value * mask).data.cpu().numpy().astype(np.float32)
    path = np.zeros_like(value).astype(np.int32)
    mask = mask.data.cpu().numpy()
    t_x = mask.sum(1)[:, 0].astype(np.int32)
    t_y = mask.sum(2)[:, 0].astype(np.int32)
    _core.maximum_path_c(value, path, t_x, t_y, 1)
    return torch.from_numpy(path).to(device=device, dtype=dtype)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    print(f"CPU: {cpu_description()}")
    for batch, t_text, t_mel in [(16, 150, 800), (32, 200, 1000)]:
        value, mask, x_len, y_len = make_case(batch, t_text, t_mel)
        np_value = value.numpy()
        path = np.empty_like(np_value)
        print(f"batch {batch} x {t_text} tokens x {t_mel} frames")
        for threads in (1, 2):
            dp = best_time(lambda: _core.maximum_path_c(np_value, path, x_len.numpy(),
                                                        y_len.numpy(), threads), args.repeats)
            full = best_time(lambda: maximum_path(value, mask, num_threads=threads), args.repeats)
            lean = best_time(lambda: maximum_path(value, mask, num_threads=threads, check_mask=False),
                             args.repeats)
            print(f"  cython {threads} thread(s): call {full:7.2f} ms (no mask check {lean:7.2f} ms), "
                  f"bare DP {dp:7.2f} ms, outside the DP {100 * (1 - dp / full):4.1f}% "
                  f"({100 * (1 - dp / lean):4.1f}% without the check); call / DP = {full / dp:.2f}")
        numba = best_time(lambda: maximum_path(value, mask, use_extension=False), args.repeats)
        upstream = best_time(lambda: upstream_style(value, mask), args.repeats)
        print(f"  numba fallback: {numba:7.2f} ms")
        print(f"  upstream-style serial call: {upstream:7.2f} ms")


if __name__ == "__main__":
    main()

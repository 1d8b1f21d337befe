"""Monotonic alignment search: the most likely monotonic path between text tokens and mel frames.

`maximum_path(value, mask)` takes log-likelihoods (B, T_text, T_mel) and a prefix mask of the
same shape and returns the 0/1 path on the input's device and dtype. The compiled Cython
extension (`monotonic_align.core`, built by `pip install`) is used when present; otherwise a
numba implementation takes over after one warning.
"""
from __future__ import annotations

import os
import warnings
from typing import Optional

import numpy as np
import torch

try:
    from . import core as _core
except ImportError:  # the extension is not built: the numba path below works, more slowly
    _core = None

__all__ = ["maximum_path", "maximum_path_durations", "has_extension", "default_threads", "AlignmentError"]

_PATH_DTYPES = (torch.float32, torch.float64)


class AlignmentError(ValueError):
    """The scores or the mask cannot describe a monotonic alignment."""


def has_extension() -> bool:
    return _core is not None


def default_threads() -> int:
    """torch's intra-op thread count; but under torchrun, which gives every process one OpenMP thread
    (OMP_NUM_THREADS=1), the machine's cores shared out among its processes: the search runs on the
    CPU while the accelerator waits, and one thread per process would leave most cores idle."""
    local = os.environ.get("LOCAL_WORLD_SIZE")
    if local and local.isdigit() and int(local) > 0 and os.environ.get("OMP_NUM_THREADS") == "1":
        return max(1, (os.cpu_count() or 1) // int(local))
    return torch.get_num_threads()


def _lengths(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token and frame counts of each item, read from the mask's first column and first row."""
    t_x = (mask[:, :, 0] != 0).sum(1)
    t_y = (mask[:, 0, :] != 0).sum(1)
    return t_x.to("cpu", torch.int32), t_y.to("cpu", torch.int32)


def _check_lengths(t_x: torch.Tensor, t_y: torch.Tensor) -> None:
    short = ((t_y < t_x) | ((t_x == 0) & (t_y > 0))).nonzero().flatten().tolist()
    if short:
        details = ", ".join(f"item {i}: {int(t_x[i])} tokens, {int(t_y[i])} frames" for i in short)
        raise AlignmentError(f"every token needs at least one frame, but {details}")


def _not_prefix_error(items: list[int]) -> AlignmentError:
    return AlignmentError(f"mask of item(s) {items} is not a prefix mask (ones for the first "
                          "tokens x the first frames, zeros elsewhere)")


def maximum_path(value: torch.Tensor, mask: torch.Tensor, *, check_mask: bool = True,
                 num_threads: Optional[int] = None, use_extension: Optional[bool] = None) -> torch.Tensor:
    """Most likely monotonic alignment path.

    value: (B, T_text, T_mel) log-likelihoods (searched in float32 whatever their dtype);
    mask: (B, T_text, T_mel) prefix mask, nonzero where both the token and the frame are valid.
    check_mask=False skips reading the whole mask (for callers that build masks from lengths).
    Returns a 0/1 tensor of value's shape, device and dtype.
    """
    if value.dim() != 3 or not value.is_floating_point():
        raise AlignmentError(f"value must be a float tensor (batch, text, frames), got {value.dtype} "
                             f"{tuple(value.shape)}")
    if mask.shape != value.shape:
        raise AlignmentError(f"mask shape {tuple(mask.shape)} differs from value shape {tuple(value.shape)}")
    t_x, t_y = _lengths(mask)
    _check_lengths(t_x, t_y)
    scores = value.detach().to("cpu", torch.float32).contiguous()
    cpu_mask = mask.detach().to("cpu", torch.float32).contiguous() if check_mask else None
    out_dtype = value.dtype if value.dtype in _PATH_DTYPES else torch.float32
    if use_extension is None:
        use_extension = has_extension()
    if use_extension:
        if _core is None:
            raise RuntimeError("monotonic_align.core is not built; reinstall with `pip install -e .`")
        threads = min(num_threads or default_threads(), max(1, scores.shape[0]))
        path = torch.empty(scores.shape, dtype=out_dtype)
        bad = _core.maximum_path_c(scores.numpy(), path.numpy(), t_x.numpy(), t_y.numpy(), threads,
                                   None if cpu_mask is None else cpu_mask.numpy())
        if bad:
            raise _not_prefix_error(bad)
    else:
        if cpu_mask is not None:
            expected = _prefix_mask(t_x, t_y, scores.shape)
            bad = (expected != (cpu_mask != 0)).flatten(1).any(1).nonzero().flatten().tolist()
            if bad:
                raise _not_prefix_error(bad)
        path = torch.zeros(scores.shape, dtype=out_dtype)
        _numba_search(scores.numpy(), path.numpy(), t_x.numpy(), t_y.numpy())
    return path.to(device=value.device, dtype=value.dtype)


def maximum_path_durations(value: torch.Tensor, mask: torch.Tensor, *, check_mask: bool = True,
                           num_threads: Optional[int] = None) -> torch.Tensor:
    """The frames of each token on the best monotonic path: (B, T_text) int64 on value's device.
    The search runs on the CPU either way; only these counts travel back, not the (B, T_text,
    T_mel) path, which a caller on a GPU rebuilds there from them."""
    path = maximum_path(value.detach().cpu().float(), mask.detach().cpu(), check_mask=check_mask,
                        num_threads=num_threads)
    return path.sum(-1).long().to(value.device)


def _prefix_mask(t_x: torch.Tensor, t_y: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    x_range = torch.arange(shape[1])
    y_range = torch.arange(shape[2])
    return (x_range[None, :, None] < t_x[:, None, None]) & (y_range[None, None, :] < t_y[:, None, None])


def _numba_search(value: np.ndarray, path: np.ndarray, t_x: np.ndarray, t_y: np.ndarray) -> None:
    from .numba_impl import maximum_path_numba

    maximum_path_numba(value, path, t_x, t_y)


if _core is None:
    warnings.warn("monotonic_align: the Cython extension is not built, using the slower numba "
                  "implementation (run `pip install -e .` to build it)", RuntimeWarning, stacklevel=2)

"""Pure numba implementation of the alignment search: the fallback and the test oracle."""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _search_one(value, path, t_x, t_y):
    neg_inf = np.float32(-1e9)
    cum = np.zeros((t_x, t_y), dtype=np.float32)
    for y in range(t_y):
        for x in range(max(0, t_x + y - t_y), min(t_x, y + 1)):
            stay = neg_inf if x == y else cum[x, y - 1]
            if x == 0:
                advance = np.float32(0.0) if y == 0 else neg_inf
            else:
                advance = cum[x - 1, y - 1]
            cum[x, y] = max(stay, advance) + value[x, y]
    index = t_x - 1
    for y in range(t_y - 1, -1, -1):
        path[index, y] = 1
        if index != 0 and (index == y or cum[index, y - 1] < cum[index - 1, y - 1]):
            index -= 1


@numba.njit(cache=True, parallel=True)
def maximum_path_numba(value, path, t_x, t_y):
    """value (B, T_text, T_mel) float32; path of the same shape, zero-filled; lengths int32."""
    for b in numba.prange(value.shape[0]):
        _search_one(value[b], path[b], t_x[b], t_y[b])

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Monotonic alignment search (Glow-TTS / Grad-TTS), parallel over the batch with OpenMP.

The scores are only read. Each item keeps two columns of cumulative scores and one byte per
cell for the backtracking decision in a small per-thread buffer (it stays in cache), so the only
large memory written is the output path itself. Ties break exactly as in the official Cython
implementation: backtracking stays on the same token unless the previous token scored strictly
higher.
"""
from cython.parallel import prange
from libc.stdlib cimport free, malloc
from libc.string cimport memset

ctypedef fused path_t:
    float
    double
    int


cdef int _search_one(const float[:, ::1] value, path_t[:, ::1] path, int t_x, int t_y) noexcept nogil:
    cdef float neg_inf = -1e9
    cdef float stay, advance
    cdef int x, y, lo, hi, index
    cdef Py_ssize_t row
    cdef float* prev
    cdef float* cur
    cdef float* swap
    cdef unsigned char* step_back
    for row in range(path.shape[0]):
        memset(&path[row, 0], 0, path.shape[1] * sizeof(path_t))
    if t_x == 0 or t_y == 0:
        return 0
    prev = <float*> malloc(2 * t_x * sizeof(float))
    step_back = <unsigned char*> malloc(<size_t> t_x * t_y)
    if prev == NULL or step_back == NULL:
        free(prev)
        free(step_back)
        return -1
    cur = prev + t_x
    for y in range(t_y):
        lo = t_x + y - t_y
        if lo < 0:
            lo = 0
        hi = y + 1
        if hi > t_x:
            hi = t_x
        for x in range(lo, hi):
            stay = neg_inf if x == y else prev[x]
            if x == 0:
                advance = 0.0 if y == 0 else neg_inf
            else:
                advance = prev[x - 1]
            step_back[x * t_y + y] = x == y or stay < advance
            cur[x] = (advance if advance > stay else stay) + value[x, y]
        swap = prev
        prev = cur
        cur = swap
    index = t_x - 1
    for y in range(t_y - 1, -1, -1):
        path[index, y] = 1
        if index != 0 and step_back[index * t_y + y]:
            index = index - 1
    free(prev if prev < cur else cur)
    free(step_back)
    return 0


cdef int _mask_is_prefix(const float[:, ::1] mask, int t_x, int t_y) noexcept nogil:
    cdef Py_ssize_t x, y
    for x in range(mask.shape[0]):
        for y in range(mask.shape[1]):
            if (mask[x, y] != 0) != (x < t_x and y < t_y):
                return 0
    return 1


def maximum_path_c(const float[:, :, ::1] value, path_t[:, :, ::1] path, const int[::1] t_x,
                   const int[::1] t_y, int num_threads, const float[:, :, ::1] mask=None):
    """Fill `path` (B, T_text, T_mel) for every item.

    With `mask`, first checks that each item's mask is the prefix mask of its lengths and returns
    the indices of the items where it is not (their paths are left unfilled). Returns [] on success.
    """
    cdef Py_ssize_t b
    cdef Py_ssize_t batch = value.shape[0]
    cdef int check = mask is not None
    cdef unsigned char[::1] failed = bytearray(batch)
    if num_threads < 1:
        num_threads = 1
    for b in prange(batch, nogil=True, num_threads=num_threads, schedule="dynamic"):
        if check and not _mask_is_prefix(mask[b], t_x[b], t_y[b]):
            failed[b] = 1
        elif _search_one(value[b], path[b], t_x[b], t_y[b]) != 0:
            failed[b] = 2
    if any(flag == 2 for flag in failed):
        raise MemoryError("monotonic_align: out of memory for the backtracking buffer")
    return [i for i in range(batch) if failed[i]]

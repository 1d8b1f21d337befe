import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import monotonic_align
from monotonic_align import AlignmentError, maximum_path

IMPLEMENTATIONS = [pytest.param(True, id="cython"), pytest.param(False, id="numba")]


def lengths_mask(x_lengths, y_lengths, t_x, t_y):
    x = torch.arange(t_x)[None, :, None] < torch.as_tensor(x_lengths)[:, None, None]
    y = torch.arange(t_y)[None, None, :] < torch.as_tensor(y_lengths)[:, None, None]
    return (x & y).float()


def test_extension_is_built():
    assert monotonic_align.has_extension(), "monotonic_align.core missing: run `pip install -e .`"


@pytest.mark.parametrize("use_extension", IMPLEMENTATIONS)
def test_reference_cases_exact(load_reference, use_extension):
    cases = load_reference("mas_cases.pt")
    for name, case in cases.items():
        value = case["value"]
        mask = lengths_mask(case["x_lengths"], case["y_lengths"], value.shape[1], value.shape[2])
        path = maximum_path(value, mask, use_extension=use_extension)
        assert path.dtype == value.dtype
        assert torch.equal(path.to(torch.int8), case["path"]), name


def test_keeps_input_and_dtype():
    value = torch.randn(2, 3, 7, dtype=torch.float64)
    before = value.clone()
    path = maximum_path(value, lengths_mask([3, 2], [7, 5], 3, 7))
    assert torch.equal(value, before)
    assert path.dtype == torch.float64


def _score(value, path):
    return float((value * path).sum())


def _brute_force_best(value, t_x, t_y):
    """Best total over every monotonic path (each token at least one frame, in order)."""
    best = -np.inf
    for cuts in itertools.combinations(range(1, t_y), t_x - 1):
        bounds = (0,) + cuts + (t_y,)
        total = sum(value[x, bounds[x]:bounds[x + 1]].sum() for x in range(t_x))
        best = max(best, total)
    return best


@st.composite
def alignment_problems(draw):
    batch = draw(st.integers(1, 3))
    t_x = draw(st.integers(1, 5))
    t_y = draw(st.integers(t_x, 8))
    x_lengths = [draw(st.integers(1, t_x)) for _ in range(batch)]
    y_lengths = [draw(st.integers(x, t_y)) for x in x_lengths]
    seed = draw(st.integers(0, 2**31 - 1))
    value = torch.from_numpy(np.random.default_rng(seed).normal(size=(batch, t_x, t_y)).astype(np.float32))
    return value, x_lengths, y_lengths


@pytest.mark.parametrize("use_extension", IMPLEMENTATIONS)
@settings(max_examples=60, deadline=None)
@given(problem=alignment_problems())
def test_path_properties(use_extension, problem):
    value, x_lengths, y_lengths = problem
    mask = lengths_mask(x_lengths, y_lengths, value.shape[1], value.shape[2])
    path = maximum_path(value, mask, use_extension=use_extension)
    assert torch.all(path[mask == 0] == 0)
    for b, (t_x, t_y) in enumerate(zip(x_lengths, y_lengths)):
        item = path[b, :t_x, :t_y]
        assert torch.all(item.sum(0) == 1), "every frame belongs to exactly one token"
        assert torch.all(item.sum(1) >= 1), "every token has at least one frame"
        tokens = item.argmax(0)
        assert torch.all(tokens[1:] - tokens[:-1] >= 0) and torch.all(tokens[1:] - tokens[:-1] <= 1)
        assert tokens[0] == 0 and tokens[-1] == t_x - 1
        best = _brute_force_best(value[b, :t_x, :t_y].double().numpy(), t_x, t_y)
        assert _score(value[b, :t_x, :t_y].double(), item.double()) == pytest.approx(best, abs=1e-4)


def test_implementations_agree_on_large_batch():
    value = torch.randn(6, 40, 150)
    mask = lengths_mask([40, 10, 33, 1, 40, 25], [150, 60, 33, 5, 120, 149], 40, 150)
    assert torch.equal(maximum_path(value, mask, use_extension=True, num_threads=2),
                       maximum_path(value, mask, use_extension=False))


def test_errors():
    with pytest.raises(AlignmentError, match="shape"):
        maximum_path(torch.zeros(1, 2, 3), torch.ones(1, 2, 4))
    with pytest.raises(AlignmentError, match="batch, text, frames"):
        maximum_path(torch.zeros(2, 3), torch.ones(2, 3))
    holey = torch.ones(2, 3, 4)
    holey[1, 0, 2] = 0
    with pytest.raises(AlignmentError, match=r"item\(s\) \[1\] is not a prefix mask"):
        maximum_path(torch.zeros(2, 3, 4), holey)
    with pytest.raises(AlignmentError, match="item 0: 3 tokens, 2 frames"):
        maximum_path(torch.zeros(1, 3, 4), lengths_mask([3], [2], 3, 4))


def test_durations_rebuild_the_path_exactly():
    from grad_tts.model import durations_to_path
    from monotonic_align import maximum_path, maximum_path_durations

    torch.manual_seed(0)
    t_x, t_y = torch.tensor([5, 3, 7]), torch.tensor([20, 9, 31])
    mask = ((torch.arange(7)[None, :, None] < t_x[:, None, None])
            & (torch.arange(31)[None, None, :] < t_y[:, None, None])).float()
    value = torch.randn(3, 7, 31)
    durations = maximum_path_durations(value, mask)
    assert durations.dtype == torch.int64 and durations.sum(1).tolist() == t_y.tolist()
    torch.testing.assert_close(durations_to_path(durations.float(), mask), maximum_path(value, mask))


def test_threads_under_torchrun_share_out_the_cores(monkeypatch):
    from monotonic_align import default_threads

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_threads() == torch.get_num_threads()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert default_threads() == 4
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # set by the user: respected through torch's own count
    assert default_threads() == torch.get_num_threads()

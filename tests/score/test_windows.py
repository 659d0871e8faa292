"""Windows: correct content, never crossing a group (symbol or segment) boundary."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from signalpack.score.windows import build_windows, position_in_group, window_ends


def test_position_in_group():
    g = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(position_in_group(g), [0, 1, 2, 0, 1, 0, 1, 2, 3])


@settings(max_examples=50, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=6),
       seq_len=st.integers(min_value=1, max_value=12))
def test_windows_never_cross_groups(sizes, seq_len):
    groups = np.repeat(np.arange(len(sizes)), sizes)
    x = np.arange(len(groups) * 2, dtype=np.float32).reshape(-1, 2)
    ends = window_ends(groups, seq_len)
    assert len(ends) == sum(max(0, s - seq_len + 1) for s in sizes)
    w = build_windows(x, ends, seq_len)
    assert w.shape == (len(ends), seq_len, 2) and w.dtype == np.float32 and w.flags.c_contiguous
    for k, t in enumerate(ends):
        rows = np.arange(t - seq_len + 1, t + 1)
        assert (groups[rows] == groups[t]).all()
        np.testing.assert_array_equal(w[k], x[rows])


def test_empty():
    assert build_windows(np.zeros((0, 3)), np.array([], dtype=int), 10).shape == (0, 10, 3)

"""Sliding windows over per-symbol feature rows → float32 [n_windows, seq_len, n_features].

A window ends at row t and holds rows t-seq_len+1..t. It is valid only when all
of those rows belong to the same group (a symbol, or a symbol-and-segment in
training), so windows never cross a symbol or segment boundary.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["position_in_group", "window_ends", "build_windows", "symbol_windows"]


def position_in_group(groups: np.ndarray) -> np.ndarray:
    """0-based index of each row within its run of equal ``groups`` values.

    groups : array of shape (n_rows,), equal values contiguous (sorted input).
    """
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = groups[1:] != groups[:-1]
    start_idx = np.flatnonzero(starts)
    run_start = np.repeat(start_idx, np.diff(np.append(start_idx, n)))
    return np.arange(n, dtype=np.int64) - run_start


def window_ends(groups: np.ndarray, seq_len: int) -> np.ndarray:
    """Row indices t whose window t-seq_len+1..t lies inside one group."""
    return np.flatnonzero(position_in_group(groups) >= seq_len - 1)


def build_windows(x: np.ndarray, ends: np.ndarray, seq_len: int) -> np.ndarray:
    """Windows ending at ``ends``.

    x : ndarray of shape (n_rows, n_features)
    ends : int array of row indices, each >= seq_len - 1
    Returns a C-contiguous float32 ndarray of shape (len(ends), seq_len, n_features).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n_features = x.shape[1]
    if len(ends) == 0:
        return np.zeros((0, seq_len, n_features), dtype=np.float32)
    view = sliding_window_view(x, (seq_len, n_features))[:, 0]
    return np.ascontiguousarray(view[np.asarray(ends) - (seq_len - 1)])


def symbol_windows(features: pl.DataFrame, names: list[str], seq_len: int) -> tuple[np.ndarray, pl.DataFrame]:
    """All windows of a feature frame (warm-up already dropped), per symbol.

    features : (symbol, timestamp)-sorted output of ``compute_features``.
    Returns raw float32 windows (n, seq_len, n_features) and the rows they end on
    (symbol, timestamp), in the same order.
    """
    groups = features.get_column("symbol").rle_id().to_numpy()
    ends = window_ends(groups, seq_len)
    x = features.select(names).to_numpy().astype(np.float32)
    return build_windows(x, ends, seq_len), features.select("symbol", "timestamp")[ends]

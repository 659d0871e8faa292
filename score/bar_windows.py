"""Raw OHLCV windows → float64 [n_windows, lookback + seq_len, 5]: the input of an in-graph feature model.

A window ending at row t holds rows t-W+1..t (W = lookback + seq_len) of
open, high, low, close and volume, oldest first. It exists only when all W rows
belong to t's symbol, so windows never cross symbols, and a symbol with m rows
yields max(m - W + 1, 0) windows. The first ``lookback`` rows of a window are
the features' warm-up; the graph's seq_len output steps are its last rows.

Windows are views of one float64 array (``sliding_window_view``), gathered at the
valid end rows: no Python loop over rows or symbols, one copy of the output.
Values stay float64 because the features are computed in float64 (as by
``compute_features``) before any cast to the model's float32.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from signalpack.score.contract import BAR_COLUMNS
from signalpack.score.windows import window_ends

__all__ = ["BAR_COLUMNS", "bar_matrix", "gather_windows", "raw_windows"]


def bar_matrix(frame: pl.DataFrame) -> np.ndarray:
    """The frame's bars as one C-contiguous float64 [rows, 5] array in ``BAR_COLUMNS`` order."""
    return np.ascontiguousarray(frame.select(BAR_COLUMNS).to_numpy(), dtype=np.float64)


def gather_windows(bars: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """The windows of ``width`` rows of ``bars`` ([rows, 5]) ending at ``ends``: float64 [len(ends), width, 5].

    Each end must be >= width - 1 and its window must lie in one symbol (``window_ends`` gives such ends).
    """
    if len(ends) == 0:
        return np.zeros((0, width, bars.shape[1]), dtype=np.float64)
    view = sliding_window_view(bars, (width, bars.shape[1]))[:, 0]  # [rows - W + 1, W, 5], no copy
    return np.ascontiguousarray(view[np.asarray(ends) - (width - 1)])


def raw_windows(frame: pl.DataFrame, lookback: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """All raw-bar windows of a checked, (symbol, timestamp)-sorted OHLCV frame.

    frame : e.g. ``load_ohlcv(path).frame`` (columns symbol, open, high, low, close, volume).
    Returns (windows, ends): C-contiguous float64 [n, lookback + seq_len, 5] in
    ``BAR_COLUMNS`` order, and the int64 row index (into ``frame``) of each window's last row.
    """
    if lookback < 0 or seq_len < 1:
        raise ValueError(f"need lookback >= 0 and seq_len >= 1, got {lookback} and {seq_len}")
    width = lookback + seq_len
    groups = frame.get_column("symbol").rle_id().to_numpy()
    ends = window_ends(groups, width).astype(np.int64)
    if len(ends) == 0:
        return np.zeros((0, width, len(BAR_COLUMNS))), ends
    return gather_windows(bar_matrix(frame), ends, width), ends

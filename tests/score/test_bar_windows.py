"""Raw-bar windows: per symbol, never across symbols, exactly the frame's rows, oldest first."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from signalpack.score.bar_windows import BAR_COLUMNS, raw_windows
from signalpack.score.io import load_ohlcv
from tests.conftest import EURUSD, GOOG

LOOKBACK, SEQ = 49, 10
W = LOOKBACK + SEQ


@pytest.fixture(scope="module")
def multi(tmp_path_factory) -> pl.DataFrame:
    """Three symbols through ``load_ohlcv``: two long real series and one shorter than a window."""
    goog = load_ohlcv(GOOG).frame.head(400).with_columns(symbol=pl.lit("GOOG"))
    fx = load_ohlcv(EURUSD).frame.head(300).with_columns(symbol=pl.lit("EURUSD"))
    short = load_ohlcv(EURUSD).frame.tail(W - 1).with_columns(symbol=pl.lit("SHORT"))
    path = tmp_path_factory.mktemp("bars") / "multi.csv"
    pl.concat([goog, short, fx]).write_csv(path)
    return load_ohlcv(path).frame


def test_shapes_dtype_and_layout(multi):
    windows, ends = raw_windows(multi, LOOKBACK, SEQ)
    assert windows.shape == (len(ends), W, len(BAR_COLUMNS))
    assert windows.dtype == np.float64 and windows.flags.c_contiguous
    assert ends.dtype == np.int64 and np.all(np.diff(ends) > 0)
    assert BAR_COLUMNS == ("open", "high", "low", "close", "volume")


def test_one_window_per_row_with_w_rows_of_its_own_symbol(multi):
    _, ends = raw_windows(multi, LOOKBACK, SEQ)
    symbols = multi.get_column("symbol").to_numpy()
    counts = multi.group_by("symbol").len()
    for sym, rows in counts.iter_rows():
        assert int((symbols[ends] == sym).sum()) == max(rows - (W - 1), 0), sym
    assert "SHORT" not in set(symbols[ends])


def test_windows_never_cross_symbols(multi):
    _, ends = raw_windows(multi, LOOKBACK, SEQ)
    symbols = multi.get_column("symbol").to_numpy()
    rows = ends[:, None] - (W - 1) + np.arange(W)[None, :]
    assert (rows >= 0).all()
    assert (symbols[rows] == symbols[ends][:, None]).all()


def test_content_is_the_frames_rows_oldest_first(multi):
    windows, ends = raw_windows(multi, LOOKBACK, SEQ)
    bars = multi.select(BAR_COLUMNS).to_numpy()
    for i in (0, 1, len(ends) // 2, len(ends) - 1):
        np.testing.assert_array_equal(windows[i], bars[ends[i] - (W - 1) : ends[i] + 1])
    timestamps = multi.get_column("timestamp").to_numpy()
    assert (np.diff(timestamps[ends[0] - (W - 1) : ends[0] + 1]) > np.timedelta64(0)).all()


def test_no_window_and_bad_arguments(multi):
    windows, ends = raw_windows(multi.head(W - 1), LOOKBACK, SEQ)
    assert windows.shape == (0, W, 5) and ends.shape == (0,)
    one, ends = raw_windows(multi.head(W), LOOKBACK, SEQ)
    assert one.shape == (1, W, 5) and ends.tolist() == [W - 1]
    with pytest.raises(ValueError):
        raw_windows(multi, -1, SEQ)
    with pytest.raises(ValueError):
        raw_windows(multi, LOOKBACK, 0)

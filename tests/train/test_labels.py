"""Labels: forward return against a volatility threshold from the past; triple barrier."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from signalpack.score.io import load_ohlcv
from signalpack.train.config import LabelConfig
from signalpack.train.labels import BUY, HOLD, SELL, add_labels
from tests.conftest import SP500


def _frame(close: list[float], high: list[float] | None = None, low: list[float] | None = None) -> pl.DataFrame:
    n = len(close)
    return pl.DataFrame({
        "symbol": ["A"] * n,
        "timestamp": [datetime(2020, 1, 1) + timedelta(days=i) for i in range(n)],
        "open": close, "high": high or close, "low": low or close, "close": close,
        "volume": [1.0] * n,
    })


def test_forward_return_labels_by_hand():
    # alternating ±1% returns give a known past volatility; then a jump decides the label
    close = [100.0]
    for i in range(6):
        close.append(close[-1] * (1.01 if i % 2 == 0 else 1 / 1.01))
    close += [close[-1] * 1.05, close[-1] * 1.05, close[-1] * 1.05 * 0.9]
    cfg = LabelConfig(horizon=1, vol_window=4, threshold=1.0)
    out = add_labels(_frame(close), cfg)
    r = np.diff(np.log(close))
    vol_6 = np.std(r[2:6], ddof=1)  # returns ending at row 6
    assert np.log(1.05) > vol_6 and out["label"][6] == BUY
    assert out["label"][8] == SELL  # -10% next bar
    assert out["label"][9] is None  # no future bar
    assert out["label"][2] is None  # volatility not yet defined (needs 4 returns)
    assert out["label_end"][6] == out["timestamp"][7]


def test_threshold_uses_only_the_past_and_horizon_bounds_the_future():
    frame = load_ohlcv(SP500).frame.head(300)
    cfg = LabelConfig()
    base = add_labels(frame, cfg)
    t = 200
    # changing bars after t+H never changes the label at t
    later = frame.with_columns(
        pl.when(pl.int_range(pl.len()) > t + cfg.horizon).then(pl.col(c) * 2).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low", "close")
    )
    assert add_labels(later, cfg)["label"][: t + 1].equals(base["label"][: t + 1])
    assert base["label_end"][t] == frame["timestamp"][t + cfg.horizon]


def test_triple_barrier_by_hand():
    close = [100.0] * 25 + [100.0, 100.0, 100.0, 100.0]
    close = [c * (1.01 if i % 2 else 1.0) for i, c in enumerate(close)]
    n = len(close)
    high, low = list(close), list(close)
    cfg = LabelConfig(method="triple_barrier", horizon=3, vol_window=20, threshold=1.0)
    # row 22: the next bar's high jumps +20% → BUY; row 23's window: next bar both → SELL
    high[23] = close[23] * 1.2
    low[25] = close[25] * 0.8
    high[25] = close[25] * 1.2
    out = add_labels(_frame(close, high, low), cfg)
    assert out["label"][22] == BUY
    assert out["label"][24] == SELL  # both barriers in one bar: stop-loss first
    assert out["label"][21] == BUY  # upper touched at row 23, within 3 bars
    assert out["label"][n - 1] is None
    flat = add_labels(_frame([100.0 * (1.01 if i % 2 else 1.0) for i in range(30)]), cfg)
    assert flat["label"][22] == HOLD

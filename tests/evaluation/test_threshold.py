"""Tests of evaluation.threshold: the confidence threshold is chosen on validation only, by a stated rule."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from signalpack.evaluation.book import simulate_symbols
from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.threshold import (
    DEFAULT_GRID,
    GridPoint,
    choose_threshold,
    choose_threshold_on_validation,
    dsr_trials,
    evaluate_grid,
    validation_segment,
)
from signalpack.score.contract import BUY, HOLD, SELL
from tests.evaluation.sim_paths import walk

# --------------------------------------------------------------------------- the rule


def _p(thr: float, trades: int, sharpe: float | None) -> GridPoint:
    return GridPoint(thr, trades, 0.0, sharpe)


def test_highest_validation_sharpe_among_thresholds_with_enough_trades():
    grid = [_p(0.4, 30, 0.01), _p(0.5, 12, 0.03), _p(0.6, 4, 0.09), _p(0.7, 0, None)]
    c = choose_threshold(grid, min_trades=5)
    assert (c.threshold, c.fell_back) == (0.5, False)  # 0.6's higher Sharpe has only 4 trades
    assert choose_threshold(grid, min_trades=4).threshold == 0.6
    assert "at least 5 round trips" in c.rule and c.min_trades == 5


def test_ties_go_to_the_higher_threshold():
    assert choose_threshold([_p(0.4, 9, 0.02), _p(0.45, 9, 0.02), _p(0.5, 9, 0.01)]).threshold == 0.45


def test_no_threshold_trades_enough_falls_back_to_the_highest():
    c = choose_threshold([_p(0.4, 2, 0.5), _p(0.5, 1, 0.9), _p(0.6, 0, None)], min_trades=5)
    assert (c.threshold, c.fell_back) == (0.6, True)


def test_every_grid_point_is_a_trial():
    assert dsr_trials(len(DEFAULT_GRID), 4) == 4 * len(DEFAULT_GRID) == 40
    with pytest.raises(ValueError):
        dsr_trials(0, 4)


# --------------------------------------------------------------------------- validation only

SEGMENT_BARS = {"train": 300, "validation": 250, "test": 250}


def _frame(symbols: tuple[str, ...] = ("AAA", "BBB")) -> tuple[pl.DataFrame, np.ndarray]:
    """Windows of every segment for each symbol, sorted (symbol, timestamp), with a segment mask."""
    parts, segments = [], []
    n = sum(SEGMENT_BARS.values())
    for k, sym in enumerate(symbols):
        ts, o, h, lo, c = walk(n, seed=10 + k)
        rng = np.random.default_rng(20 + k)
        parts.append(pl.DataFrame({
            "symbol": [sym] * n, "timestamp": ts.astype("datetime64[us]"),
            "open": o, "high": h, "low": lo, "close": c,
            "signal": rng.choice([SELL, HOLD, BUY], n, p=[0.2, 0.5, 0.3]).astype(np.int8),
            "confidence": rng.uniform(0.34, 0.9, n),
            "label": rng.integers(0, 3, n),
        }))
        segments += [s for s, m in SEGMENT_BARS.items() for _ in range(m)]
    return pl.concat(parts), np.array(segments)


def test_validation_segment_keeps_only_validation_rows_and_simulation_columns():
    frame, seg = _frame()
    v = validation_segment(frame, seg == "validation")
    assert v.frame.height == 2 * SEGMENT_BARS["validation"]
    assert v.frame.columns == ["symbol", "timestamp", "open", "high", "low", "close", "signal", "confidence"]
    assert v.frame.equals(frame.filter(pl.Series(seg == "validation")).drop("label"))
    with pytest.raises(ValueError, match="one value per row"):
        validation_segment(frame, (seg == "validation")[:-1])
    with pytest.raises(ValueError, match="bool"):
        validation_segment(frame, (seg == "validation").astype(int))
    with pytest.raises(ValueError, match="no rows"):
        validation_segment(frame, np.zeros(frame.height, dtype=bool))


def test_the_grid_never_reads_the_test_segment():
    """Test-segment prices made invalid (NaN, negative, which the simulation refuses on sight) and
    its signals scrambled: the same grid figures and the same choice."""
    frame, seg = _frame()
    cfg = SimConfig()
    chosen = choose_threshold_on_validation(frame, seg == "validation", cfg, seed=1)
    test = pl.Series(seg == "test")
    poison = frame.with_columns(
        pl.when(test).then(pl.lit(float("nan"))).otherwise(pl.col("open")).alias("open"),
        pl.when(test).then(pl.lit(-1.0)).otherwise(pl.col("close")).alias("close"),
        pl.when(test).then(pl.lit(BUY, dtype=pl.Int8)).otherwise(pl.col("signal")).alias("signal"),
        pl.when(test).then(pl.lit(1.0)).otherwise(pl.col("confidence")).alias("confidence"),
    )
    with pytest.raises(ValueError, match="finite and positive"):
        simulate_symbols(poison, cfg, 1)  # the poison would stop anything that read it
    again = choose_threshold_on_validation(poison, seg == "validation", cfg, seed=1)
    assert again == chosen
    assert json.loads(json.dumps(chosen.to_dict(), allow_nan=False))["segment"] == "validation"


def test_the_grid_does_read_validation():
    frame, seg = _frame()
    cfg = SimConfig()
    points = evaluate_grid(validation_segment(frame, seg == "validation"), DEFAULT_GRID, cfg)
    assert [p.threshold for p in points] == sorted(DEFAULT_GRID)
    assert points[0].n_trades > points[-1].n_trades  # a lower threshold acts on more signals
    quiet = frame.with_columns(
        pl.when(pl.Series(seg == "validation")).then(pl.lit(0.335)).otherwise(pl.col("confidence")).alias("confidence")
    )
    c = choose_threshold_on_validation(quiet, seg == "validation", cfg)
    assert c.fell_back and c.threshold == max(DEFAULT_GRID)  # nothing reaches the lowest grid point (0.34) on validation
    assert all(p.n_trades == 0 and p.sharpe_per_bar is None for p in c.grid)


def test_grid_values_are_checked():
    frame, seg = _frame(("AAA",))
    v = validation_segment(frame, seg == "validation")
    for bad in ([], [0.5, 0.5], [0.0, 0.5], [1.2]):
        with pytest.raises(ValueError):
            evaluate_grid(v, bad, SimConfig())

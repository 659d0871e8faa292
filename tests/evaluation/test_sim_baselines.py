"""Tests of evaluation.sim_baselines: buy-and-hold arithmetic and the random-timing baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.sim_baselines import buy_and_hold, random_baseline
from tests.evaluation.sim_paths import FREE, PATH_A, days, walk

# --------------------------------------------------------------------------- buy and hold


def test_buy_and_hold_math():
    # Buy at open[0] = 100: fill 100.05, q = 100000 / (100.05 * 1.001) = 998.5...
    # equity = q * close for bars 0..3; last bar sold at 125 * 0.9995, less 0.1 % cost.
    o, h, lo, c = (np.array(x, dtype=float) for x in PATH_A)
    res = buy_and_hold(days(5), o, h, lo, c, SimConfig())
    q = 100_000 / (100 * 1.0005 * 1.001)
    final = q * 125 * 0.9995 * 0.999
    expected = [q * 100, q * 121, q * 130, q * 126, final]
    assert res.equity.tolist() == pytest.approx(expected, rel=1e-12)
    assert res.position.tolist() == [1] * 5
    (t,) = res.trades
    assert t["exit_reason"] == "end" and t["entry_price"] == pytest.approx(100.05, rel=1e-12)
    assert res.metrics["total_return"] == pytest.approx(final / 100_000 - 1, rel=1e-12)
    assert res.metrics["exposure"] == 1.0
    costs = 0.001 * q * 100.05 + 0.001 * q * 125 * 0.9995
    assert res.metrics["costs_paid"] == pytest.approx(costs, rel=1e-12)


def test_buy_and_hold_has_no_stops():
    # A 50 % fall must not trigger a stop.
    ohlc = ([100, 90, 60], [100, 90, 60], [100, 50, 50], [100, 60, 50])
    o, h, lo, c = (np.array(x, dtype=float) for x in ohlc)
    res = buy_and_hold(days(3), o, h, lo, c, FREE)
    assert res.equity.tolist() == pytest.approx([100_000, 60_000, 50_000], rel=1e-12)


# --------------------------------------------------------------------------- random baseline


def test_random_baseline_deterministic_and_percentile_in_range():
    ts, o, h, lo, c = walk(60)
    cfg = SimConfig(random_runs=30)
    a = random_baseline(ts, o, h, lo, c, 4, cfg, seed=11, strategy_return=0.0)
    b = random_baseline(ts, o, h, lo, c, 4, cfg, seed=11, strategy_return=0.0)
    assert a == b
    assert a["runs"] == 30 and a["n_trades"] == 4
    assert 0.0 <= a["strategy_percentile"] <= 100.0
    assert a["p5_return"] <= a["median_return"] <= a["p95_return"]
    json.dumps(a, allow_nan=False)
    assert random_baseline(ts, o, h, lo, c, 4, cfg, 11, 10.0)["strategy_percentile"] == 100.0
    assert random_baseline(ts, o, h, lo, c, 4, cfg, 11, -10.0)["strategy_percentile"] == 0.0
    other = random_baseline(ts, o, h, lo, c, 4, cfg, seed=12, strategy_return=0.0)
    assert other["mean_return"] != a["mean_return"]


def test_random_baseline_without_trades_or_runs():
    ts, o, h, lo, c = walk(20)
    for n_trades, cfg in ((0, SimConfig()), (3, SimConfig(random_runs=0))):
        r = random_baseline(ts, o, h, lo, c, n_trades, cfg, seed=1, strategy_return=0.1)
        assert r["runs"] == 0 and r["strategy_percentile"] is None
        assert r["mean_return"] is None and r["p95_return"] is None

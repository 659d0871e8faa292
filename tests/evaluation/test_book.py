"""Tests of evaluation.book: capital split, alignment on the union of timestamps, and that
the combined book is exactly its symbols simulated one by one."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from signalpack.evaluation.book import simulate_symbols
from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.engine import simulate
from signalpack.evaluation.sim_baselines import buy_and_hold, random_baseline
from signalpack.score.contract import BUY, HOLD, SELL
from tests.evaluation.sim_paths import PATH_A, days, walk

# --------------------------------------------------------------------------- several symbols


def test_simulate_symbols_splits_capital_and_aligns():
    # A: path A on days 0..4, BUY at bar 0, SELL at bar 2 (frictionless, wide stops):
    #    50000 / 110 shares; equity 50000, 55000, 59090.9, 59090.9, 59090.9.
    # B: flat price 50 on days 1..5, no trades: 50000 throughout; before day 1 its capital is idle.
    # Combined on days 0..5: A (forward-filled on day 5) + 50000.
    a = pl.DataFrame(
        {
            "symbol": ["A"] * 5,
            "timestamp": days(5),
            "open": [float(x) for x in PATH_A[0]],
            "high": [float(x) for x in PATH_A[1]],
            "low": [float(x) for x in PATH_A[2]],
            "close": [float(x) for x in PATH_A[3]],
            "signal": [BUY, HOLD, SELL, HOLD, HOLD],
            "confidence": [1.0] * 5,
        }
    )
    b = pl.DataFrame(
        {
            "symbol": ["B"] * 5,
            "timestamp": days(5, "2024-01-02"),
            "open": [50.0] * 5,
            "high": [50.0] * 5,
            "low": [50.0] * 5,
            "close": [50.0] * 5,
            "signal": [HOLD] * 5,
            "confidence": [1.0] * 5,
        }
    )
    frame = pl.concat([a, b]).with_columns(pl.col("timestamp").cast(pl.Datetime("us")))
    cfg = SimConfig(cost=0.0, slippage=0.0, stop_loss=0.5, take_profit=5.0, random_runs=10)
    out = simulate_symbols(frame, cfg, seed=3)
    a_final = 50_000 / 110 * 130
    assert out["per_symbol"]["A"]["strategy"]["final_equity"] == pytest.approx(a_final, rel=1e-12)
    assert out["per_symbol"]["B"]["strategy"]["final_equity"] == pytest.approx(50_000, rel=1e-12)
    eq = out["equity"]
    assert eq.columns == ["timestamp", "equity", "buy_and_hold_equity", "position"]
    assert eq.height == 6
    both = a_final + 50_000
    expected = [100_000, 105_000, both, both, both, both]
    assert eq["equity"].to_list() == pytest.approx(expected, rel=1e-12)
    # buy and hold: A 50000/100 shares marked at the closes; B constant 50000
    bh_a = [500.0 * x for x in PATH_A[3]]
    assert eq["buy_and_hold_equity"].to_list() == pytest.approx(
        [x + 50_000 for x in bh_a] + [bh_a[-1] + 50_000], rel=1e-12
    )
    assert eq["position"].to_list() == [0, 1, 1, 0, 0, 0]
    assert out["strategy"]["final_equity"] == pytest.approx(a_final + 50_000, rel=1e-12)
    assert out["strategy"]["n_trades"] == 1
    trades = out["trades"]
    assert trades.height == 1 and trades["symbol"].to_list() == ["A"]
    assert out["random"]["runs"] == 10 and 0 <= out["random"]["strategy_percentile"] <= 100
    summary = {k: out[k] for k in ("strategy", "buy_and_hold", "random", "per_symbol")}
    json.dumps(summary, allow_nan=False)


def test_simulate_symbols_single_symbol_matches_simulate():
    ts, o, h, lo, c = walk(40, seed=5)
    rng = np.random.default_rng(5)
    sig = rng.integers(0, 3, 40)
    conf = rng.random(40)
    frame = pl.DataFrame(
        {"symbol": "X", "timestamp": ts, "open": o, "high": h, "low": lo, "close": c,
         "signal": sig, "confidence": conf}
    )
    cfg = SimConfig(random_runs=5)
    out = simulate_symbols(frame, cfg, seed=0)
    direct = simulate(ts, o, h, lo, c, sig, conf, cfg)
    final = direct.metrics["final_equity"]
    assert out["strategy"]["final_equity"] == pytest.approx(final, rel=1e-12)
    assert out["equity"]["position"].to_list() == direct.position.tolist()
    assert out["trades"].height == len(direct.trades)


def _symbol_frame(sym: str, n: int, seed: int, start: str) -> pl.DataFrame:
    _, o, h, lo, c = walk(n, seed)
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {"symbol": sym, "timestamp": days(n, start), "open": o, "high": h, "low": lo, "close": c,
         "signal": rng.integers(0, 3, n), "confidence": rng.random(n)}
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us")))


@pytest.mark.parametrize("allow_short", [False, True])
def test_simulate_symbols_is_each_symbol_simulated_on_its_own(allow_short):
    # Three symbols of different lengths over overlapping date ranges. The book must be
    # exactly the symbols traded one by one on a third of the capital each: same metrics,
    # same trades in the same order, equity the sum of the aligned per-symbol curves, and
    # symbol i's random baseline seeded with seed + i (i in order of first appearance).
    specs = [("AAA", 60, 1, "2024-01-01"), ("BBB", 45, 2, "2024-01-20"), ("CCC", 8, 3, "2024-02-05")]
    frame = pl.concat([_symbol_frame(*s) for s in specs])
    cfg = SimConfig(confidence_threshold=0.4, allow_short=allow_short, random_runs=7)
    out = simulate_symbols(frame, cfg, seed=5)

    sub = SimConfig(confidence_threshold=0.4, allow_short=allow_short, random_runs=7,
                    initial_capital=cfg.initial_capital / 3)
    assert list(out["per_symbol"]) == ["AAA", "BBB", "CCC"]
    union = np.unique(frame["timestamp"].to_numpy())
    expected_equity = np.zeros(len(union))
    expected_trades = []
    for i, (sym, *_rest) in enumerate(specs):
        part = frame.filter(pl.col("symbol") == sym)
        cols = [part[c].to_numpy() for c in ("timestamp", "open", "high", "low", "close")]
        res = simulate(*cols, part["signal"].to_numpy(), part["confidence"].to_numpy(), sub)
        bh = buy_and_hold(*cols, sub)
        rnd = random_baseline(*cols, len(res.trades), sub, 5 + i, res.metrics["total_return"])
        assert out["per_symbol"][sym] == {"strategy": res.metrics, "buy_and_hold": bh.metrics,
                                          "random": rnd}
        expected_trades += [{"symbol": sym, **t} for t in res.trades]
        ts = cols[0]
        idx = np.searchsorted(ts, union, side="right") - 1
        expected_equity += np.where(idx >= 0, res.equity[np.clip(idx, 0, None)], sub.initial_capital)
    assert len(expected_trades) > 0
    assert out["trades"].to_dicts() == expected_trades
    assert out["equity"]["equity"].to_list() == expected_equity.tolist()
    assert out["strategy"]["n_trades"] == len(expected_trades)

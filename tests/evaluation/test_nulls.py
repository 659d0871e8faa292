"""Tests of evaluation.nulls: exposure-matched random entries, block-permuted signals, PSR vs a benchmark."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter

import numpy as np
import polars as pl
import pytest

from signalpack.evaluation.book import simulate_symbols
from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.engine import simulate
from signalpack.evaluation.nulls import (
    TradeBars,
    block_permutation,
    block_permuted_null,
    book_nulls,
    combine_symbols,
    exposure_matched_null,
    exposure_matched_starts,
    null_summary,
    p_value,
    replay_growth,
    sharpe_against_benchmark,
    trade_bars,
)
from signalpack.evaluation.performance import sharpe_statistics
from signalpack.score.contract import BUY, HOLD, SELL
from tests.evaluation.sim_paths import COSTS_NO_STOPS, FREE_NO_STOPS, walk

# --------------------------------------------------------------------------- exposure-matched placements


def test_placements_keep_the_holding_lengths_and_never_overlap():
    lengths = np.array([3, 0, 5, 1, 7, 3])
    starts, order = exposure_matched_starts(lengths, 40, 2000, np.random.default_rng(0))
    assert starts.shape == order.shape == (2000, 6)
    held = lengths[order]
    assert (np.sort(held, axis=1) == np.sort(lengths)).all()  # the same multiset in every draw
    assert (held.sum(axis=1) == lengths.sum()).all()  # so exactly the same time in the market
    ends = starts + held
    assert (starts[:, 1:] >= ends[:, :-1]).all()  # in time order, never overlapping
    assert starts.min() >= 1 and ends.max() <= 40  # never bar 0 (a fill is at t + 1), never past the end
    covered = np.zeros(40, dtype=bool)
    for s, h in zip(starts.ravel(), held.ravel(), strict=True):
        covered[s : s + h] = True
    assert covered[1:].all()  # every bar can be held


def test_placements_are_uniform_over_all_arrangements():
    """Two 1-bar trades on bars 1..3 (one free bar): the free bar goes before, between or after,
    so the starts are (2, 3), (1, 3) or (1, 2), each with probability 1/3."""
    starts, _ = exposure_matched_starts(np.array([1, 1]), 4, 9000, np.random.default_rng(1))
    freq = Counter(map(tuple, starts.tolist()))
    assert set(freq) == {(2, 3), (1, 3), (1, 2)}
    assert all(abs(v / 9000 - 1 / 3) < 0.02 for v in freq.values())


def test_placements_refuse_trades_that_do_not_fit():
    with pytest.raises(ValueError, match="do not fit"):
        exposure_matched_starts(np.array([5, 5]), 10, 3, np.random.default_rng(0))
    full, _ = exposure_matched_starts(np.array([4, 5]), 10, 5, np.random.default_rng(0))  # no free bar
    assert {tuple(r) for r in full.tolist()} <= {(1, 5), (1, 6)}


def test_thousand_draws_over_three_thousand_bars_are_fast():
    lengths = np.random.default_rng(2).integers(1, 20, 80)
    t = time.perf_counter()
    exposure_matched_starts(lengths, 3000, 1000, np.random.default_rng(3))
    assert time.perf_counter() - t < 1.0


# --------------------------------------------------------------------------- the strategy's trades, replayed


def _signals(n: int, seed: int, p_move: float = 0.04) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([SELL, HOLD, BUY], n, p=[p_move, 1 - 2 * p_move, p_move])


@pytest.mark.parametrize("cfg", [COSTS_NO_STOPS, dataclasses.replace(COSTS_NO_STOPS, allow_short=True)])
def test_replay_is_the_engine_when_no_stop_is_hit(cfg):
    ts, o, h, lo, c = walk(600, seed=4)
    sig = _signals(600, 4)
    sig[-30] = BUY  # a position still open at the end ("end" exit at the last close)
    sig[-29:] = HOLD
    res = simulate(ts, o, h, lo, c, sig, np.ones(600), cfg)
    trades = trade_bars(res.trades, ts)
    assert res.trades[-1]["exit_reason"] == "end"
    assert trades.exposure_bars == int((res.position != 0).sum())  # lengths = bars in the market
    assert (trades.sides < 0).any() == cfg.allow_short
    growth = replay_growth(o, c, trades.starts, trades.lengths, trades.sides, cfg.cost, cfg.slippage)
    assert np.prod(growth) - 1 == pytest.approx(res.metrics["total_return"], rel=1e-10, abs=1e-12)


def test_trade_bars_counts_a_same_bar_stop_as_zero_bars():
    # Enter at bar 1's open (100) and hit the default 3 % stop inside bar 1: held over no close.
    ts = np.datetime64("2024-01-01") + np.arange(4)
    o, h, lo, c = (np.array(x, dtype=float) for x in ([100, 100, 95, 95], [100, 101, 96, 96],
                                                        [100, 90, 94, 94], [100, 95, 95, 95]))
    res = simulate(ts, o, h, lo, c, np.array([BUY, HOLD, HOLD, HOLD]), np.ones(4), SimConfig())
    tb = trade_bars(res.trades, ts)
    assert res.trades[0]["exit_reason"] == "stop_loss"
    assert tb.starts.tolist() == [1] and tb.lengths.tolist() == [0] and tb.exposure_bars == 0


def test_trade_bars_refuses_foreign_times_and_bad_trades():
    ts, o, h, lo, c = walk(50)
    res = simulate(ts, o, h, lo, c, _signals(50, 1, 0.2), np.ones(50), FREE_NO_STOPS)
    assert res.trades
    with pytest.raises(ValueError, match="not one of the timestamps"):
        trade_bars(res.trades, ts + np.timedelta64(1, "h"))
    with pytest.raises(ValueError, match="must start on bar >= 1"):
        TradeBars(np.array([0]), np.array([2]), np.array([1]), 10)
    assert len(trade_bars([], ts).starts) == 0


# --------------------------------------------------------------------------- exposure-matched null


def test_exposure_matched_null_is_deterministic_and_matched():
    ts, o, h, lo, c = walk(800, seed=5)
    res = simulate(ts, o, h, lo, c, _signals(800, 5), np.ones(800), COSTS_NO_STOPS)
    trades = trade_bars(res.trades, ts)
    a = exposure_matched_null(o, c, trades, COSTS_NO_STOPS, runs=300, seed=9)
    b = exposure_matched_null(o, c, trades, COSTS_NO_STOPS, runs=300, seed=9)
    assert np.array_equal(a.null_returns, b.null_returns) and a.strategy_return == b.strategy_return
    assert a.strategy_return == pytest.approx(res.metrics["total_return"], rel=1e-10)
    assert len(a.null_returns) == 300 and np.isfinite(a.null_returns).all()


def test_flat_prices_make_every_placement_equal():
    """With constant prices only costs matter, and every placement pays the same: p = 1."""
    n = 200
    o = c = np.full(n, 50.0)
    trades = TradeBars(np.array([5, 40, 90]), np.array([10, 3, 20]), np.array([1, 1, 1]), n)
    runs = exposure_matched_null(o, c, trades, COSTS_NO_STOPS, runs=100, seed=0)
    assert np.allclose(runs.null_returns, runs.strategy_return, rtol=0, atol=1e-12)
    assert runs.strategy_return < 0  # costs and slippage only
    assert p_value(runs.strategy_return - 1e-12, runs.null_returns) == 1.0


def test_perfect_timing_beats_the_exposure_matched_null():
    """Holding the 10 best 5-bar stretches of a random walk beats 10 random 5-bar stretches."""
    _ts, o, _h, _lo, c = walk(1000, seed=6)
    gains = o[6:] / o[1:-5]  # entry at open[s], exit at open[s + 5], s = 1 .. n - 6
    starts = []
    for s in np.argsort(gains)[::-1] + 1:
        if all(abs(s - t) >= 5 for t in starts):
            starts.append(int(s))
        if len(starts) == 10:
            break
    trades = TradeBars(np.sort(starts), np.full(10, 5), np.ones(10, dtype=np.int64), 1000)
    runs = exposure_matched_null(o, c, trades, COSTS_NO_STOPS, runs=500, seed=1)
    assert p_value(runs.strategy_return, runs.null_returns) <= 1 / 501 + 1e-12
    idle = exposure_matched_null(o, c, TradeBars(*(np.zeros(0, np.int64),) * 3, 1000), COSTS_NO_STOPS, 50)
    assert idle.strategy_return == 0.0 and np.array_equal(idle.null_returns, np.zeros(50))


# --------------------------------------------------------------------------- block permutation


@pytest.mark.parametrize(("n", "length"), [(20, 5), (23, 5), (7, 10), (9, 1)])
def test_block_permutation_keeps_blocks_and_their_contents(n, length):
    perms = block_permutation(n, length, 200, np.random.default_rng(n))
    assert perms.shape == (200, n)
    blocks = [tuple(range(s, min(s + length, n))) for s in range(0, n, length)]
    for row in perms:
        assert sorted(row.tolist()) == list(range(n))  # a permutation: the multiset is kept
        cut, pieces = 0, []
        while cut < n:  # read the row back as whole original blocks, in order inside each
            block = next(b for b in blocks if b[0] == row[cut])
            assert tuple(row[cut : cut + len(block)]) == block
            pieces.append(block)
            cut += len(block)
        assert sorted(pieces) == blocks
    if len(blocks) > 2:
        assert len({tuple(r) for r in perms.tolist()}) > 1  # the order does change


def test_block_permuted_null_runs_the_engine_on_permuted_signals():
    ts, o, h, lo, c = walk(150, seed=7)
    sig = _signals(150, 7, 0.1)
    conf = np.random.default_rng(7).uniform(0.34, 1.0, 150)
    cfg = dataclasses.replace(COSTS_NO_STOPS, confidence_threshold=0.5)
    got = block_permuted_null(ts, o, h, lo, c, sig, conf, cfg, block_length=5, runs=20, seed=3)
    assert np.array_equal(got, block_permuted_null(ts, o, h, lo, c, sig, conf, cfg, 5, 20, 3))
    perms = block_permutation(150, 5, 20, np.random.default_rng(3))
    for r in (0, 19):  # the same permutation of (signal, confidence) pairs, through the same engine
        idx = perms[r]
        assert Counter(sig[idx].tolist()) == Counter(sig.tolist())
        assert got[r] == simulate(ts, o, h, lo, c, sig[idx], conf[idx], cfg).metrics["total_return"]
    hold = block_permuted_null(ts, o, h, lo, c, np.full(150, HOLD), conf, cfg, 5, 5, 0)
    assert (hold == 0).all()


# --------------------------------------------------------------------------- summaries


def test_p_value_and_summary():
    assert p_value(1.0, np.array([0.0, 0.5, 2.0])) == 0.5  # (1 + 1) / (1 + 3)
    assert p_value(9.0, np.array([0.0, 0.5, 2.0])) == 0.25  # never 0
    assert p_value(1.0, np.zeros(0)) is None
    s = null_summary(1.0, np.array([0.0, 0.5, 2.0, 1.0]))
    assert s["runs"] == 4 and s["strategy_percentile"] == 75.0 and s["p_value"] == 3 / 5
    json.dumps(s, allow_nan=False)
    empty = null_summary(0.0, np.zeros(0))
    assert empty["runs"] == 0 and empty["p_value"] is None
    json.dumps(empty, allow_nan=False)


def test_combine_symbols_is_an_equal_capital_book():
    assert combine_symbols([np.array([0.1, 0.0]), np.array([-0.1, 0.5])]).tolist() == pytest.approx([0.0, 0.25])
    with pytest.raises(ValueError):
        combine_symbols([])


# --------------------------------------------------------------------------- PSR against buy-and-hold


def test_psr_against_buy_and_hold():
    rng = np.random.default_rng(8)
    bh = rng.normal(0.0005, 0.01, 750)
    same = sharpe_against_benchmark(bh, bh)
    assert same["psr_vs_benchmark"] == pytest.approx(0.5, abs=1e-12)  # SR = SR*: Φ(0)
    assert same["benchmark_psr"] == sharpe_statistics(bh, [bh.mean() / bh.std(ddof=1)])["psr"]
    assert same["psr"] == same["benchmark_psr"]
    better = sharpe_against_benchmark(bh + 0.003, bh)
    assert better["psr_vs_benchmark"] > 0.95 and better["psr"] > better["psr_vs_benchmark"]
    worse = sharpe_against_benchmark(bh - 0.001, bh)
    assert worse["psr_vs_benchmark"] < 0.05
    json.dumps(better, allow_nan=False)


def test_psr_against_buy_and_hold_of_a_strategy_that_never_trades():
    bh = np.random.default_rng(9).normal(0.0005, 0.01, 300)
    out = sharpe_against_benchmark(np.zeros(300), bh)
    assert out["psr"] is None and out["psr_vs_benchmark"] is None and out["benchmark_psr"] is not None
    assert "no trades" in out["note"]
    with pytest.raises(ValueError, match="same bars"):
        sharpe_against_benchmark(np.zeros(3), np.zeros(4))


# --------------------------------------------------------------------------- a whole book


def _book_frame() -> pl.DataFrame:
    parts = []
    for k, sym in enumerate(("AAA", "BBB")):
        ts, o, h, lo, c = walk(300, seed=30 + k)
        parts.append(pl.DataFrame({
            "symbol": [sym] * 300, "timestamp": ts.astype("datetime64[us]"), "open": o, "high": h, "low": lo,
            "close": c, "signal": _signals(300, 30 + k, 0.08).astype(np.int8),
            "confidence": np.random.default_rng(k).uniform(0.34, 1.0, 300),
        }))
    return pl.concat(parts)


def test_book_nulls_combine_the_symbols_like_the_book():
    frame = _book_frame()
    cfg = dataclasses.replace(COSTS_NO_STOPS, confidence_threshold=0.5, random_runs=0)
    sim = simulate_symbols(frame, cfg, seed=0)
    total = sim["strategy"]["total_return"]
    out = book_nulls(frame, sim["trades"], total, cfg, block_length=5, runs=30, seed=4)
    json.dumps({k: out[k] for k in ("exposure_matched", "block_permuted")}, allow_nan=False)
    em, bp = out["exposure_matched"], out["block_permuted"]
    assert out["exposure_matched_returns"].shape == out["block_permuted_returns"].shape == (30,)
    assert em["runs"] == bp["runs"] == 30 and bp["block_length"] == 5
    assert bp["strategy"] == total
    assert em["strategy"] == pytest.approx(total, rel=1e-9)  # no stop hit: the replay is the book
    per_symbol = []
    for i, sym in enumerate(("AAA", "BBB")):
        part = frame.filter(pl.col("symbol") == sym)
        args = [part.get_column(k).to_numpy() for k in ("timestamp", "open", "high", "low", "close", "signal",
                                                       "confidence")]
        per_symbol.append(block_permuted_null(*args, dataclasses.replace(cfg, initial_capital=50_000.0),
                                              5, 30, 4 + i))
    assert np.array_equal(out["block_permuted_returns"], combine_symbols(per_symbol))
    again = book_nulls(frame, sim["trades"], total, cfg, 5, 30, 4)
    assert again["exposure_matched"] == em and np.array_equal(again["exposure_matched_returns"],
                                                              out["exposure_matched_returns"])

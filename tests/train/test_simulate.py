"""Tests of train.simulate on small hand-computed price paths, plus one run on real data.

Prices are written out bar by bar; expected numbers are derived in the comments.
Most tests use a frictionless config (cost 0, slippage 0) so that the arithmetic
is exact; the cost/slippage tests use the defaults (cost 0.1 %, slippage 0.05 %).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from score.io import load_ohlcv
from train.config import SimConfig
from train.simulate import (
    BUY,
    HOLD,
    SELL,
    SimResult,
    buy_and_hold,
    performance_metrics,
    random_baseline,
    simulate,
    simulate_symbols,
)

REPO = Path(__file__).resolve().parents[2]
SP500 = REPO / "train" / "data" / "sp500_daily.csv.gz"

# Frictionless, stops at the defaults (3 % / 6 %).
FREE = SimConfig(cost=0.0, slippage=0.0)
# Frictionless and stops so wide they never trigger on the paths below.
FREE_NO_STOPS = SimConfig(cost=0.0, slippage=0.0, stop_loss=0.5, take_profit=5.0)
# Default cost/slippage, stops that never trigger.
COSTS_NO_STOPS = SimConfig(stop_loss=0.5, take_profit=5.0)


def days(n: int, start: str = "2024-01-01") -> np.ndarray:
    return np.datetime64(start, "D") + np.arange(n)


def run(
    ohlc: list[list[float]], signal: list[int], cfg: SimConfig, conf: list[float] | None = None
) -> SimResult:
    """Simulate on daily bars from 2024-01-01; confidence 1.0 unless given."""
    o, h, lo, c = (np.array(x, dtype=float) for x in ohlc)
    n = len(c)
    confidence = np.ones(n) if conf is None else np.array(conf, dtype=float)
    return simulate(days(n), o, h, lo, c, np.array(signal), confidence, cfg)


# Path A (5 bars): rises, no stop level of a 110 entry is ever touched with wide stops.
#            bar:   0    1    2    3    4
PATH_A = [
    [100, 110, 120, 130, 125],  # open
    [101, 122, 131, 133, 127],  # high
    [99, 108, 118, 124, 123],  # low
    [100, 121, 130, 126, 125],  # close
]


# --------------------------------------------------------------------------- execution timing


def test_buy_fills_at_next_open_not_at_signal_close():
    # BUY at bar 0 (close 100) fills at open[1] = 110; SELL at bar 2 fills at open[3] = 130.
    # shares = 100000 / 110 = 909.0909...
    # equity: bar0 100000 (flat); bar1 909.09*121 = 110000; bar2 909.09*130 = 118181.818...;
    #         bar3 sold at 130 -> cash 118181.818...; bar4 same.
    res = run(PATH_A, [BUY, HOLD, SELL, HOLD, HOLD], FREE_NO_STOPS)
    shares = 100_000 / 110
    assert res.trades[0]["entry_price"] == 110.0
    assert res.trades[0]["exit_price"] == 130.0
    assert res.trades[0]["shares"] == pytest.approx(shares, rel=1e-12)
    assert res.trades[0]["exit_reason"] == "signal"
    assert res.trades[0]["entry_time"].date().isoformat() == "2024-01-02"
    assert res.trades[0]["exit_time"].date().isoformat() == "2024-01-04"
    expected = [100_000, 110_000, shares * 130, shares * 130, shares * 130]
    assert res.equity.tolist() == pytest.approx(expected, rel=1e-12)
    assert res.position.tolist() == [0, 1, 1, 0, 0]
    assert res.equity.dtype == np.float64 and res.position.dtype == np.int8
    assert res.trades[0]["pnl"] == pytest.approx(shares * 130 - 100_000, rel=1e-12)


def test_signal_on_last_bar_is_never_executed():
    res = run(PATH_A, [HOLD, HOLD, HOLD, HOLD, BUY], FREE_NO_STOPS)
    assert res.trades == []
    assert res.equity.tolist() == [100_000.0] * 5
    assert res.position.tolist() == [0] * 5


# --------------------------------------------------------------------------- costs


def test_slippage_and_cost_on_entry_and_exit():
    # Default cost 0.001, slippage 0.0005. BUY at bar 0, SELL at bar 2.
    # entry fill  P = 110 * 1.0005 = 110.055
    # shares      q = 100000 / (110.055 * 1.001) = 100000 / 110.165055 = 907.72885...
    # entry cost    = 0.001 * q * 110.055 = 100000 * 0.001 / 1.001 = 99.9000999...
    #   (so q*P + cost = 100000 exactly: cash after the buy is 0)
    # bar1 equity   = q * 121 = 109834.73...;  bar2 = q * 130 = 118004.75...
    # exit fill   F = 130 * 0.9995 = 129.935
    # exit cost     = 0.001 * q * 129.935 = 117.9433...
    # final cash    = q * 129.935 * 0.999 = 117825.2...
    res = run(PATH_A, [BUY, HOLD, SELL, HOLD, HOLD], COSTS_NO_STOPS)
    P = 110 * 1.0005
    q = 100_000 / (P * 1.001)
    entry_cost = 0.001 * q * P
    F = 130 * 0.9995
    exit_cost = 0.001 * q * F
    final = q * F - exit_cost
    (t,) = res.trades
    assert t["entry_price"] == pytest.approx(110.055, rel=1e-12)
    assert t["exit_price"] == pytest.approx(129.935, rel=1e-12)
    assert t["shares"] == pytest.approx(q, rel=1e-12)
    assert entry_cost == pytest.approx(100_000 * 0.001 / 1.001, rel=1e-12)
    assert q * P + entry_cost == pytest.approx(100_000, rel=1e-12)
    assert t["costs"] == pytest.approx(entry_cost + exit_cost, rel=1e-12)
    assert t["pnl"] == pytest.approx(final - 100_000, rel=1e-12)
    assert t["return_pct"] == pytest.approx(100 * (final / 100_000 - 1), rel=1e-12)
    assert final == pytest.approx(100_000 * 129.935 * 0.999 / (110.055 * 1.001), rel=1e-12)
    expected = [100_000, q * 121, q * 130, final, final]
    assert res.equity.tolist() == pytest.approx(expected, rel=1e-12)
    assert res.metrics["costs_paid"] == pytest.approx(entry_cost + exit_cost, rel=1e-12)
    assert res.metrics["final_equity"] == pytest.approx(final, rel=1e-12)


def test_end_of_data_closes_at_last_close_with_costs():
    # BUY at bar 0 never sold: closed at close[4] = 125 with slippage and cost.
    # q = 100000 / (110.055 * 1.001); final = q * 125 * 0.9995 * 0.999
    res = run(PATH_A, [BUY, HOLD, HOLD, HOLD, HOLD], COSTS_NO_STOPS)
    q = 100_000 / (110 * 1.0005 * 1.001)
    final = q * (125 * 0.9995) * (1 - 0.001)
    (t,) = res.trades
    assert t["exit_reason"] == "end"
    assert t["exit_price"] == pytest.approx(125 * 0.9995, rel=1e-12)
    expected = [100_000, q * 121, q * 130, q * 126, final]
    assert res.equity.tolist() == pytest.approx(expected, rel=1e-12)
    # the position is held into the last close, then liquidated
    assert res.position.tolist() == [0, 1, 1, 1, 1]
    assert res.metrics["final_equity"] == pytest.approx(final, rel=1e-12)
    assert res.metrics["exposure"] == pytest.approx(0.8)


# --------------------------------------------------------------------------- confidence


def test_signal_below_confidence_threshold_does_nothing():
    res = run(PATH_A, [BUY, HOLD, SELL, HOLD, HOLD], FREE_NO_STOPS, conf=[0.59, 1, 1, 1, 1])
    assert res.trades == []
    assert res.equity.tolist() == [100_000.0] * 5
    # exactly at the threshold (0.6) is actionable
    res = run(PATH_A, [BUY, HOLD, SELL, HOLD, HOLD], FREE_NO_STOPS, conf=[0.6, 1, 1, 1, 1])
    assert len(res.trades) == 1


def test_low_confidence_sell_keeps_the_position():
    # SELL at bar 2 with confidence 0.5 is ignored: held to the end, closed at 125.
    res = run(PATH_A, [BUY, HOLD, SELL, HOLD, HOLD], FREE_NO_STOPS, conf=[1, 1, 0.5, 1, 1])
    (t,) = res.trades
    assert t["exit_reason"] == "end"
    assert res.equity[-1] == pytest.approx(100_000 / 110 * 125, rel=1e-12)


# --------------------------------------------------------------------------- stops


# Entry at open[1] = 100 (BUY at bar 0), frictionless: stop 97, target 106.
def _stop_path(bar2: tuple[float, float, float, float]) -> list[list[float]]:
    o2, h2, l2, c2 = bar2
    return [
        [100, 100, o2, c2, c2],  # open
        [101, 101, h2, c2, c2],  # high
        [99, 99, l2, c2, c2],  # low
        [100, 100, c2, c2, c2],  # close
    ]


def test_stop_loss_hit():
    # bar2: open 99, low 96 <= 97 -> stop at 97 (open above the stop, so the level fills).
    # equity bar2 = 1000 shares * 97 = 97000.
    res = run(_stop_path((99, 100, 96, 98)), [BUY, HOLD, HOLD, HOLD, HOLD], FREE)
    (t,) = res.trades
    assert t["exit_reason"] == "stop_loss"
    assert t["exit_price"] == pytest.approx(97.0, rel=1e-12)
    assert t["exit_time"].date().isoformat() == "2024-01-03"
    assert t["pnl"] == pytest.approx(-3000.0, rel=1e-12)
    expected = [100_000, 100_000, 97_000, 97_000, 97_000]
    assert res.equity.tolist() == pytest.approx(expected, rel=1e-12)
    assert res.position.tolist() == [0, 1, 0, 0, 0]


def test_stop_loss_with_costs_uses_entry_fill_price():
    # Entry fill 100 * 1.0005 = 100.05; stop level 100.05 * 0.97 = 97.0485 (low 96 touches it);
    # exit fill 97.0485 * 0.9995; final = q * exit_fill * 0.999, q = 100000 / (100.05 * 1.001).
    res = run(_stop_path((99, 100, 96, 98)), [BUY, HOLD, HOLD, HOLD, HOLD], SimConfig())
    q = 100_000 / (100.05 * 1.001)
    exit_fill = 100.05 * 0.97 * 0.9995
    (t,) = res.trades
    assert t["exit_price"] == pytest.approx(exit_fill, rel=1e-12)
    assert res.equity[-1] == pytest.approx(q * exit_fill * 0.999, rel=1e-12)


def test_take_profit_hit():
    # bar2: open 103, high 107 >= 106 -> exit at 106; equity = 1000 * 106 = 106000.
    res = run(_stop_path((103, 107, 102, 105)), [BUY, HOLD, HOLD, HOLD, HOLD], FREE)
    (t,) = res.trades
    assert t["exit_reason"] == "take_profit"
    assert t["exit_price"] == pytest.approx(106.0, rel=1e-12)
    assert res.equity[2:].tolist() == pytest.approx([106_000] * 3, rel=1e-12)


def test_stop_and_target_in_same_bar_stop_wins():
    # bar2: low 96 <= 97 and high 107 >= 106 -> stop-loss at 97.
    res = run(_stop_path((100, 107, 96, 101)), [BUY, HOLD, HOLD, HOLD, HOLD], FREE)
    (t,) = res.trades
    assert t["exit_reason"] == "stop_loss"
    assert t["exit_price"] == pytest.approx(97.0, rel=1e-12)
    assert res.equity[-1] == pytest.approx(97_000, rel=1e-12)


def test_gap_through_stop_fills_at_open():
    # bar2 opens at 95, below the 97 stop -> fill at 95, not 97; equity 95000.
    res = run(_stop_path((95, 96, 94, 95)), [BUY, HOLD, HOLD, HOLD, HOLD], FREE)
    (t,) = res.trades
    assert t["exit_reason"] == "stop_loss"
    assert t["exit_price"] == pytest.approx(95.0, rel=1e-12)
    assert res.equity[-1] == pytest.approx(95_000, rel=1e-12)


def test_gap_through_target_fills_at_open():
    # bar2 opens at 108, above the 106 target -> fill at 108; equity 108000.
    res = run(_stop_path((108, 110, 107, 109)), [BUY, HOLD, HOLD, HOLD, HOLD], FREE)
    (t,) = res.trades
    assert t["exit_reason"] == "take_profit"
    assert t["exit_price"] == pytest.approx(108.0, rel=1e-12)
    assert res.equity[-1] == pytest.approx(108_000, rel=1e-12)


def test_stop_checked_on_entry_bar_and_reentry_after_stop():
    # Entry at open[1] = 100; bar1 low 96 <= 97 -> stopped on the entry bar at 97 (equity 97000).
    # BUY at bar 1 (the stop bar's close) re-enters at open[2] = 98 with 97000:
    # shares 97000/98 = 989.795...; stop 95.06, target 103.88 not touched; end at close[4] = 99.
    ohlc = [
        [100, 100, 98, 98, 99],  # open
        [101, 101, 99, 100, 100],  # high
        [99, 96, 97, 97, 98],  # low
        [100, 98, 98, 99, 99],  # close
    ]
    res = run(ohlc, [BUY, BUY, HOLD, HOLD, HOLD], FREE)
    assert [t["exit_reason"] for t in res.trades] == ["stop_loss", "end"]
    assert res.trades[0]["entry_time"] == res.trades[0]["exit_time"]
    assert res.trades[1]["entry_price"] == 98.0
    assert res.position.tolist() == [0, 0, 1, 1, 1]
    assert res.equity.tolist() == pytest.approx(
        [100_000, 97_000, 97_000, 97_000 / 98 * 99, 97_000 / 98 * 99], rel=1e-12
    )


# --------------------------------------------------------------------------- shorts


def test_sell_while_flat_without_allow_short_does_nothing():
    res = run(PATH_A, [SELL, SELL, HOLD, HOLD, HOLD], FREE_NO_STOPS)
    assert res.trades == []
    assert res.position.tolist() == [0] * 5
    assert res.equity.tolist() == [100_000.0] * 5


def test_short_profit_and_reversal_signal_first():
    # allow_short, frictionless. SELL at bar 0 -> short 1000 shares at open[1] = 100
    # (stop 103, target 94). Equity = cash 200000 - 1000 * close.
    #   bar1 close 98 -> 102000; bar2 close 97 -> 103000.
    # BUY at bar 2 -> at open[3] = 95: cover (pnl +1000 * 5 = 5000, cash 105000), then go long
    # 105000 / 95 = 1105.26 shares. Bar 3's low 94 touches the old short target, but the
    # short was already covered at the open, so no take-profit at 94.
    # bar3 close 95 -> 105000; bar4 end at close 96 -> 105000 * 96 / 95 = 106105.26.
    cfg = SimConfig(cost=0.0, slippage=0.0, allow_short=True)
    ohlc = [
        [100, 100, 98, 95, 96],  # open
        [101, 101, 99, 96, 97],  # high
        [99, 98, 97, 94, 95],  # low
        [100, 98, 97, 95, 96],  # close
    ]
    res = run(ohlc, [SELL, HOLD, BUY, HOLD, HOLD], cfg)
    short, long = res.trades
    assert short["side"] == "short" and short["exit_reason"] == "signal"
    assert short["exit_price"] == 95.0
    assert short["pnl"] == pytest.approx(5000.0, rel=1e-12)
    assert long["side"] == "long" and long["entry_price"] == 95.0 and long["exit_reason"] == "end"
    assert long["pnl"] == pytest.approx(105_000 / 95 * 96 - 105_000, rel=1e-12)
    assert res.position.tolist() == [0, -1, -1, 1, 1]
    assert res.equity.tolist() == pytest.approx(
        [100_000, 102_000, 103_000, 105_000, 105_000 * 96 / 95], rel=1e-12
    )


def test_short_loss_has_negative_pnl_and_stops_above():
    # Short at open[1] = 100 (stop 103); bar2 high 104 >= 103 -> covered at 103: pnl -3000.
    cfg = SimConfig(cost=0.0, slippage=0.0, allow_short=True)
    res = run(_stop_path((101, 104, 100, 102)), [SELL, HOLD, HOLD, HOLD, HOLD], cfg)
    (t,) = res.trades
    assert t["side"] == "short" and t["exit_reason"] == "stop_loss"
    assert t["exit_price"] == pytest.approx(103.0, rel=1e-12)
    assert t["pnl"] == pytest.approx(-3000.0, rel=1e-12)
    assert res.equity[-1] == pytest.approx(97_000, rel=1e-12)


def test_short_with_costs():
    # Short: sell fill P = 100 * 0.9995 = 99.95, q = 100000 / (99.95 * 1.001);
    # cash = 100000 + q*P*(1 - 0.001). Bar1 equity = cash - q * close[1].
    # Cover at open[2] = 99 (BUY at bar 1): fill F = 99 * 1.0005; cash -= q * F * 1.001.
    cfg = SimConfig(allow_short=True, stop_loss=0.5, take_profit=0.5)
    ohlc = [
        [100, 100, 99, 99, 99],
        [101, 101, 100, 100, 100],
        [99, 98, 98, 98, 98],
        [100, 99.5, 99, 99, 99],
    ]
    res = run(ohlc, [SELL, BUY, SELL, HOLD, HOLD], cfg, conf=[1, 1, 0.0, 1, 1])
    P = 100 * 0.9995
    q = 100_000 / (P * 1.001)
    cash = 100_000 + q * P * 0.999
    F = 99 * 1.0005
    after_cover = cash - q * F * 1.001
    t = res.trades[0]
    assert t["pnl"] == pytest.approx(after_cover - 100_000, rel=1e-12)
    assert t["pnl"] > 0  # 100 -> 99 is a gain for a short, net of costs
    assert res.equity[1] == pytest.approx(cash - q * 99.5, rel=1e-12)
    # the BUY both covered and opened a long at the same open: two fills
    assert [x["side"] for x in res.trades] == ["short", "long"]
    assert res.trades[1]["entry_price"] == pytest.approx(F, rel=1e-12)


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


# --------------------------------------------------------------------------- metrics


def test_metrics_on_known_equity_path():
    # Initial 100, equity at closes 110, 120, 90, 100, 130.
    # Path with the start: 100 110 120 90 100 130; running peak 100 110 120 120 120 130
    # -> max drawdown 90/120 - 1 = -0.25.
    # Timestamps 4383 h (182.625 days) apart: span 730.5 days = 2.0 years, 5 bars -> 2.5 bars/yr.
    # cagr = 1.3 ** 0.5 - 1 = 0.140175...; calmar = cagr / 0.25.
    # pnls 10, -5, 20, -5, 0: win rate 2/5, profit factor 30 / 10 = 3.
    # position 0 1 1 0 -1: exposure 3/5.
    ts = np.datetime64("2020-01-01T00", "h") + np.arange(5) * np.timedelta64(4383, "h")
    eq = np.array([110, 120, 90, 100, 130], dtype=float)
    trades = [{"pnl": p} for p in (10.0, -5.0, 20.0, -5.0, 0.0)]
    m = performance_metrics(eq, ts, trades, np.array([0, 1, 1, 0, -1]), 1.5, 100.0)
    assert m["total_return"] == pytest.approx(0.3, rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(-0.25, rel=1e-12)
    assert m["cagr"] == pytest.approx(math.sqrt(1.3) - 1, rel=1e-12)
    assert m["calmar"] == pytest.approx((math.sqrt(1.3) - 1) / 0.25, rel=1e-12)
    assert m["n_trades"] == 5
    assert m["win_rate"] == pytest.approx(0.4)
    assert m["profit_factor"] == pytest.approx(3.0)
    assert m["exposure"] == pytest.approx(0.6)
    assert m["costs_paid"] == 1.5 and m["final_equity"] == 130.0
    # returns 0.1, 1/11, -0.25, 1/9, 0.3; sample std; downside sqrt(0.25**2 / 5)
    r = [0.1, 120 / 110 - 1, 90 / 120 - 1, 100 / 90 - 1, 130 / 100 - 1]
    mean = sum(r) / 5
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 4)
    assert m["annual_volatility"] == pytest.approx(std * math.sqrt(2.5), rel=1e-12)
    assert m["sharpe"] == pytest.approx(mean / std * math.sqrt(2.5), rel=1e-12)
    assert m["sortino"] == pytest.approx(mean / math.sqrt(0.25**2 / 5) * math.sqrt(2.5), rel=1e-12)
    json.dumps(m, allow_nan=False)


def test_metrics_edge_cases_are_json_safe():
    ts = days(4)
    flat = performance_metrics(np.full(4, 100.0), ts, [], np.zeros(4), 0.0, 100.0)
    assert flat["sharpe"] == 0.0 and flat["sortino"] == 0.0 and flat["max_drawdown"] == 0.0
    assert flat["calmar"] == 0.0 and flat["win_rate"] == 0.0 and flat["profit_factor"] == 0.0
    assert flat["n_trades"] == 0 and flat["exposure"] == 0.0
    only_wins = performance_metrics(
        np.array([100.0, 101, 102, 103]), ts, [{"pnl": 1.0}, {"pnl": 2.0}], np.ones(4), 0.0, 100.0
    )
    assert only_wins["profit_factor"] is None and only_wins["sortino"] == 0.0
    one_bar = performance_metrics(np.array([100.0]), days(1), [], np.zeros(1), 0.0, 100.0)
    for m in (flat, only_wins, one_bar):
        json.dumps(m, allow_nan=False)
        assert all(v is None or isinstance(v, (int, float)) for v in m.values())
        assert all(isinstance(v, int) for k, v in m.items() if k == "n_trades")


# --------------------------------------------------------------------------- random baseline


def _walk(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.concatenate([[100.0], c[:-1]])
    h = np.maximum(o, c) * 1.005
    lo = np.minimum(o, c) * 0.995
    return days(n), o, h, lo, c


def test_random_baseline_deterministic_and_percentile_in_range():
    ts, o, h, lo, c = _walk(60)
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
    ts, o, h, lo, c = _walk(20)
    for n_trades, cfg in ((0, SimConfig()), (3, SimConfig(random_runs=0))):
        r = random_baseline(ts, o, h, lo, c, n_trades, cfg, seed=1, strategy_return=0.1)
        assert r["runs"] == 0 and r["strategy_percentile"] is None
        assert r["mean_return"] is None and r["p95_return"] is None


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
    ts, o, h, lo, c = _walk(40, seed=5)
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


# --------------------------------------------------------------------------- real data


@pytest.mark.parametrize("allow_short", [False, True])
def test_real_data_random_signals_keep_equity_finite_and_positive(allow_short):
    frame = load_ohlcv(SP500).frame
    n = frame.height
    rng = np.random.default_rng(2024)
    signal = rng.integers(0, 3, n)
    confidence = rng.random(n)
    cfg = SimConfig(allow_short=allow_short)
    res = simulate(
        frame["timestamp"].to_numpy(),
        frame["open"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["close"].to_numpy(),
        signal,
        confidence,
        cfg,
    )
    assert res.equity.shape == (n,)
    assert np.all(np.isfinite(res.equity)) and np.all(res.equity > 0)
    assert res.metrics["n_trades"] > 0
    assert set(np.unique(res.position)) <= {-1, 0, 1}
    assert res.position[-1] == 0 or res.trades[-1]["exit_reason"] == "end"
    assert sum(t["pnl"] for t in res.trades) == pytest.approx(res.equity[-1] - 100_000, rel=1e-9)
    json.dumps(res.metrics, allow_nan=False)

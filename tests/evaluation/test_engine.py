"""Tests of evaluation.engine on small hand-computed price paths, plus one run on real data.

Prices are written out bar by bar; expected numbers are derived in the comments.
Most tests use a frictionless config (cost 0, slippage 0) so that the arithmetic
is exact; the cost/slippage tests use the defaults (cost 0.1 %, slippage 0.05 %).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.engine import SimResult, simulate
from signalpack.score.contract import BUY, HOLD, SELL
from signalpack.score.io import load_ohlcv
from tests.evaluation.sim_paths import COSTS_NO_STOPS, FREE, FREE_NO_STOPS, PATH_A, days

REPO = Path(__file__).resolve().parents[2]
SP500 = REPO / "train" / "data" / "sp500_daily.csv.gz"


def run(
    ohlc: list[list[float]], signal: list[int], cfg: SimConfig, conf: list[float] | None = None
) -> SimResult:
    """Simulate on daily bars from 2024-01-01; confidence 1.0 unless given."""
    o, h, lo, c = (np.array(x, dtype=float) for x in ohlc)
    n = len(c)
    confidence = np.ones(n) if conf is None else np.array(conf, dtype=float)
    return simulate(days(n), o, h, lo, c, np.array(signal), confidence, cfg)


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

"""The single-series trading engine: SELL/HOLD/BUY signals on one price series, bar by bar.

The simulation is deliberately conservative so that a back-test cannot look
better than live trading could have been:

* a signal is known at bar t's close and fills at bar t+1's open (never at t);
* every fill pays slippage on its price and a proportional cost on its notional;
* stop-loss and take-profit use the bar's high/low, a gap through a level fills
  at the open, and when both levels are touched in one bar the stop-loss wins;
* an open position is closed at the last bar's close, so final equity is cash.

``Account`` is the per-bar machinery (cash, one position, fills, stops, trade log)
and ``check_prices`` the input check; both are shared with the baselines
(``sim_baselines``) so that the strategy and its baselines trade under identical
rules. Several symbols are combined by ``book.simulate_symbols``.

Classes: SELL=0, HOLD=1, BUY=2 (``signalpack.score.contract``). All returns are
fractions (0.05 = 5 %) except ``return_pct`` of a trade, which is in percent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.performance import performance_metrics
from signalpack.score.contract import BUY, HOLD, SELL

__all__ = ["Account", "SimResult", "check_prices", "simulate"]


@dataclass(frozen=True)
class SimResult:
    """Outcome of one simulation.

    metrics : summary figures, see ``performance.performance_metrics``.
    trades : one dict per round trip with keys entry_time, exit_time (datetime),
        side ("long"/"short"), entry_price, exit_price (fill prices, slippage
        included), shares, pnl (net of both fills' costs), return_pct (pnl as a
        percentage of the capital committed at entry), exit_reason ("signal",
        "stop_loss", "take_profit", "end") and costs (both fills' cost charges).
    equity : float64 (n_bars,), equity marked at each bar's close.
    position : int8 (n_bars,), +1 / 0 / -1 held at each bar's close. At the last
        bar it is the position held into the close, before the end-of-data
        liquidation, so a position kept to the end counts as exposure there.
    """

    metrics: dict[str, float | int | None]
    trades: list[dict[str, Any]]
    equity: np.ndarray
    position: np.ndarray


def check_prices(
    timestamps: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check one price series and convert it: timestamps to datetime64[us], prices to float64.

    Raises ValueError unless there is at least one bar, all arrays are 1-D of one
    length, timestamps strictly increase and every price is finite and positive.
    """
    ts = np.asarray(timestamps).astype("datetime64[us]")
    arrays = [np.asarray(a, dtype=np.float64) for a in (open_, high, low, close)]
    n = len(ts)
    if n == 0:
        raise ValueError("simulation needs at least one bar")
    if ts.ndim != 1 or any(a.shape != (n,) for a in arrays):
        raise ValueError("timestamps, open, high, low and close must be 1-D and of equal length")
    if n > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        raise ValueError("timestamps must be strictly increasing")
    if not all(bool(np.all(np.isfinite(a) & (a > 0))) for a in arrays):
        raise ValueError("prices must be finite and positive")
    return ts, arrays[0], arrays[1], arrays[2], arrays[3]


def _to_datetime(ts: np.datetime64) -> dt.datetime:
    return ts.astype("datetime64[us]").item()  # type: ignore[no-any-return]


class Account:
    """Cash, one position and its trade log; every fill goes through ``open``/``close``.

    Fills pay slippage on the price and ``cfg.cost`` on the notional. A position
    always commits all cash, so the notional plus its cost equals the capital.
    """

    def __init__(self, cfg: SimConfig, ts: np.ndarray) -> None:
        self.cfg = cfg
        self.ts = ts
        self.cash = float(cfg.initial_capital)
        self.side = 0  # +1 long, -1 short, 0 flat
        self.shares = 0.0  # signed: negative while short
        self.costs_paid = 0.0
        self.trades: list[dict[str, Any]] = []
        self._entry_i = 0
        self._entry_price = 0.0
        self._entry_capital = 0.0
        self._entry_cost = 0.0
        self._stop = 0.0
        self._target = 0.0

    def open(self, i: int, side: int, base: float) -> None:
        """Open ``side`` with all cash at ``base`` (before slippage) on bar ``i``."""
        cfg = self.cfg
        capital = self.cash
        if capital <= 0.0:  # nothing left to trade with
            return
        price = base * (1.0 + cfg.slippage) if side > 0 else base * (1.0 - cfg.slippage)
        qty = capital / (price * (1.0 + cfg.cost))  # notional + cost == capital
        notional = qty * price
        fee = cfg.cost * notional
        self.cash = capital - notional - fee if side > 0 else capital + notional - fee
        self.shares = qty * side
        self.side = side
        self.costs_paid += fee
        self._entry_i, self._entry_price = i, price
        self._entry_capital, self._entry_cost = capital, fee
        if side > 0:
            self._stop = price * (1.0 - cfg.stop_loss)
            self._target = price * (1.0 + cfg.take_profit)
        else:
            self._stop = price * (1.0 + cfg.stop_loss)
            self._target = price * (1.0 - cfg.take_profit)

    def close(self, i: int, base: float, reason: str) -> None:
        """Close the position at ``base`` (before slippage) on bar ``i`` and log the round trip."""
        cfg = self.cfg
        side, qty = self.side, abs(self.shares)
        price = base * (1.0 - cfg.slippage) if side > 0 else base * (1.0 + cfg.slippage)
        notional = qty * price
        fee = cfg.cost * notional
        self.cash += notional - fee if side > 0 else -notional - fee
        self.costs_paid += fee
        pnl = self.cash - self._entry_capital
        self.trades.append(
            {
                "entry_time": _to_datetime(self.ts[self._entry_i]),
                "exit_time": _to_datetime(self.ts[i]),
                "side": "long" if side > 0 else "short",
                "entry_price": self._entry_price,
                "exit_price": price,
                "shares": qty,
                "pnl": pnl,
                "return_pct": 100.0 * pnl / self._entry_capital,
                "exit_reason": reason,
                "costs": self._entry_cost + fee,
            }
        )
        self.side, self.shares = 0, 0.0

    def check_exits(self, i: int, o: float, h: float, lo: float) -> None:
        """Stop-loss / take-profit on bar ``i``; stop first, gaps fill at the open."""
        stop, target = self._stop, self._target
        if self.side > 0:
            if lo <= stop:
                self.close(i, min(o, stop), "stop_loss")
            elif h >= target:
                self.close(i, max(o, target), "take_profit")
        else:
            if h >= stop:
                self.close(i, max(o, stop), "stop_loss")
            elif lo <= target:
                self.close(i, min(o, target), "take_profit")

    def result(self, equity: np.ndarray, position: np.ndarray) -> SimResult:
        """The finished run: its metrics, trade log, equity and position."""
        metrics = performance_metrics(
            equity, self.ts, self.trades, position, self.costs_paid, self.cfg.initial_capital
        )
        return SimResult(metrics=metrics, trades=self.trades, equity=equity, position=position)


def simulate(
    timestamps: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    signal: np.ndarray,
    confidence: np.ndarray,
    cfg: SimConfig,
) -> SimResult:
    """Trade ``signal`` on one price series, all capital in or out.

    Parameters
    ----------
    timestamps : datetime64 (n_bars,), strictly increasing.
    open_, high, low, close : float (n_bars,), positive prices.
    signal : int (n_bars,), SELL=0 / HOLD=1 / BUY=2, known at each bar's close.
    confidence : float (n_bars,); a signal is acted on only when its confidence
        is >= ``cfg.confidence_threshold`` (NaN never is).
    cfg : costs, slippage, stops, shorting and starting capital.

    Returns
    -------
    SimResult
        Metrics, round trips, equity and position at each bar's close.

    Notes
    -----
    Per bar ``i``, in this order, so no information from bar i's close is used
    before it is known:

    1. the actionable signal of bar i-1 fills at open[i] (a reversal is two
       fills at that open: close, then open the opposite side);
    2. an open position (also one opened in step 1) is checked against its
       stop-loss and take-profit using low[i]/high[i];
    3. on the last bar an open position is closed at close[i] ("end");
    4. equity is marked at close[i].
    """
    ts, o, h, lo, c = check_prices(timestamps, open_, high, low, close)
    n = len(c)
    sig = np.asarray(signal)
    conf = np.asarray(confidence, dtype=np.float64)
    if sig.shape != (n,) or conf.shape != (n,):
        raise ValueError("signal and confidence must have one value per bar")
    with np.errstate(invalid="ignore"):
        actionable = conf >= cfg.threshold()
    want = np.full(n, HOLD, dtype=np.int8)
    want[actionable & (sig == BUY)] = BUY
    want[actionable & (sig == SELL)] = SELL

    acct = Account(cfg, ts)
    equity = np.empty(n, dtype=np.float64)
    position = np.zeros(n, dtype=np.int8)
    o_l, h_l, lo_l, c_l, want_l = o.tolist(), h.tolist(), lo.tolist(), c.tolist(), want.tolist()
    for i in range(n):
        if i > 0:
            s = want_l[i - 1]
            if s == BUY:
                if acct.side < 0:
                    acct.close(i, o_l[i], "signal")
                if acct.side == 0:
                    acct.open(i, 1, o_l[i])
            elif s == SELL:
                if acct.side > 0:
                    acct.close(i, o_l[i], "signal")
                if acct.side == 0 and cfg.allow_short:
                    acct.open(i, -1, o_l[i])
        if acct.side != 0:
            acct.check_exits(i, o_l[i], h_l[i], lo_l[i])
        position[i] = acct.side
        if i == n - 1 and acct.side != 0:
            acct.close(i, c_l[i], "end")
        equity[i] = acct.cash + acct.shares * c_l[i]
    return acct.result(equity, position)

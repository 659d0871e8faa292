"""Trading simulation of SELL/HOLD/BUY signals on a price series, with baselines.

The simulation is deliberately conservative so that a back-test cannot look
better than live trading could have been:

* a signal is known at bar t's close and fills at bar t+1's open (never at t);
* every fill pays slippage on its price and a proportional cost on its notional;
* stop-loss and take-profit use the bar's high/low, a gap through a level fills
  at the open, and when both levels are touched in one bar the stop-loss wins;
* an open position is closed at the last bar's close, so final equity is cash.

Baselines put the model in context: buy-and-hold over the same bars, and
random entry/exit timings with the same number of trades, the same costs and
the same stops (``random_baseline``).

Classes: SELL=0, HOLD=1, BUY=2. All returns are fractions (0.05 = 5 %) except
``return_pct`` of a trade and ``strategy_percentile``, which are in percent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from train.config import SimConfig

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "SELL",
    "HOLD",
    "BUY",
    "SimResult",
    "simulate",
    "buy_and_hold",
    "random_baseline",
    "performance_metrics",
    "bar_returns",
    "bars_per_year",
    "simulate_symbols",
]

SELL, HOLD, BUY = 0, 1, 2

_DAYS_PER_YEAR = 365.25
_US_PER_DAY = 86_400 * 10**6
_MAX_LOG_GROWTH = 700.0  # exp(700) ~ 1e304: keeps cagr a finite float

@dataclass(frozen=True)
class SimResult:
    """Outcome of one simulation.

    metrics : summary figures, see ``performance_metrics``.
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


# --------------------------------------------------------------------------- inputs


def _prices(
    timestamps: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check and convert one price series (timestamps to datetime64[us], prices to float64)."""
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


# --------------------------------------------------------------------------- book keeping


class _Book:
    """Cash, one position and its trade log; every fill goes through ``open``/``close``."""

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
        """Close the position at ``base`` (before slippage) on bar ``i``."""
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
                self.close(i, o if o <= stop else stop, "stop_loss")
            elif h >= target:
                self.close(i, o if o >= target else target, "take_profit")
        else:
            if h >= stop:
                self.close(i, o if o >= stop else stop, "stop_loss")
            elif lo <= target:
                self.close(i, o if o <= target else target, "take_profit")


# --------------------------------------------------------------------------- simulation


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
    ts, o, h, lo, c = _prices(timestamps, open_, high, low, close)
    n = len(c)
    sig = np.asarray(signal)
    conf = np.asarray(confidence, dtype=np.float64)
    if sig.shape != (n,) or conf.shape != (n,):
        raise ValueError("signal and confidence must have one value per bar")
    with np.errstate(invalid="ignore"):
        actionable = conf >= cfg.confidence_threshold
    want = np.full(n, HOLD, dtype=np.int8)
    want[actionable & (sig == BUY)] = BUY
    want[actionable & (sig == SELL)] = SELL

    book = _Book(cfg, ts)
    equity = np.empty(n, dtype=np.float64)
    position = np.zeros(n, dtype=np.int8)
    o_l, h_l, lo_l, c_l, want_l = o.tolist(), h.tolist(), lo.tolist(), c.tolist(), want.tolist()
    for i in range(n):
        if i > 0:
            s = want_l[i - 1]
            if s == BUY:
                if book.side < 0:
                    book.close(i, o_l[i], "signal")
                if book.side == 0:
                    book.open(i, 1, o_l[i])
            elif s == SELL:
                if book.side > 0:
                    book.close(i, o_l[i], "signal")
                if book.side == 0 and cfg.allow_short:
                    book.open(i, -1, o_l[i])
        if book.side != 0:
            book.check_exits(i, o_l[i], h_l[i], lo_l[i])
        position[i] = book.side
        if i == n - 1 and book.side != 0:
            book.close(i, c_l[i], "end")
        equity[i] = book.cash + book.shares * c_l[i]

    metrics = performance_metrics(
        equity, ts, book.trades, position, book.costs_paid, cfg.initial_capital
    )
    return SimResult(metrics=metrics, trades=book.trades, equity=equity, position=position)


def buy_and_hold(
    timestamps: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    cfg: SimConfig,
) -> SimResult:
    """Buy with all capital at the first open, sell at the last close; no stops.

    Both fills pay slippage and cost as in ``simulate``, so the comparison with
    the strategy is like for like.
    """
    ts, o, _h, _lo, c = _prices(timestamps, open_, high, low, close)
    n = len(c)
    book = _Book(cfg, ts)
    book.open(0, 1, float(o[0]))
    equity = book.cash + book.shares * c
    position = np.ones(n, dtype=np.int8)
    book.close(n - 1, float(c[-1]), "end")
    equity[-1] = book.cash
    metrics = performance_metrics(
        equity, ts, book.trades, position, book.costs_paid, cfg.initial_capital
    )
    return SimResult(metrics=metrics, trades=book.trades, equity=equity, position=position)


# --------------------------------------------------------------------------- random baseline


def _random_final_equity(
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    n_trades: int,
    cfg: SimConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Final equity of ``cfg.random_runs`` random-timing runs, and the trades per run used.

    Entry and exit signals sit on bars 0..n-2 (a last-bar signal never fills).
    2k distinct sorted bars are drawn and paired (entry, exit), which gives
    non-overlapping round trips, uniformly over such placements. k is capped at
    (n-1)//2. Shorting is switched off so a SELL exit never opens a short.
    """
    n = len(c)
    k = min(max(int(n_trades), 0), (n - 1) // 2)
    runs = int(cfg.random_runs)
    if k == 0:
        return np.full(runs, float(cfg.initial_capital)), 0
    long_only = dataclasses.replace(cfg, allow_short=False)
    confidence = np.ones(n, dtype=np.float64)
    finals = np.empty(runs, dtype=np.float64)
    for r in range(runs):
        bars = np.sort(rng.choice(n - 1, size=2 * k, replace=False))
        signal = np.full(n, HOLD, dtype=np.int8)
        signal[bars[0::2]] = BUY
        signal[bars[1::2]] = SELL
        res = simulate(ts, o, h, lo, c, signal, confidence, long_only)
        finals[r] = res.equity[-1]
    return finals, k


def _summarise_random(
    total_returns: np.ndarray, n_trades: int, strategy_return: float
) -> dict[str, float | int | None]:
    runs = len(total_returns)
    if runs == 0 or n_trades == 0:
        return {
            "runs": 0,
            "n_trades": int(n_trades),
            "mean_return": None,
            "median_return": None,
            "p5_return": None,
            "p95_return": None,
            "strategy_percentile": None,
        }
    return {
        "runs": runs,
        "n_trades": int(n_trades),
        "mean_return": float(np.mean(total_returns)),
        "median_return": float(np.median(total_returns)),
        "p5_return": float(np.percentile(total_returns, 5)),
        "p95_return": float(np.percentile(total_returns, 95)),
        "strategy_percentile": float(100.0 * np.mean(total_returns <= strategy_return)),
    }


def random_baseline(
    timestamps: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    n_trades: int,
    cfg: SimConfig,
    seed: int,
    strategy_return: float,
) -> dict[str, float | int | None]:
    """Where the strategy's return falls among random entry/exit timings.

    Each of ``cfg.random_runs`` runs places ``n_trades`` non-overlapping long
    round trips at random bars (BUY at entry, SELL at exit, confidence 1.0) and
    runs ``simulate`` with the same costs and stops, so only the timing differs
    from the strategy. Shorts are not used. Deterministic for a given ``seed``.

    Returns
    -------
    dict
        runs, n_trades (per run; capped at (n_bars-1)//2), mean/median/p5/p95
        of the runs' total returns, and strategy_percentile: the percentage
        (0..100) of runs whose total return is <= ``strategy_return``. With no
        trades or no runs: runs 0 and every figure None.
    """
    ts, o, h, lo, c = _prices(timestamps, open_, high, low, close)
    if n_trades <= 0 or cfg.random_runs <= 0:
        return _summarise_random(np.zeros(0), max(int(n_trades), 0), strategy_return)
    finals, k = _random_final_equity(
        ts, o, h, lo, c, n_trades, cfg, np.random.default_rng(seed)
    )
    return _summarise_random(finals / cfg.initial_capital - 1.0, k, strategy_return)


# --------------------------------------------------------------------------- metrics


def bar_returns(equity: np.ndarray, initial_capital: float) -> np.ndarray:
    """Simple return of each bar, the first one from ``initial_capital`` (0 where equity was <= 0)."""
    eq = np.asarray(equity, dtype=np.float64)
    path = np.concatenate([[float(initial_capital)], eq])
    prev, cur = path[:-1], path[1:]
    rets = np.zeros(len(eq), dtype=np.float64)
    ok = prev > 0
    rets[ok] = cur[ok] / prev[ok] - 1.0
    return rets


def _years(ts: np.ndarray) -> float:
    if len(ts) < 2:
        return 0.0
    return float((ts[-1] - ts[0]).astype(np.int64)) / _US_PER_DAY / _DAYS_PER_YEAR


def bars_per_year(timestamps: np.ndarray) -> float:
    """Bars per calendar year of a series (0 when it spans no time): the annualisation factor."""
    ts = np.asarray(timestamps).astype("datetime64[us]")
    years = _years(ts)
    return len(ts) / years if years > 0 else 0.0


def performance_metrics(
    equity: np.ndarray,
    timestamps: np.ndarray,
    trades: list[dict[str, Any]],
    position: np.ndarray,
    costs_paid: float,
    initial_capital: float,
) -> dict[str, float | int | None]:
    """Return, risk and trade statistics of an equity curve; JSON-safe, never NaN.

    Bar returns run from ``initial_capital`` to equity[0], then bar to bar, so
    a first-bar move (buy-and-hold buys at the first open) is counted; the
    drawdown path likewise starts at ``initial_capital``. Annualisation uses
    calendar time: years = (last - first timestamp) / 365.25 days and
    bars per year = n_bars / years (0 when the span is zero, giving 0 for the
    annualised figures). Volatility is the sample std (ddof=1) of the bar
    returns; the Sortino downside deviation is sqrt(mean(min(r, 0)**2)) over
    all bars.

    Returns
    -------
    dict
        total_return, cagr, annual_volatility, sharpe, sortino (risk-free 0),
        max_drawdown (<= 0), calmar, n_trades, win_rate, profit_factor (gross
        profit / gross loss; None when there is profit and no loss, 0.0 with no
        trades or no profit), exposure, costs_paid, final_equity.
    """
    eq = np.asarray(equity, dtype=np.float64)
    ts = np.asarray(timestamps).astype("datetime64[us]")
    n = len(eq)
    initial = float(initial_capital)
    final = float(eq[-1]) if n else initial
    path = np.concatenate([[initial], eq])
    rets = bar_returns(eq, initial)
    years = _years(ts)
    per_year = bars_per_year(ts)

    total_return = final / initial - 1.0
    if years > 0:
        # in log space, capped so that a huge gain over a short span stays a finite float
        growth = math.log(final / initial) / years if final > 0 else -math.inf
        cagr = math.expm1(min(growth, _MAX_LOG_GROWTH)) if final > 0 else -1.0
    else:
        cagr = 0.0
    std = float(np.std(rets, ddof=1)) if n > 1 else 0.0
    mean = float(np.mean(rets)) if n else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(rets, 0.0) ** 2))) if n else 0.0
    root = float(np.sqrt(per_year))
    sharpe = mean / std * root if std > 0 else 0.0
    sortino = mean / downside * root if downside > 0 else 0.0

    peak = np.maximum.accumulate(path)
    max_dd = float(np.min(path / peak - 1.0))
    max_dd = min(max_dd, 0.0) + 0.0  # no -0.0
    calmar = cagr / abs(max_dd) if max_dd < 0 else 0.0

    pnls = np.array([float(t["pnl"]) for t in trades], dtype=np.float64)
    gross_profit = float(pnls[pnls > 0].sum())
    gross_loss = float(-pnls[pnls < 0].sum())
    profit_factor: float | None
    if gross_loss > 0:
        profit_factor = gross_profit / gross_loss
    elif gross_profit > 0:
        profit_factor = None
    else:
        profit_factor = 0.0
    pos = np.asarray(position)

    return {
        "total_return": float(total_return),
        "cagr": float(cagr),
        "annual_volatility": float(std * root),
        "sharpe": float(sharpe),
        "sortino": float(sortino),
        "max_drawdown": max_dd,
        "calmar": float(calmar),
        "n_trades": len(trades),
        "win_rate": float(np.mean(pnls > 0)) if len(pnls) else 0.0,
        "profit_factor": profit_factor,
        "exposure": float(np.mean(pos != 0)) if len(pos) else 0.0,
        "costs_paid": float(costs_paid),
        "final_equity": final,
    }


# --------------------------------------------------------------------------- several symbols


def _num(metrics: dict[str, float | int | None], key: str) -> float:
    value = metrics[key]
    if value is None:
        raise ValueError(f"metric {key!r} is None")
    return float(value)


def _align(
    union: np.ndarray, ts: np.ndarray, values: np.ndarray, before: float, after_end: float | None
) -> np.ndarray:
    """``values`` on ``union`` timestamps, forward-filled; ``before`` ahead of the series.

    After the series' last bar the value is forward-filled, or ``after_end`` if given.
    """
    idx = np.searchsorted(ts, union, side="right") - 1
    out = np.where(idx >= 0, values[np.clip(idx, 0, None)], before).astype(np.float64)
    if after_end is not None:
        out[union > ts[-1]] = after_end
    return out


def simulate_symbols(frame: pl.DataFrame, cfg: SimConfig, seed: int) -> dict[str, Any]:
    """Simulate every symbol of ``frame`` with an equal share of the capital and combine.

    Parameters
    ----------
    frame : polars DataFrame with symbol, timestamp, open, high, low, close,
        signal (int), confidence (float), sorted by (symbol, timestamp).
    cfg : simulation settings; ``initial_capital`` is split equally.
    seed : seed of the random baseline (symbol i uses ``seed + i``).

    Returns
    -------
    dict
        strategy / buy_and_hold : metrics of the summed equity curves, aligned
            on the union of timestamps (forward-filled; a symbol holds its idle
            capital before its first bar), trades pooled.
        random : random baseline of the combined strategy: per-symbol random
            runs (each with that symbol's trade count) summed run by run.
        per_symbol : {symbol: {"strategy", "buy_and_hold", "random"}}.
        trades : polars DataFrame of all trades, with a symbol column.
        equity : polars DataFrame timestamp, equity, buy_and_hold_equity,
            position (one symbol: its +1/0/-1; several: symbols in a position).
        random_returns : float64 array, the random runs' total returns (the
            Monte Carlo distribution behind ``random``; empty with no trades).
    """
    import polars as pl

    if frame.height == 0:
        raise ValueError("simulate_symbols needs at least one row")
    symbols = frame.get_column("symbol").unique(maintain_order=True).to_list()
    k = len(symbols)
    sub_cfg = dataclasses.replace(cfg, initial_capital=cfg.initial_capital / k)
    capital = sub_cfg.initial_capital
    union = np.unique(frame.get_column("timestamp").to_numpy().astype("datetime64[us]"))

    total_eq = np.zeros(len(union))
    total_bh = np.zeros(len(union))
    signed_pos = np.zeros(len(union))
    in_position = np.zeros(len(union), dtype=np.int64)
    bh_in_position = np.zeros(len(union), dtype=np.int64)
    trades: list[dict[str, Any]] = []
    bh_trades: list[dict[str, Any]] = []
    costs = bh_costs = 0.0
    random_finals = np.zeros(cfg.random_runs)
    random_trades = 0
    per_symbol: dict[str, dict[str, Any]] = {}

    for i, sym in enumerate(symbols):
        part = frame.filter(pl.col("symbol") == sym)
        ts, o, h, lo, c = _prices(
            part.get_column("timestamp").to_numpy(),
            *(part.get_column(col).to_numpy() for col in ("open", "high", "low", "close")),
        )
        res = simulate(
            ts,
            o,
            h,
            lo,
            c,
            part.get_column("signal").to_numpy(),
            part.get_column("confidence").to_numpy(),
            sub_cfg,
        )
        bh = buy_and_hold(ts, o, h, lo, c, sub_cfg)
        finals, used = _random_final_equity(
            ts, o, h, lo, c, len(res.trades), sub_cfg, np.random.default_rng(seed + i)
        )
        random_finals += finals
        random_trades += used
        per_symbol[sym] = {
            "strategy": res.metrics,
            "buy_and_hold": bh.metrics,
            "random": _summarise_random(
                finals / capital - 1.0, used, _num(res.metrics, "total_return")
            ),
        }
        trades += [{"symbol": sym, **t} for t in res.trades]
        bh_trades += [{"symbol": sym, **t} for t in bh.trades]
        costs += _num(res.metrics, "costs_paid")
        bh_costs += _num(bh.metrics, "costs_paid")
        total_eq += _align(union, ts, res.equity, capital, None)
        total_bh += _align(union, ts, bh.equity, capital, None)
        pos = _align(union, ts, res.position.astype(np.float64), 0.0, 0.0)
        bh_pos = _align(union, ts, bh.position.astype(np.float64), 0.0, 0.0)
        signed_pos += pos
        in_position += pos != 0
        bh_in_position += bh_pos != 0

    position = (signed_pos if k == 1 else in_position).astype(np.int64)
    strategy = performance_metrics(total_eq, union, trades, position, costs, cfg.initial_capital)
    buy_hold = performance_metrics(
        total_bh, union, bh_trades, bh_in_position, bh_costs, cfg.initial_capital
    )
    random = _summarise_random(
        random_finals / cfg.initial_capital - 1.0,
        random_trades,
        _num(strategy, "total_return"),
    )

    schema = {
        "symbol": pl.String,
        "entry_time": pl.Datetime("us"),
        "exit_time": pl.Datetime("us"),
        "side": pl.String,
        "entry_price": pl.Float64,
        "exit_price": pl.Float64,
        "shares": pl.Float64,
        "pnl": pl.Float64,
        "return_pct": pl.Float64,
        "exit_reason": pl.String,
        "costs": pl.Float64,
    }
    trades_frame = pl.DataFrame(trades, schema=schema)
    equity_frame = pl.DataFrame(
        {
            "timestamp": pl.Series(union, dtype=pl.Datetime("us")),
            "equity": total_eq,
            "buy_and_hold_equity": total_bh,
            "position": pl.Series(position, dtype=pl.Int32),
        }
    )
    return {
        "strategy": strategy,
        "buy_and_hold": buy_hold,
        "random": random,
        "per_symbol": per_symbol,
        "trades": trades_frame,
        "equity": equity_frame,
        "random_returns": random_finals / cfg.initial_capital - 1.0 if random_trades else np.zeros(0),
    }

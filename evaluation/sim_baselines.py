"""Trading baselines that put a strategy's result in context: buy-and-hold and random timing.

A strategy's return means little on its own: a rising market makes almost any
long strategy look good. Two baselines run on the same bars, under the same
engine rules (fills at the open, slippage, costs, stops; see ``engine``):

* ``buy_and_hold``: all capital in at the first open, out at the last close;
* ``random_baseline``: random entry/exit timings with the strategy's number of
  trades, so only the timing differs from the strategy. Its summary says where
  the strategy's return falls among the random runs (``strategy_percentile``).

``random_final_equity`` and ``summarise_random`` are the two halves of the
random baseline; ``book.simulate_symbols`` uses them to sum runs across symbols.
Returns are fractions (0.05 = 5 %) except ``strategy_percentile`` (0..100).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.engine import Account, SimResult, check_prices, simulate
from signalpack.score.contract import BUY, HOLD, SELL

__all__ = ["buy_and_hold", "random_baseline", "random_final_equity", "summarise_random"]


def buy_and_hold(
    timestamps: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    cfg: SimConfig,
) -> SimResult:
    """Buy with all capital at the first open, sell at the last close; no stops.

    Both fills pay slippage and cost as in ``engine.simulate``, so the comparison
    with the strategy is like for like.
    """
    ts, o, _h, _lo, c = check_prices(timestamps, open_, high, low, close)
    n = len(c)
    acct = Account(cfg, ts)
    acct.open(0, 1, float(o[0]))
    equity = acct.cash + acct.shares * c
    position = np.ones(n, dtype=np.int8)
    acct.close(n - 1, float(c[-1]), "end")
    equity[-1] = acct.cash
    return acct.result(equity, position)


def random_final_equity(
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

    The prices must already have passed ``engine.check_prices``. Entry and exit
    signals sit on bars 0..n-2 (a last-bar signal never fills). 2k distinct
    sorted bars are drawn and paired (entry, exit), which gives non-overlapping
    round trips, uniformly over such placements. k is capped at (n-1)//2.
    Shorting is switched off so a SELL exit never opens a short.
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


def summarise_random(
    total_returns: np.ndarray, n_trades: int, strategy_return: float
) -> dict[str, float | int | None]:
    """Summary of the random runs' total returns, and the strategy's percentile among them.

    With no runs or no trades: runs 0 and every figure None (JSON-safe, never NaN).
    """
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
    runs ``engine.simulate`` with the same costs and stops, so only the timing
    differs from the strategy. Shorts are not used. Deterministic for a given
    ``seed``.

    Returns
    -------
    dict
        runs, n_trades (per run; capped at (n_bars-1)//2), mean/median/p5/p95
        of the runs' total returns, and strategy_percentile: the percentage
        (0..100) of runs whose total return is <= ``strategy_return``. With no
        trades or no runs: runs 0 and every figure None.
    """
    ts, o, h, lo, c = check_prices(timestamps, open_, high, low, close)
    if n_trades <= 0 or cfg.random_runs <= 0:
        return summarise_random(np.zeros(0), max(int(n_trades), 0), strategy_return)
    finals, k = random_final_equity(
        ts, o, h, lo, c, n_trades, cfg, np.random.default_rng(seed)
    )
    return summarise_random(finals / cfg.initial_capital - 1.0, k, strategy_return)

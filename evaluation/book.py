"""The multi-symbol book: every symbol traded on its own share of the capital, then combined.

Each symbol gets an equal share of ``initial_capital`` and is simulated by the
single-series engine, beside its buy-and-hold and random-timing baselines. The
per-symbol equity curves are aligned on the union of all timestamps and summed,
so the combined figures are those of one portfolio holding every symbol's slot.

The frame is split by symbol in a single pass (``partition_by``), not filtered
once per symbol, so the cost grows with rows, not with symbols x rows.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.engine import check_prices, simulate
from signalpack.evaluation.performance import performance_metrics
from signalpack.evaluation.sim_baselines import (
    buy_and_hold,
    random_final_equity,
    summarise_random,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["simulate_symbols"]


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


def _trades_frame(trades: list[dict[str, Any]]) -> pl.DataFrame:
    """All round trips as one frame with a fixed schema (also when there are none)."""
    import polars as pl

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
    return pl.DataFrame(trades, schema=schema)


def simulate_symbols(frame: pl.DataFrame, cfg: SimConfig, seed: int) -> dict[str, Any]:
    """Simulate every symbol of ``frame`` with an equal share of the capital and combine.

    Parameters
    ----------
    frame : polars DataFrame with symbol, timestamp, open, high, low, close,
        signal (int), confidence (float), sorted by (symbol, timestamp).
    cfg : simulation settings; ``initial_capital`` is split equally.
    seed : seed of the random baseline (symbol i uses ``seed + i``, i counting
        symbols in order of first appearance).

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
    parts = frame.partition_by("symbol", maintain_order=True, as_dict=True)
    k = len(parts)
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

    for i, ((sym,), part) in enumerate(parts.items()):
        ts, o, h, lo, c = check_prices(
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
        finals, used = random_final_equity(
            ts, o, h, lo, c, len(res.trades), sub_cfg, np.random.default_rng(seed + i)
        )
        random_finals += finals
        random_trades += used
        per_symbol[sym] = {
            "strategy": res.metrics,
            "buy_and_hold": bh.metrics,
            "random": summarise_random(
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
    random = summarise_random(
        random_finals / cfg.initial_capital - 1.0,
        random_trades,
        _num(strategy, "total_return"),
    )
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
        "trades": _trades_frame(trades),
        "equity": equity_frame,
        "random_returns": random_finals / cfg.initial_capital - 1.0 if random_trades else np.zeros(0),
    }

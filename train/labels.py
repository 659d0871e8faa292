"""SELL/HOLD/BUY labels from what happens after bar t, thresholded by volatility known at t.

Labels are the only thing in training that looks forward, and they look exactly
``horizon`` bars ahead; ``label_end`` records the timestamp of the last bar a
label reads, so the split can purge every training label that reaches into
validation or test.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from signalpack.score.contract import BUY, HOLD, SELL
from signalpack.train.config import LabelConfig

__all__ = ["SELL", "HOLD", "BUY", "add_labels"]

def add_labels(frame: pl.DataFrame, cfg: LabelConfig) -> pl.DataFrame:
    """Add ``label`` (Int8: 0 SELL, 1 HOLD, 2 BUY; null where undefined) and ``label_end``.

    frame : (symbol, timestamp)-sorted OHLCV frame.
    The threshold at t is ``cfg.threshold * vol_t * sqrt(horizon)``, where vol_t
    is the std of the ``vol_window`` 1-bar log returns ending at t (past only).
    Rows whose horizon runs past the end of their symbol, or whose volatility is
    not yet defined, get a null label.
    """
    h = cfg.horizon
    ret1 = (pl.col("close") / pl.col("close").shift(1)).log()
    vol = ret1.rolling_std(cfg.vol_window).over("symbol")
    thr = (cfg.threshold * vol * np.sqrt(h)).alias("_thr")
    out = frame.with_columns(
        thr, pl.col("timestamp").shift(-h).over("symbol").alias("label_end")
    )
    if cfg.method == "forward_return":
        fwd = (pl.col("close").shift(-h) / pl.col("close")).log().over("symbol")
        label = (
            pl.when(fwd.is_null() | pl.col("_thr").is_null())
            .then(None)
            .when(fwd > pl.col("_thr"))
            .then(BUY)
            .when(fwd < -pl.col("_thr"))
            .then(SELL)
            .otherwise(HOLD)
        )
        out = out.with_columns(label.cast(pl.Int8).alias("label"))
    else:
        out = out.with_columns(_triple_barrier(out, h).alias("label"))
    return out.with_columns(
        pl.when(pl.col("label").is_null()).then(None).otherwise(pl.col("label_end")).alias("label_end")
    ).drop("_thr")


def _triple_barrier(frame: pl.DataFrame, h: int) -> pl.Series:
    """Which barrier (±threshold in log terms from close_t) the next h bars touch first.

    Upper first → BUY, lower first → SELL, both in the same bar → SELL (the
    stop-loss-first rule of the simulation), neither within h bars → HOLD.
    """
    sym = frame.get_column("symbol")
    close = frame.get_column("close").to_numpy()
    high = frame.get_column("high").to_numpy()
    low = frame.get_column("low").to_numpy()
    thr = frame.get_column("_thr").to_numpy()
    n = len(close)
    label = np.full(n, HOLD, dtype=np.int8)
    decided = np.zeros(n, dtype=bool)
    sym_codes = sym.rle_id().to_numpy()  # sorted input: one run per symbol
    for k in range(1, h + 1):
        idx = np.arange(n - k)
        same = sym_codes[idx + k] == sym_codes[idx]
        up = np.zeros(n, dtype=bool)
        dn = np.zeros(n, dtype=bool)
        up[idx] = same & (np.log(high[idx + k] / close[idx]) >= thr[idx])
        dn[idx] = same & (np.log(low[idx + k] / close[idx]) <= -thr[idx])
        new_dn = dn & ~decided
        new_up = up & ~dn & ~decided
        label[new_dn] = SELL
        label[new_up] = BUY
        decided |= new_dn | new_up
    undefined = np.isnan(thr) | frame.get_column("label_end").is_null().to_numpy()
    return pl.Series(label).cast(pl.Int8).scatter(np.flatnonzero(undefined), None)

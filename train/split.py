"""Chronological train/validation/test split by calendar time, with a purge gap.

The cut dates are the same for every symbol, so no symbol's test period
overlaps another symbol's training period. A row is a sample of its segment
only if the bar ``purge`` rows later (per symbol; purge >= label horizon) still
lies before the next cut: no training label reads a validation or test bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from score.errors import DataError
from train.config import SplitConfig

__all__ = ["SEGMENTS", "Cuts", "cut_dates", "assign_segments"]

SEGMENTS: tuple[str, str, str] = ("train", "validation", "test")


@dataclass(frozen=True)
class Cuts:
    """Validation starts at ``validation``, test at ``test`` (both inclusive)."""

    validation: datetime
    test: datetime


def cut_dates(timestamps: pl.Series, cfg: SplitConfig) -> Cuts:
    """Cut dates at the train and train+validation quantiles of the labelled rows' timestamps."""
    ts = timestamps.sort()
    n = len(ts)
    if n < 3:
        raise DataError(f"only {n} labelled rows: too few to split into train/validation/test")
    i_val = int(n * cfg.train)
    i_test = int(n * (cfg.train + cfg.validation))
    cuts = Cuts(ts[min(i_val, n - 1)], ts[min(i_test, n - 1)])
    if not ts[0] < cuts.validation < cuts.test <= ts[n - 1]:
        raise DataError(
            f"the data's {n} labelled rows span {ts[0]}..{ts[n - 1]}: too short for a "
            f"{cfg.train:.0%}/{cfg.validation:.0%}/{cfg.test:.0%} split by date"
        )
    return cuts


def assign_segments(frame: pl.DataFrame, cuts: Cuts, purge: int) -> pl.DataFrame:
    """Add ``segment`` (0 train, 1 validation, 2 test) and ``is_sample`` (labelled and purged).

    frame : (symbol, timestamp)-sorted frame with ``label`` and ``label_end`` columns.
    """
    ts = pl.col("timestamp")
    segment = pl.when(ts < cuts.validation).then(0).when(ts < cuts.test).then(1).otherwise(2)
    purge_end = ts.shift(-purge).over("symbol")
    next_cut = pl.when(pl.col("segment") == 0).then(pl.lit(cuts.validation)).otherwise(pl.lit(cuts.test))
    within = (
        (pl.col("segment") == 2)
        | (purge_end.is_not_null() & (purge_end < next_cut) & (pl.col("label_end") < next_cut))
    )
    return frame.with_columns(segment.cast(pl.Int8).alias("segment")).with_columns(
        (pl.col("label").is_not_null() & within).alias("is_sample")
    )

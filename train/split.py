"""Chronological train/validation/test split by calendar time, with a purge gap.

The cut dates are the same for every symbol, so no symbol's test period
overlaps another symbol's training period. A row is a sample of its segment
only if the bar ``purge`` rows later (per symbol; purge >= label horizon) still
lies before the next cut: no training label reads a validation or test bar.

Walk-forward evaluation (``walk_forward_cuts``) uses K expanding-window folds
in the manner of scikit-learn's ``TimeSeriesSplit``: the labelled timeline is
cut into K + 1 equal blocks (quantiles of the labelled rows' timestamps); fold i
tests on block i + 1 and learns from everything before it, whose last
``validation / (train + validation)`` share is its validation segment. Test
blocks follow each other without overlap; the same purge applies between
train, validation and test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from signalpack.errors import DataError
from signalpack.train.config import SplitConfig

__all__ = ["SEGMENTS", "Cuts", "cut_dates", "walk_forward_cuts", "assign_segments"]

SEGMENTS: tuple[str, str, str] = ("train", "validation", "test")


@dataclass(frozen=True)
class Cuts:
    """Validation starts at ``validation``, test at ``test`` (both inclusive).

    end : the test segment stops before ``end`` (a walk-forward fold that is not
        the last); rows from ``end`` on belong to no segment. None: to the end.
    """

    validation: datetime
    test: datetime
    end: datetime | None = None


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


def walk_forward_cuts(timestamps: pl.Series, k: int, cfg: SplitConfig) -> list[Cuts]:
    """Cut dates of ``k`` expanding-window folds (see the module docstring), oldest first."""
    if k < 2:
        raise ValueError(f"walk-forward needs k >= 2 folds, got {k}")
    ts = timestamps.sort()
    n = len(ts)
    val_share = cfg.validation / (cfg.train + cfg.validation)
    folds = []
    for i in range(k):
        i_test = n * (i + 1) // (k + 1)
        i_end = n * (i + 2) // (k + 1)
        i_val = int(i_test * (1 - val_share))
        end = ts[i_end] if i < k - 1 else None
        cuts = Cuts(ts[min(i_val, n - 1)], ts[min(i_test, n - 1)], end)
        if not (ts[0] < cuts.validation < cuts.test and (end is None or cuts.test < end)):
            raise DataError(
                f"the data's {n} labelled rows span {ts[0]}..{ts[n - 1]}: too short for {k} walk-forward "
                f"folds (fold {i + 1} would have an empty train, validation or test segment)"
            )
        folds.append(cuts)
    return folds


def assign_segments(frame: pl.DataFrame, cuts: Cuts, purge: int) -> pl.DataFrame:
    """Add ``segment`` (0 train, 1 validation, 2 test, 3 after the test) and ``is_sample`` (labelled and purged).

    frame : (symbol, timestamp)-sorted frame with ``label`` and ``label_end`` columns.
    """
    ts = pl.col("timestamp")
    segment = pl.when(ts < cuts.validation).then(0).when(ts < cuts.test).then(1)
    if cuts.end is not None:
        segment = segment.when(ts >= cuts.end).then(3)
    segment = segment.otherwise(2)
    purge_end = ts.shift(-purge).over("symbol")
    next_cut = pl.when(pl.col("segment") == 0).then(pl.lit(cuts.validation)).otherwise(pl.lit(cuts.test))
    within = (
        (pl.col("segment") == 2)
        | (purge_end.is_not_null() & (purge_end < next_cut) & (pl.col("label_end") < next_cut))
    )
    return frame.with_columns(segment.cast(pl.Int8).alias("segment")).with_columns(
        (pl.col("label").is_not_null() & within & (pl.col("segment") < 3)).alias("is_sample")
    )

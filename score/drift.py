"""Drift and data-quality statistics for `score run`: is tonight's data still like the training data?

The scorer computes no model features (the bundle's graph does, from raw bars), so it cannot read
the 23 features the members saw. Instead this module recomputes a small, fixed set of six of them
itself, with the same formulas as ``score/features.py`` (restated here: no scorer module imports
the feature code; a test checks the values are equal) and as polars expressions over raw bars:

    ret_1        ln(close_t / close_{t-1})                       level of returns
    vol_20       sample std of 1-bar log returns over 20 bars    volatility regime
    bar_range    (high - low) / close                            intrabar range
    gap          ln(open_t / close_{t-1})                        overnight gap
    body         ln(close / open)                                intrabar move
    volume_z_20  z-score of ln(1 + volume) over 20 bars          volume anomaly (scale-free)

They cover the scale-sensitive part of the model's inputs (returns, volatility, range, volume);
everything else the model reads is a function of the same bars.

Statistic: the population stability index (PSI) of each feature's values on the scored rows against
the training segment, over 10 bins cut at the training deciles. ``export`` stores the 9 inner edges
and the training share of each bin in the manifest (``drift_reference``), computed by this very code
(``drift_values`` and ``reference_from_values``); ``score run`` counts the scored rows into the same
bins chunk by chunk (``DriftAccumulator``: ten integers per feature, memory independent of the file)
and then computes

    PSI = sum over bins of (a_i - e_i) * ln(a_i / e_i)

with a_i the scored share and e_i the training share of bin i, both floored at ``SHARE_FLOOR``
(an empty bin would otherwise give an infinite PSI). Levels (the usual convention): below 0.10
stable, 0.10 to 0.25 moderate (reported only), above 0.25 drift (a warning, exit 3 with
``--fail-on-drift``). With fewer than ``MIN_ROWS`` scored rows the PSI is reported but not judged:
its sampling noise alone (about chi-square with 9 degrees of freedom over n) would reach 0.25.

Every scored row has W - 1 >= 20 rows of its own symbol before it (a full window), so each feature
at a scored row reads only its own symbol, and its value is a pure function of those rows (fixed-order
sums, as in ``features.py``): the counts do not depend on the chunk size.

Data quality (``SymbolRanges``): each symbol's first and last bar and rows, the share of symbols too
short to score, and the symbols whose last bar is older than the file's newest bar (stale: delisted,
or missing from tonight's feed).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import Any

import numpy as np
import polars as pl

from signalpack.score.contract import BAR_COLUMNS

__all__ = [
    "DRIFT_BINS",
    "DRIFT_FEATURES",
    "DRIFT_STATISTIC",
    "MIN_ROWS",
    "NOT_AVAILABLE",
    "PSI_DRIFT",
    "PSI_MODERATE",
    "SHARE_FLOOR",
    "DriftAccumulator",
    "DriftFeature",
    "SymbolRanges",
    "check_reference",
    "drift_features_for",
    "drift_values",
    "drift_warning",
    "psi",
    "reference_from_values",
]

DRIFT_STATISTIC = "psi"
DRIFT_BINS = 10
"""Bins per feature, cut at the training deciles."""
SHARE_FLOOR = 1e-4
"""Smallest share a bin counts with, on either side (an empty bin would make the PSI infinite)."""
PSI_MODERATE = 0.10
"""PSI from here to ``PSI_DRIFT``: a moderate shift, reported in the summary only."""
PSI_DRIFT = 0.25
"""PSI above this: drift. One warning line; exit 3 with ``--fail-on-drift``."""
MIN_ROWS = 200
"""Scored rows below which the PSI is reported but not judged (its 99th percentile under no drift is
about 22 / n for 10 bins: ~0.11 at 200 rows)."""
NOT_AVAILABLE = "bundle exported before drift statistics"
SHARES_SUM_TOL = 1e-6
FLAT_RTOL = 1e-12
"""As ``features.FLAT_RTOL``: a 20-bar spread at most this x |mean| is flat, and the z-score is 0."""

_C, _O, _H, _L, _V = (pl.col(c) for c in ("close", "open", "high", "low", "volume"))


def _wsum(e: pl.Expr, n: int) -> pl.Expr:
    """Sum of the current and n-1 previous values in a fixed order (exact whatever the chunking)."""
    return reduce(add, (e.shift(i) for i in range(n)))


def _std(e: pl.Expr, mean: pl.Expr, n: int) -> pl.Expr:
    """Sample std (ddof=1) over n values, in the order ``features._Plan.std`` uses."""
    return (reduce(add, ((e.shift(i) - mean) ** 2 for i in range(n))) / (n - 1)).sqrt()


_STAGES: tuple[dict[str, pl.Expr], ...] = (
    {"__r1": (_C / _C.shift(1)).log(), "__logv": _V.log1p()},
    {"__mean_r1": _wsum(pl.col("__r1"), 20) / 20, "__mean_logv": _wsum(pl.col("__logv"), 20) / 20},
    {"__std_r1": _std(pl.col("__r1"), pl.col("__mean_r1"), 20),
     "__std_logv": _std(pl.col("__logv"), pl.col("__mean_logv"), 20)},
)
"""Intermediate columns, materialised stage by stage so each is computed once (as ``features._Plan``)."""


def _volume_z_20() -> pl.Expr:
    mean, std = pl.col("__mean_logv"), pl.col("__std_logv")
    spread = pl.when(std > FLAT_RTOL * mean.abs()).then(std).otherwise(pl.lit(0.0))
    return pl.when(spread > 0).then((pl.col("__logv") - mean) / spread).otherwise(pl.lit(0.0))


@dataclass(frozen=True)
class DriftFeature:
    name: str
    lookback: int
    """Rows before the current one the value reads (all of its own symbol at a scored row)."""
    formula: str
    build: Callable[[], pl.Expr]


DRIFT_FEATURES: dict[str, DriftFeature] = {f.name: f for f in (
    DriftFeature("ret_1", 1, "ln(close_t / close_{t-1})", lambda: (_C / _C.shift(1)).log()),
    DriftFeature("vol_20", 20, "sample std of 1-bar log returns over 20 bars", lambda: pl.col("__std_r1")),
    DriftFeature("bar_range", 0, "(high - low) / close", lambda: (_H - _L) / _C),
    DriftFeature("gap", 1, "ln(open_t / close_{t-1})", lambda: (_O / _C.shift(1)).log()),
    DriftFeature("body", 0, "ln(close / open)", lambda: (_C / _O).log()),
    DriftFeature("volume_z_20", 19, "z-score of ln(1 + volume) over 20 bars; 0 if flat", _volume_z_20),
)}
"""The drift features, in report order; names and formulas are those of the default FeatureSpec."""


def drift_features_for(window_rows: int) -> list[str]:
    """The drift features a bundle reading ``window_rows`` rows per window can carry: those whose look-back
    fits before the scored row inside one window."""
    return [name for name, f in DRIFT_FEATURES.items() if f.lookback <= window_rows - 1]


def drift_values(bars: np.ndarray, ends: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Each named drift feature at rows ``ends`` of ``bars`` (float64 [rows, 5], ``BAR_COLUMNS``).

    Each end must have at least the feature's look-back rows of its own series before it (``window_ends``
    with a window of W rows > look-back guarantees it). Returns float64 arrays, one value per end.
    """
    if len(ends) == 0:
        return {n: np.zeros(0, dtype=np.float64) for n in names}
    first = max(0, int(ends[0]) - max(DRIFT_FEATURES[n].lookback for n in names))
    frame = pl.from_numpy(bars[first:int(ends[-1]) + 1], schema=list(BAR_COLUMNS), orient="row")
    for stage in _STAGES:
        frame = frame.with_columns(e.alias(k) for k, e in stage.items())
    values = frame.select(DRIFT_FEATURES[n].build().alias(n) for n in names)
    at = np.asarray(ends, dtype=np.int64) - first
    return {n: values.get_column(n).to_numpy()[at] for n in names}


def frame_values(frame: pl.DataFrame, window_rows: int, before: Any, names: list[str]) -> dict[str, np.ndarray]:
    """The drift features at every row of ``frame`` (checked, (symbol, timestamp)-sorted OHLCV, as
    ``score.io`` returns it) that ends a full window of ``window_rows`` bars of its symbol and lies
    before ``before`` (a datetime): the rows a ``score run`` over the training segment would score."""
    from signalpack.score.bar_windows import bar_matrix
    from signalpack.score.windows import window_ends

    ends = window_ends(frame.get_column("symbol").rle_id().to_numpy(), window_rows)
    ends = ends[(frame.get_column("timestamp").gather(ends) < before).to_numpy()]
    return drift_values(bar_matrix(frame), ends, names)


def _bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index 0..len(edges) of each value; a value equal to an edge goes to the bin above it."""
    return np.searchsorted(edges, values, side="right")


def reference_from_values(values: dict[str, np.ndarray], segment: str) -> dict[str, Any]:
    """The manifest's ``drift_reference`` from the reference rows' drift-feature values: per feature the
    9 inner decile edges and the share of the rows in each of the 10 bins they cut (not 0.1 each: tied
    values, such as zero-volume bars, can leave a bin empty)."""
    n = len(next(iter(values.values())))
    features = {}
    for name, v in values.items():
        edges = np.quantile(v, np.arange(1, DRIFT_BINS) / DRIFT_BINS)
        counts = np.bincount(_bins(v, edges), minlength=DRIFT_BINS)
        features[name] = {"edges": [float(x) for x in edges], "shares": [float(c) / n for c in counts]}
    return {"statistic": DRIFT_STATISTIC, "bins": DRIFT_BINS, "segment": segment, "windows": n,
            "features": features}


def check_reference(ref: dict[str, Any], window_rows: int) -> tuple[str, str] | None:
    """What the manifest schema cannot say about a ``drift_reference``: (field, problem), or None if sound.

    At least one feature; each a known drift feature whose look-back fits the window; 9 edges,
    non-decreasing; 10 shares summing to 1.
    """
    feats = ref["features"]
    if not feats:
        return "drift_reference.features", "names no feature"
    for name, f in feats.items():
        where = f"drift_reference.features.{name}"
        known = DRIFT_FEATURES.get(name)
        if known is None:
            return where, f"is not a drift feature this scorer computes ({', '.join(DRIFT_FEATURES)})"
        if known.lookback > window_rows - 1:
            return where, f"reads {known.lookback} rows back, more than a window of {window_rows} rows holds"
        edges = f["edges"]
        shares = f["shares"]
        if len(edges) != DRIFT_BINS - 1 or len(shares) != DRIFT_BINS:
            return where, f"holds {len(edges)} edges and {len(shares)} shares, not {DRIFT_BINS - 1} and {DRIFT_BINS}"
        if any(b < a for a, b in itertools.pairwise(edges)):
            return f"{where}.edges", "must be non-decreasing"
        total = math.fsum(shares)
        if abs(total - 1.0) > SHARES_SUM_TOL:
            return f"{where}.shares", f"sum to {total:.9g}, not 1"
    return None


def psi(counts: np.ndarray, shares: np.ndarray) -> float:
    """PSI of observed bin ``counts`` against reference ``shares`` (both floored at ``SHARE_FLOOR``)."""
    total = counts.sum()
    a = np.maximum(counts / total if total else np.zeros(len(counts)), SHARE_FLOOR)
    e = np.maximum(np.asarray(shares, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _level(value: float) -> str:
    return "drift" if value > PSI_DRIFT else "moderate" if value >= PSI_MODERATE else "ok"


class DriftAccumulator:
    """Bin counts of the scored rows' drift features, chunk by chunk; ``result()`` is the summary's ``drift``.

    reference : the bundle's ``drift_reference`` (checked at load), or None for a bundle exported before
        drift statistics (then nothing is computed and the result says so).
    """

    def __init__(self, reference: dict[str, Any] | None) -> None:
        self.reference = reference
        self.rows = 0
        if reference is not None:
            self.names = [n for n in DRIFT_FEATURES if n in reference["features"]]  # report order, not the JSON's
            self.edges = {n: np.asarray(reference["features"][n]["edges"], dtype=np.float64) for n in self.names}
            self.counts = {n: np.zeros(DRIFT_BINS, dtype=np.int64) for n in self.names}

    def add(self, bars: np.ndarray, ends: np.ndarray) -> None:
        """Count the drift features at the scored rows ``ends`` of ``bars`` (a prepared chunk)."""
        if self.reference is None or len(ends) == 0:
            return
        for name, v in drift_values(bars, ends, self.names).items():
            self.counts[name] += np.bincount(_bins(v, self.edges[name]), minlength=DRIFT_BINS)
        self.rows += len(ends)

    def result(self) -> dict[str, Any]:
        if self.reference is None:
            return {"available": False, "reason": NOT_AVAILABLE}
        judged = self.rows >= MIN_ROWS
        features = {}
        for name in self.names:
            value = psi(self.counts[name], np.asarray(self.reference["features"][name]["shares"]))
            total = max(int(self.counts[name].sum()), 1)
            features[name] = {
                "psi": round(value, 6),
                "level": _level(value) if judged else "not judged",
                "shares": [round(int(c) / total, 6) for c in self.counts[name]],
            }
        return {
            "available": True,
            "statistic": DRIFT_STATISTIC,
            "bins": DRIFT_BINS,
            "reference_segment": self.reference["segment"],
            "reference_windows": self.reference["windows"],
            "rows": self.rows,
            "judged": judged,
            "min_rows": MIN_ROWS,
            "thresholds": {"moderate": PSI_MODERATE, "drift": PSI_DRIFT},
            "features": features,
            "drifted": [n for n, f in features.items() if f["level"] == "drift"],
        }


def drift_warning(drift: dict[str, Any]) -> str | None:
    """The one warning line for a drift result over the threshold (None if there is none)."""
    if not drift.get("available") or not drift.get("drifted"):
        return None
    feats = drift["features"]
    worst = sorted(drift["drifted"], key=lambda n: -feats[n]["psi"])
    shown = ", ".join(f"{feats[n]['psi']:.2f} on {n}" for n in worst)
    return (f"drift: psi {shown} (> {PSI_DRIFT:g}) over {drift['rows']:,} scored rows against the bundle's "
            f"{drift['reference_segment']} segment")


class SymbolRanges:
    """Each symbol's first and last bar, chunk by chunk (one entry per symbol: bounded by the symbols)."""

    def __init__(self) -> None:
        self.first: dict[str, Any] = {}
        self.last: dict[str, Any] = {}

    def add(self, chunk: pl.DataFrame) -> None:
        ranges = chunk.group_by("symbol", maintain_order=True).agg(
            pl.col("timestamp").min().alias("first"), pl.col("timestamp").max().alias("last"))
        for sym, first, last in ranges.iter_rows():
            if sym not in self.first or first < self.first[sym]:
                self.first[sym] = first
            if sym not in self.last or last > self.last[sym]:
                self.last[sym] = last

    def result(self, rows: dict[str, int], scored: dict[str, int]) -> dict[str, Any]:
        """The summary's ``data_quality``: rows and scored rows per symbol from the runner's counts."""
        seen = len(rows)
        short = sum(1 for s in rows if not scored.get(s, 0))
        newest = max(self.last.values(), default=None)
        stale = {s: _iso(t) for s, t in self.last.items() if newest is not None and t < newest}
        return {
            "symbols_seen": seen,
            "short_symbols": short,
            "short_share": round(short / seen, 6) if seen else 0.0,
            "newest_bar": _iso(newest) if newest is not None else None,
            "stale_symbols": stale,
            "stale_share": round(len(stale) / seen, 6) if seen else 0.0,
            "symbol_ranges": {s: {"first": _iso(self.first[s]), "last": _iso(self.last[s]), "rows": n,
                                  "scored": scored.get(s, 0)} for s, n in rows.items()},
        }


def _iso(ts: Any) -> str:
    return ts.isoformat() if hasattr(ts, "isoformat") else str(ts)

"""Seeded synthetic daily OHLCV series for ``bench/null_check.py``: random walks and planted AR(1) returns.

Two kinds of single-symbol daily series, each fully determined by its ``SeriesSpec``
(same spec → the same frame, the same CSV bytes):

* ``random_walk``: a geometric random walk. Daily log returns are i.i.d.
  N(drift, sd²): nothing about the next return can be known from the past, so no
  model can have direction skill on it (only volatility-scaled labels' HOLD-vs-move
  part is predictable, from volatility, which is the trap the verdict must avoid).
* ``ar1``: planted predictability. Daily log returns follow
  r_t − drift = phi · (r_{t−1} − drift) + e_t, with e_t ~ N(0, sd² · (1 − phi²)) so the
  returns' stationary sd is ``sd`` as for the walks; with phi = 0.4 a linear model on
  the lagged returns has real direction skill.

The close path is 100 · exp(cumulative log return). The other columns are built
around it, plausibly and without information about the future:

* open = previous close × exp(N(0, open_sd²)) (the first open: 100 × the same noise);
* high = max(open, close) × (1 + |N(0, range_sd²)|), low = min(open, close) / (1 + |N(0, range_sd²)|);
* volume = round(1e6 × exp(N(0, 0.5²))), always positive;
* timestamps: consecutive business days (Mon–Fri) from ``START`` (1950-01-02; 20,000
  bars end in 2026, well inside the loader's 1678–2261 range).

One ``numpy.random.Generator`` per series, seeded with ``spec.seed``, draws the
returns first and then the OHLV noise, always in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["KINDS", "START", "SeriesSpec", "log_returns", "ohlcv_frame", "write_csv"]

KINDS: tuple[str, ...] = ("random_walk", "ar1")
START = "1950-01-02"
"""First bar's date (a Monday)."""

_BASE_PRICE = 100.0
_BASE_VOLUME = 1e6


@dataclass(frozen=True)
class SeriesSpec:
    """One synthetic series.

    name : what the benchmark calls it ("rw0", "ar3"), also the CSV's file stem.
    kind : "random_walk" or "ar1".
    seed : the only source of randomness.
    n_bars : rows (daily bars).
    sd : stationary standard deviation of daily log returns (0.01 = 1 %).
    drift : mean daily log return.
    phi : AR(1) coefficient (``ar1`` only; must be 0 for ``random_walk``).
    open_sd, range_sd : noise of the open around the previous close, and of high/low beyond open/close.
    """

    name: str
    kind: str
    seed: int
    n_bars: int = 20_000
    sd: float = 0.01
    drift: float = 0.0
    phi: float = 0.0
    open_sd: float = 0.002
    range_sd: float = 0.005

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "random_walk" and self.phi != 0:
            raise ValueError(f"a random walk has phi = 0, got phi = {self.phi!r}")
        if not -1 < self.phi < 1:
            raise ValueError(f"phi must be in (-1, 1) for a stationary AR(1), got {self.phi!r}")
        if self.n_bars < 2:
            raise ValueError(f"n_bars must be at least 2, got {self.n_bars!r}")
        if not (self.sd > 0 and self.open_sd >= 0 and self.range_sd >= 0):
            raise ValueError(f"sd must be > 0 and open_sd, range_sd >= 0, got sd={self.sd!r}, "
                             f"open_sd={self.open_sd!r}, range_sd={self.range_sd!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed!r}")

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "seed": self.seed, "n_bars": self.n_bars, "sd": self.sd,
                "drift": self.drift, "phi": self.phi, "open_sd": self.open_sd, "range_sd": self.range_sd,
                "start": START}


def log_returns(spec: SeriesSpec, rng: np.random.Generator) -> np.ndarray:
    """The ``n_bars`` daily log returns of the close (the first one moves bar 0's close away from 100)."""
    if spec.kind == "random_walk":
        return spec.drift + spec.sd * rng.standard_normal(spec.n_bars)
    innov = spec.sd * np.sqrt(1.0 - spec.phi**2) * rng.standard_normal(spec.n_bars)
    dev = np.empty(spec.n_bars)
    prev = spec.sd * rng.standard_normal()  # a draw from the stationary distribution: no burn-in needed
    for t in range(spec.n_bars):
        prev = spec.phi * prev + innov[t]
        dev[t] = prev
    return spec.drift + dev


def ohlcv_frame(spec: SeriesSpec) -> pl.DataFrame:
    """The series as a frame: timestamp (date), open, high, low, close (float64), volume (float64)."""
    rng = np.random.default_rng(spec.seed)
    r = log_returns(spec, rng)
    close = _BASE_PRICE * np.exp(np.cumsum(r))
    prev_close = np.concatenate([[_BASE_PRICE], close[:-1]])
    open_ = prev_close * np.exp(spec.open_sd * rng.standard_normal(spec.n_bars))
    up = 1.0 + np.abs(spec.range_sd * rng.standard_normal(spec.n_bars))
    down = 1.0 + np.abs(spec.range_sd * rng.standard_normal(spec.n_bars))
    high = np.maximum(open_, close) * up
    low = np.minimum(open_, close) / down
    volume = np.round(_BASE_VOLUME * np.exp(0.5 * rng.standard_normal(spec.n_bars)))
    days = np.busday_offset(np.datetime64(START, "D"), np.arange(spec.n_bars), roll="forward")
    return pl.DataFrame({
        "timestamp": pl.Series(days).cast(pl.Date),
        "open": open_, "high": high, "low": low, "close": close, "volume": np.maximum(volume, 1.0),
    })


def write_csv(spec: SeriesSpec, folder: Path) -> Path:
    """Write ``<folder>/<name>.csv`` (ISO dates, full float precision) and return its path."""
    path = Path(folder) / f"{spec.name}.csv"
    ohlcv_frame(spec).write_csv(path)
    return path

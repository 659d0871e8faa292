"""Shared price paths and configs of the simulation tests (engine, baselines, book).

Prices are written out bar by bar so that expected numbers can be derived by hand.
"""

from __future__ import annotations

import numpy as np

from signalpack.evaluation.config import SimConfig

__all__ = ["COSTS_NO_STOPS", "FREE", "FREE_NO_STOPS", "PATH_A", "days", "walk"]

# Frictionless, stops at the defaults (3 % / 6 %).
FREE = SimConfig(cost=0.0, slippage=0.0)
# Frictionless and stops so wide they never trigger on the paths below.
FREE_NO_STOPS = SimConfig(cost=0.0, slippage=0.0, stop_loss=0.5, take_profit=5.0)
# Default cost/slippage, stops that never trigger.
COSTS_NO_STOPS = SimConfig(stop_loss=0.5, take_profit=5.0)


def days(n: int, start: str = "2024-01-01") -> np.ndarray:
    """``n`` consecutive daily timestamps from ``start``."""
    return np.datetime64(start, "D") + np.arange(n)


# Path A (5 bars): rises; no stop level of a 110 entry is ever touched with wide stops.
#            bar:   0    1    2    3    4
PATH_A = [
    [100, 110, 120, 130, 125],  # open
    [101, 122, 131, 133, 127],  # high
    [99, 108, 118, 124, 123],  # low
    [100, 121, 130, 126, 125],  # close
]


def walk(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A random-walk price series: timestamps, open, high, low, close."""
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.concatenate([[100.0], c[:-1]])
    h = np.maximum(o, c) * 1.005
    lo = np.minimum(o, c) * 0.995
    return days(n), o, h, lo, c

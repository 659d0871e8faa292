"""The confidence threshold, chosen on the validation segment by a stated rule, never on test.

A threshold picked by looking at the test segment's result is a fitted parameter that
the test then cannot judge. Here a grid of thresholds is simulated on the validation
segment only, and one rule picks from the grid:

    RULE: the threshold whose strategy has the highest per-bar Sharpe ratio on the
    validation segment, among the thresholds with at least ``min_trades`` round trips
    there; a tie goes to the higher threshold (fewer, more confident trades). When no
    threshold makes ``min_trades`` trades, the highest threshold of the grid (the
    strategy that trades least).

Sharpe, not total return, because the Sharpe ratio is what the PSR and DSR then test;
``min_trades`` because a Sharpe ratio over one or two trades is mostly noise and the
highest one would often be such a fluke.

Every grid point is a strategy variant that was tried, so it is a trial of the deflated
Sharpe ratio: trials = thresholds × strategies (``dsr_trials``; the strategies are the
ensemble and each member).

Why test data cannot leak in: ``evaluate_grid`` takes a ``ValidationSegment``, whose
only constructor ``validation_segment`` keeps the rows a segment mask marks as
validation and drops every other row before any figure is computed; nothing downstream
sees the full frame. ``choose_threshold`` is a pure function of the grid's figures.
The tests make every test-segment price invalid (NaN, negative), which the simulation
refuses on sight, and get the same choice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from signalpack.evaluation.config import DEFAULT_GRID, DEFAULT_MIN_TRADES, SimConfig

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "DEFAULT_GRID",
    "DEFAULT_MIN_TRADES",
    "GridPoint",
    "ThresholdChoice",
    "ValidationSegment",
    "choose_threshold",
    "choose_threshold_on_validation",
    "dsr_trials",
    "evaluate_grid",
    "rule_text",
    "validation_segment",
]


_COLUMNS = ("symbol", "timestamp", "open", "high", "low", "close", "signal", "confidence")


def rule_text(min_trades: int) -> str:
    """The selection rule in words (recorded in metadata.json and shown in the report)."""
    return (
        "highest per-bar Sharpe ratio on the validation segment among the thresholds with at least "
        f"{min_trades} round trips there; ties go to the higher threshold; if none has {min_trades} "
        "trades, the highest threshold of the grid"
    )


def dsr_trials(n_thresholds: int, n_strategies: int) -> int:
    """Trials for the deflated Sharpe ratio: every threshold of the grid for every strategy."""
    if n_thresholds < 1 or n_strategies < 1:
        raise ValueError(f"need >= 1 threshold and strategy, got {n_thresholds} and {n_strategies}")
    return int(n_thresholds) * int(n_strategies)


@dataclass(frozen=True)
class GridPoint:
    """One threshold's strategy on the validation segment."""

    threshold: float
    n_trades: int
    total_return: float
    sharpe_per_bar: float | None  # None: never traded (constant returns)


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold, the rule that chose it and every grid point it chose from."""

    threshold: float
    rule: str
    min_trades: int
    grid: tuple[GridPoint, ...]
    fell_back: bool  # no threshold made min_trades trades

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "rule": self.rule,
            "min_trades": self.min_trades,
            "fell_back": self.fell_back,
            "segment": "validation",
            "grid": [dataclasses.asdict(p) for p in self.grid],
        }


@dataclass(frozen=True, eq=False)
class ValidationSegment:
    """The validation rows only (symbol, timestamp, OHLC, signal, confidence); make it
    with ``validation_segment``."""

    frame: pl.DataFrame


def validation_segment(frame: pl.DataFrame, validation_mask: np.ndarray | pl.Series) -> ValidationSegment:
    """Keep the rows where ``validation_mask`` is True, and only the simulation's columns.

    frame : one row per window (e.g. every segment's predictions), sorted by
        (symbol, timestamp). validation_mask : bool per row, True on validation rows.
    """
    import polars as pl

    mask = np.asarray(validation_mask.to_numpy() if isinstance(validation_mask, pl.Series) else validation_mask)
    if mask.dtype != np.bool_ or mask.shape != (frame.height,):
        raise ValueError(f"validation_mask must be bool with one value per row ({frame.height}), got "
                         f"{mask.dtype} {mask.shape}")
    if not mask.any():
        raise ValueError("the validation segment has no rows")
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}")
    return ValidationSegment(frame.filter(pl.Series(mask)).select(_COLUMNS))


def evaluate_grid(
    segment: ValidationSegment, grid: Sequence[float], cfg: SimConfig, seed: int = 0
) -> tuple[GridPoint, ...]:
    """Simulate the validation segment at every threshold (``book.simulate_symbols``, no random runs)."""
    from signalpack.evaluation.book import simulate_symbols
    from signalpack.evaluation.performance import bar_returns, per_bar_sharpe

    points = []
    for thr in _check_grid(grid):
        run_cfg = dataclasses.replace(cfg, confidence_threshold=thr, random_runs=0)
        sim = simulate_symbols(segment.frame, run_cfg, seed)
        strategy = sim["strategy"]
        equity = sim["equity"].get_column("equity").to_numpy()
        points.append(GridPoint(
            threshold=thr,
            n_trades=int(strategy["n_trades"]),  # type: ignore[arg-type]
            total_return=float(strategy["total_return"]),  # type: ignore[arg-type]
            sharpe_per_bar=per_bar_sharpe(bar_returns(equity, cfg.initial_capital)),
        ))
    return tuple(points)


def choose_threshold(points: Sequence[GridPoint], min_trades: int = DEFAULT_MIN_TRADES) -> ThresholdChoice:
    """Apply the rule (``rule_text``) to the grid's validation figures; a pure function."""
    if not points:
        raise ValueError("the threshold grid is empty")
    if min_trades < 1:
        raise ValueError(f"min_trades must be >= 1, got {min_trades}")
    eligible = [p for p in points if p.n_trades >= min_trades and p.sharpe_per_bar is not None]
    if eligible:
        best = max(eligible, key=lambda p: (p.sharpe_per_bar, p.threshold))
        chosen, fell_back = best.threshold, False
    else:
        chosen, fell_back = max(p.threshold for p in points), True
    return ThresholdChoice(chosen, rule_text(min_trades), int(min_trades), tuple(points), fell_back)


def choose_threshold_on_validation(
    frame: pl.DataFrame,
    validation_mask: np.ndarray | pl.Series,
    cfg: SimConfig,
    grid: Sequence[float] = DEFAULT_GRID,
    min_trades: int = DEFAULT_MIN_TRADES,
    seed: int = 0,
) -> ThresholdChoice:
    """Slice the validation rows, evaluate the grid on them, apply the rule."""
    return choose_threshold(evaluate_grid(validation_segment(frame, validation_mask), grid, cfg, seed), min_trades)


def _check_grid(grid: Sequence[float]) -> tuple[float, ...]:
    g = tuple(float(t) for t in grid)
    if not g:
        raise ValueError("the threshold grid is empty")
    if any(not (0.0 < t <= 1.0) for t in g) or len(set(g)) != len(g):
        raise ValueError(f"thresholds must be distinct and in (0, 1], got {list(g)}")
    return tuple(sorted(g))

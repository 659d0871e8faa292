"""The trading simulation's settings, owned by evaluation; ``train.config`` embeds them as
the ``[simulation]`` section of a training config (where they are range-checked)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AUTO", "DEFAULT_GRID", "DEFAULT_MIN_TRADES", "SimConfig"]

AUTO = "auto"
"""``confidence_threshold = "auto"``: chosen on the validation segment (``evaluation.threshold``)."""

DEFAULT_GRID: tuple[float, ...] = (0.34, 0.36, 0.38, 0.40, 0.42, 0.45, 0.50, 0.55, 0.60, 0.70)
"""The thresholds "auto" chooses from. Confidence is the top class probability, never below 1/3;
the grid is finer near 1/3, where a model trained with balanced class weights puts most of
its confidences, and reaches the original design's 0.6 and beyond."""

DEFAULT_MIN_TRADES = 5
"""A grid point needs this many round trips on validation to be eligible."""


@dataclass(frozen=True)
class SimConfig:
    """Trading simulation (fractions, not percent).

    confidence_threshold : a number in [0.34, 1], or ``"auto"`` (training's default):
        the threshold is then chosen from ``threshold_grid`` on the validation segment
        (``evaluation.threshold``). The engine itself needs a number; training resolves
        "auto" before it simulates anything.
    null_runs : runs of each strategy null (exposure-matched entries, block-permuted signals).
    """

    confidence_threshold: float | str = 0.6
    cost: float = 0.001
    slippage: float = 0.0005
    stop_loss: float = 0.03
    take_profit: float = 0.06
    allow_short: bool = False
    initial_capital: float = 100_000.0
    random_runs: int = 200
    threshold_grid: tuple[float, ...] = DEFAULT_GRID
    threshold_min_trades: int = DEFAULT_MIN_TRADES
    null_runs: int = 1000

    @property
    def auto_threshold(self) -> bool:
        return self.confidence_threshold == AUTO

    def threshold(self) -> float:
        """The numeric threshold; refuses "auto", which must be resolved first."""
        if isinstance(self.confidence_threshold, str):
            raise ValueError('confidence_threshold "auto" must be resolved on the validation segment before simulating')
        return float(self.confidence_threshold)

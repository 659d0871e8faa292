"""The trading simulation's settings, owned by evaluation; ``train.config`` embeds them as
the ``[simulation]`` section of a training config (where they are range-checked)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SimConfig"]


@dataclass(frozen=True)
class SimConfig:
    """Trading simulation on the test segment (fractions, not percent)."""

    confidence_threshold: float = 0.6
    cost: float = 0.001
    slippage: float = 0.0005
    stop_loss: float = 0.03
    take_profit: float = 0.06
    allow_short: bool = False
    initial_capital: float = 100_000.0
    random_runs: int = 200

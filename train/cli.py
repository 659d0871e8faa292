"""`signalpack`: the training-side CLI (train now; export, parity and demo follow)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from score.cli import run_app

app = typer.Typer(
    name="signalpack",
    help="Train the SELL/HOLD/BUY LSTM ensemble (and, later, export it to one ONNX bundle).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """signalpack: training side. The scorer is the separate `score` command."""


@app.command()
def train(
    data: Annotated[Optional[Path], typer.Argument(help="OHLCV CSV/CSV.gz/parquet; default: embedded S&P 500 daily 1999-2018.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file overriding defaults.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory to create (default runs/<UTC timestamp>).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Max epochs per member (model.max_epochs).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (members use seed, seed+1, ...).")] = None,
    horizon: Annotated[Optional[int], typer.Option("--horizon", help="Label horizon in bars (labels.horizon).")] = None,
    label_method: Annotated[Optional[str], typer.Option("--labels", help="forward_return or triple_barrier.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch lines.")] = False,
) -> None:
    """Train the 3-member ensemble and write a run directory."""
    from train.config import load_config
    from train.pipeline import train_run
    from train.report import summary_table

    cfg = load_config(config).with_overrides(
        model__max_epochs=epochs, seed=seed, labels__horizon=horizon, labels__method=label_method
    )
    _console_logging(quiet)
    result = train_run(data, cfg, out)
    typer.echo(summary_table(result.metadata))
    typer.echo(f"run directory: {result.run_dir}  ({result.metadata['seconds']} s)")


def _console_logging(quiet: bool) -> None:
    log = logging.getLogger("signalpack.train")
    log.setLevel(logging.INFO)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) for h in log.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(message)s"))
        h.setLevel(logging.WARNING if quiet else logging.INFO)
        log.addHandler(h)
    log.propagate = False


def main() -> None:
    run_app(app, prog="signalpack")

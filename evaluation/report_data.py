"""Reading a run directory for the report: checked frames and metadata, one clear error per problem."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from signalpack.errors import RunDirError, first_line

__all__ = ["REQUIRED_FILES", "RunData", "read_run"]

REQUIRED_FILES = ("metadata.json", "equity.csv", "predictions.csv", "history.csv")

_DATETIME, _FLOAT, _INT, _STR = "datetime", "float", "int", "str"

_EQUITY = {"timestamp": _DATETIME, "equity": _FLOAT, "buy_and_hold_equity": _FLOAT}
_EQUITY_OPT = {"position": _INT}
_PREDICTIONS = {
    "symbol": _STR, "timestamp": _DATETIME, "label": _STR, "prob_sell": _FLOAT, "prob_hold": _FLOAT,
    "prob_buy": _FLOAT, "signal": _STR, "confidence": _FLOAT,
}
_PREDICTIONS_OPT = {"close": _FLOAT}
_HISTORY = {"member": _INT, "epoch": _INT, "loss": _FLOAT, "accuracy": _FLOAT}
_HISTORY_OPT = {"val_loss": _FLOAT, "val_accuracy": _FLOAT, "learning_rate_initial": _FLOAT, "learning_rate": _FLOAT}
_TRADES = {
    "symbol": _STR, "entry_time": _DATETIME, "exit_time": _DATETIME, "side": _STR, "entry_price": _FLOAT,
    "exit_price": _FLOAT, "pnl": _FLOAT,
}
_TRADES_OPT = {"return_pct": _FLOAT, "exit_reason": _STR, "shares": _FLOAT, "costs": _FLOAT}
_RANDOM = {"total_return": _FLOAT}


def _read_csv(path: Path, required: dict[str, str], optional: dict[str, str] | None = None) -> pl.DataFrame:
    """Read every column as text, check the required ones, then cast (a bad value names its column)."""
    try:
        frame = pl.read_csv(path, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: cannot be read as CSV ({first_line(exc)})") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RunDirError(
            f"{path}: has columns [{', '.join(frame.columns)}]; a report needs [{', '.join(required)}]; "
            f"missing: {', '.join(missing)}"
        )
    kinds = {**{c: k for c, k in (optional or {}).items() if c in frame.columns}, **required}
    for col, kind in kinds.items():
        e = pl.col(col)
        if kind == _DATETIME:
            e = e.str.to_datetime(time_unit="us", strict=True)
        elif kind == _FLOAT:
            e = e.cast(pl.Float64, strict=True)
        elif kind == _INT:
            e = e.cast(pl.Int64, strict=True)
        elif col == "symbol":
            e = e.fill_null("")
        else:
            e = pl.when(e == "").then(None).otherwise(e)
        try:
            frame = frame.with_columns(e.alias(col))
        except pl.exceptions.PolarsError as exc:
            raise RunDirError(f"{path}: column {col} has a value that is not a {kind} ({first_line(exc)})") from exc
    return frame


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({first_line(exc)})") from exc
    if not isinstance(obj, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(obj).__name__}")
    return obj


def _require_keys(path: Path, meta: dict[str, Any]) -> None:
    need = {
        "confidence_threshold": meta, "metrics": meta, "simulation": meta,
        "metrics.ensemble": meta.get("metrics"), "metrics.baselines": meta.get("metrics"),
        "simulation.strategy": meta.get("simulation"), "simulation.buy_and_hold": meta.get("simulation"),
    }
    missing = [k for k, parent in need.items() if not isinstance(parent, dict) or k.rsplit(".", 1)[-1] not in parent]
    if missing:
        raise RunDirError(f"{path}: missing key(s) {', '.join(missing)}; is this a signalpack run directory?")


@dataclass(frozen=True)
class RunData:
    path: Path
    meta: dict[str, Any]
    equity: pl.DataFrame
    predictions: pl.DataFrame
    history: pl.DataFrame
    trades: pl.DataFrame | None  # None: no trades.csv
    random_returns: np.ndarray | None  # None: no random_returns.csv
    fold_equity: dict[int, pl.DataFrame] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.meta["confidence_threshold"])

    @property
    def labelled(self) -> pl.DataFrame:
        return self.predictions.filter(pl.col("label").is_not_null())


def empty_trades() -> pl.DataFrame:
    """A trades frame with no rows (a run directory without trades.csv)."""
    kinds = {_DATETIME: pl.Datetime("us"), _FLOAT: pl.Float64}
    return pl.DataFrame(schema={c: kinds.get(k, pl.String) for c, k in _TRADES.items()})


def read_run(run_dir: Path) -> RunData:
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (no such folder)")
    for name in REQUIRED_FILES:
        if not (run_dir / name).is_file():
            raise RunDirError(f"{run_dir}: missing {name}; is this a complete run directory?")
    meta = _read_json(run_dir / "metadata.json")
    _require_keys(run_dir / "metadata.json", meta)
    trades = random = None
    if (run_dir / "trades.csv").is_file():
        trades = _read_csv(run_dir / "trades.csv", _TRADES, _TRADES_OPT)
    if (run_dir / "random_returns.csv").is_file():
        random = _read_csv(run_dir / "random_returns.csv", _RANDOM).get_column("total_return").to_numpy()
    fold_equity = {}
    for fold in (meta.get("walk_forward") or {}).get("folds") or []:
        path = run_dir / "walk_forward" / f"fold_{fold.get('fold')}" / "equity.csv"
        if path.is_file():
            fold_equity[fold["fold"]] = _read_csv(path, _EQUITY, _EQUITY_OPT).sort("timestamp")
    return RunData(
        path=run_dir,
        meta=meta,
        equity=_read_csv(run_dir / "equity.csv", _EQUITY, _EQUITY_OPT).sort("timestamp"),
        predictions=_read_csv(run_dir / "predictions.csv", _PREDICTIONS, _PREDICTIONS_OPT),
        history=_read_csv(run_dir / "history.csv", _HISTORY, _HISTORY_OPT),
        trades=trades,
        random_returns=random,
        fold_equity=fold_equity,
    )

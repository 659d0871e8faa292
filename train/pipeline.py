"""The training job: data file in, complete run directory out.

load + check → dataset (features, labels, split, scaler, windows) → members →
validation weights → test metrics beside baselines → trading simulation →
run directory, written to a temporary folder and renamed into place at the end,
so an interrupted run never leaves a half-written run directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from score.errors import ConfigError, OutputError
from score.features import default_feature_spec
from score.io import load_ohlcv
from score.windows import build_windows
from train import rundir
from train.config import TrainConfig
from train.dataset import Dataset, build_dataset, class_weights
from train.ensemble import (
    WEIGHT_METRIC,
    ensemble_predict,
    ensemble_weights,
    member_predict,
    train_members,
)
from train.evaluate import baseline_metrics, classification_metrics

__all__ = ["default_data_path", "train_run", "RunResult"]

log = logging.getLogger("signalpack.train")


def default_data_path() -> Path:
    """The embedded S&P 500 daily file (1999–2018) shipped inside the package."""
    return Path(str(resources.files("train") / "data" / "sp500_daily.csv.gz"))


def _creation_time() -> datetime:
    """Now (UTC, whole seconds), or $SOURCE_DATE_EPOCH when set, for byte-reproducible runs and bundles."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except ValueError as exc:
            raise ConfigError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds") from exc
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    metadata: dict[str, Any]


def train_run(
    data_path: Path | None, cfg: TrainConfig, out_dir: Path | None = None,
    runs_root: Path = Path("runs"),
) -> RunResult:
    """Train the ensemble on ``data_path`` (None: the embedded S&P 500) and write a run directory.

    out_dir : the run directory to create (must not exist); default
        ``runs_root/<UTC timestamp>``.
    """
    started = time.monotonic()
    created = _creation_time()
    data_path = Path(data_path) if data_path is not None else default_data_path()
    final = Path(out_dir) if out_dir is not None else runs_root / created.strftime("%Y%m%dT%H%M%SZ")
    if final.exists():
        raise OutputError(f"{final}: run directory already exists; choose another --out")
    if not final.parent.exists() and out_dir is not None:
        raise OutputError(f"{final.parent}: output folder does not exist")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise OutputError(f"{final.parent}: cannot create the run directory ({exc.strerror})") from exc

    handler = logging.FileHandler(tmp / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    log.addHandler(handler)
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)  # the run's log file always gets the full story
    try:
        metadata = _train_into(tmp, data_path, cfg, created)
        metadata["seconds"] = round(time.monotonic() - started, 1)
        rundir.write_json(tmp / "metadata.json", metadata)
        log.removeHandler(handler)
        handler.close()
        tmp.rename(final)
    except BaseException:
        log.removeHandler(handler)
        handler.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunResult(final, metadata)


def _train_into(tmp: Path, data_path: Path, cfg: TrainConfig, created: datetime) -> dict[str, Any]:
    spec = default_feature_spec()
    seq_len = cfg.model.seq_len
    data = load_ohlcv(data_path, min_rows=spec.lookback + seq_len + cfg.labels.horizon)
    log.info("data %s: %d rows, %d symbol(s)", data_path.name, data.rows_read, len(data.symbols))
    for sym, n in data.skipped_short.items():
        log.warning("symbol %r skipped: %d rows, fewer than one window needs", sym, n)
    ds = build_dataset(data.frame, spec, cfg)
    x_tr, y_tr = ds.windows(ds.ends["train"]), ds.labels(ds.ends["train"])
    x_va, y_va = ds.windows(ds.ends["validation"]), ds.labels(ds.ends["validation"])
    y_te = ds.labels(ds.ends["test"])
    cw = class_weights(y_tr)
    log.info(
        "windows: train %d, validation %d, test %d; class weights %s",
        len(y_tr), len(y_va), len(y_te), {k: round(v, 3) for k, v in cw.items()},
    )

    members = train_members(x_tr, y_tr, x_va, y_va, cw, cfg.model, cfg.seed)
    thr = cfg.simulation.confidence_threshold
    val_probs = [member_predict(m.model, x_va) for m in members]
    val_f1 = [classification_metrics(y_va, p, thr)["macro_f1"] for p in val_probs]
    weights = ensemble_weights(val_f1)
    log.info("ensemble weights (%s): %s", WEIGHT_METRIC, [round(w, 4) for w in weights])

    x_all_test = ds.windows(ds.test_ends)
    member_test = [member_predict(m.model, x_all_test) for m in members]
    probs = ensemble_predict(member_test, weights)
    labelled = np.isin(ds.test_ends, ds.ends["test"])
    metrics = {
        "ensemble": classification_metrics(y_te, probs[labelled], thr),
        "members": [classification_metrics(y_te, p[labelled], thr) for p in member_test],
        "baselines": baseline_metrics(y_tr, y_te, thr, cfg.seed),
    }

    from train.simulate import simulate_symbols

    pred_frame = _prediction_frame(ds, probs)
    sim = simulate_symbols(pred_frame, cfg.simulation, cfg.seed)

    for i, m in enumerate(members):
        m.model.save(tmp / rundir.member_file(i))
    rundir.write_npy(tmp / rundir.TEST_WINDOWS, build_windows(ds.x_raw, ds.test_ends, seq_len))
    rundir.write_json(tmp / "scaler.json", ds.scaler.to_dict())
    rundir.write_json(tmp / "feature_spec.json", spec.to_dict())
    rundir.write_json(tmp / "config.json", cfg.to_dict())
    rundir.write_csv(
        tmp / "predictions.csv",
        pred_frame.drop("open", "high", "low", "close", "signal").rename({"signal_name": "signal"}),
    )
    rundir.write_csv(tmp / "trades.csv", sim["trades"])
    rundir.write_csv(tmp / "equity.csv", sim["equity"])
    rundir.write_csv(tmp / "history.csv", rundir.history_frame(members))

    return rundir.build_metadata(
        created=created, data=data, ds=ds, cfg=cfg, class_weights=cw, members=members,
        weights=weights, val_f1=val_f1, metrics=metrics,
        simulation={k: v for k, v in sim.items() if k not in ("trades", "equity")},
    )


def _prediction_frame(ds: Dataset, probs: np.ndarray) -> pl.DataFrame:
    """Per test window: symbol, timestamp, label, probabilities, signal, confidence (+ prices)."""
    from score import CLASS_NAMES

    rows = ds.frame[ds.test_ends]
    names = pl.Series(CLASS_NAMES)
    signal = probs.argmax(axis=1)
    label = rows.get_column("label")
    return rows.select("symbol", "timestamp", "open", "high", "low", "close").with_columns(
        pl.Series("label", [None if v is None else CLASS_NAMES[v] for v in label.to_list()], dtype=pl.String),
        pl.Series("prob_sell", probs[:, 0]),
        pl.Series("prob_hold", probs[:, 1]),
        pl.Series("prob_buy", probs[:, 2]),
        pl.Series("signal", signal.astype(np.int8)),
        pl.Series("signal_name", names.gather(signal)),
        pl.Series("confidence", probs.max(axis=1)),
    )

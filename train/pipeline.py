"""The training job: data file in, complete run directory out.

load + check → dataset (features, labels, split, scaler, windows) → members →
validation weights → test metrics beside baselines → trading simulation →
run directory, written to a temporary folder and renamed into place at the end
(``signalpack.atomic.atomic_dir``), so an interrupted run never leaves a
half-written run directory.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from signalpack.atomic import atomic_dir
from signalpack.errors import ConfigError
from signalpack.evaluation.metrics import baseline_metrics, classification_metrics
from signalpack.score.features import FeatureSpec, default_feature_spec
from signalpack.score.io import load_ohlcv
from signalpack.score.windows import build_windows
from signalpack.train import rundir
from signalpack.train.config import TrainConfig
from signalpack.train.dataset import (
    Dataset,
    bar_windows_at,
    build_dataset,
    class_weights,
    labelled_features,
)
from signalpack.train.ensemble import (
    WEIGHT_METRIC,
    MemberResult,
    ensemble_predict,
    ensemble_weights,
    member_predict,
    train_members,
)
from signalpack.train.split import Cuts, walk_forward_cuts

__all__ = ["PREDICTION_COLUMNS", "WALK_FORWARD_FIGURES", "RunResult", "default_data_path", "train_run"]

PREDICTION_COLUMNS = (
    "symbol", "timestamp", "label", "prob_sell", "prob_hold", "prob_buy", "signal", "confidence", "close",
)

log = logging.getLogger("signalpack.train")


def default_data_path() -> Path:
    """The embedded S&P 500 daily file (1999–2018) shipped inside the package."""
    return Path(str(resources.files("signalpack.train") / "data" / "sp500_daily.csv.gz"))


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
    if out_dir is None:
        final.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(final, hint="choose another --out") as tmp:
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
        finally:
            log.removeHandler(handler)
            handler.close()
    return RunResult(final, metadata)


@dataclass
class Evaluation:
    """One split (the main one or a walk-forward fold) trained and evaluated."""

    ds: Dataset
    members: list[MemberResult]
    class_weights: dict[int, float]
    weights: list[float]
    val_f1: list[float]
    metrics: dict[str, Any]
    predictions: pl.DataFrame
    simulation: dict[str, Any]


def _fit_evaluate(
    feats: pl.DataFrame, spec: FeatureSpec, cfg: TrainConfig, cuts: Cuts | None = None, name: str = ""
) -> Evaluation:
    """Dataset → members → validation weights → test metrics beside baselines → simulation.

    feats : the run's ``labelled_features``, computed once and shared by every split.
    """
    ds = build_dataset(feats, spec, cfg, cuts, name)
    x_tr, y_tr = ds.windows(ds.ends["train"]), ds.labels(ds.ends["train"])
    x_va, y_va = ds.windows(ds.ends["validation"]), ds.labels(ds.ends["validation"])
    y_te = ds.labels(ds.ends["test"])
    cw = class_weights(y_tr)
    log.info(
        "%swindows: train %d, validation %d, test %d; class weights %s", f"{name}: " if name else "",
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

    from signalpack.evaluation.book import simulate_symbols

    pred_frame = _prediction_frame(ds, probs)
    sim = simulate_symbols(pred_frame, cfg.simulation, cfg.seed)
    sim["trials"], sim["sharpe_statistics"] = _sharpe_statistics(ds, sim, member_test, cfg)
    return Evaluation(ds, members, cw, weights, val_f1, metrics, pred_frame, sim)


def _sharpe_statistics(
    ds: Dataset, sim: dict[str, Any], member_test: list[np.ndarray], cfg: TrainConfig
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """PSR and DSR of the ensemble's strategy; the trials are every strategy variant this run
    evaluated on the test segment: the ensemble and each member trading on its own."""
    import dataclasses

    from signalpack.evaluation.book import simulate_symbols
    from signalpack.evaluation.performance import (
        bar_returns,
        bars_per_year,
        per_bar_sharpe,
        sharpe_statistics,
    )

    capital = cfg.simulation.initial_capital
    no_random = dataclasses.replace(cfg.simulation, random_runs=0)
    returns = bar_returns(sim["equity"].get_column("equity").to_numpy(), capital)
    curves = [("ensemble", returns)]
    for i, p in enumerate(member_test):
        equity = simulate_symbols(_prediction_frame(ds, p), no_random, cfg.seed)["equity"]
        curves.append((f"member {i}", bar_returns(equity.get_column("equity").to_numpy(), capital)))
    # a variant that never traded has no Sharpe ratio; among the trials it counts as 0
    trials = [{"name": name, "sharpe_per_bar": per_bar_sharpe(r) or 0.0} for name, r in curves]
    stats = sharpe_statistics(
        returns, [t["sharpe_per_bar"] for t in trials],
        periods_per_year=bars_per_year(sim["equity"].get_column("timestamp").to_numpy()),
    )
    return trials, stats


def _write_evaluation(folder: Path, ev: Evaluation) -> None:
    """The human-readable outputs of one split: predictions, simulation, Monte Carlo, history."""
    rundir.write_csv(
        folder / "predictions.csv",
        ev.predictions.drop("open", "high", "low", "signal").rename({"signal_name": "signal"})
        .select(*PREDICTION_COLUMNS),
    )
    rundir.write_csv(folder / "trades.csv", ev.simulation["trades"])
    rundir.write_csv(folder / "equity.csv", ev.simulation["equity"])
    rundir.write_csv(folder / "random_returns.csv", pl.DataFrame({
        "run": pl.Series(np.arange(len(ev.simulation["random_returns"])), dtype=pl.Int64),
        "total_return": pl.Series(ev.simulation["random_returns"], dtype=pl.Float64),
    }))
    rundir.write_csv(folder / "history.csv", rundir.history_frame(ev.members))


def _simulation_record(sim: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sim.items() if k not in ("trades", "equity", "random_returns")}


def _train_into(tmp: Path, data_path: Path, cfg: TrainConfig, created: datetime) -> dict[str, Any]:
    spec = default_feature_spec()
    seq_len = cfg.model.seq_len
    data = load_ohlcv(data_path, min_rows=spec.lookback + seq_len + cfg.labels.horizon)
    log.info("data %s: %d rows, %d symbol(s)", data_path.name, data.rows_read, len(data.symbols))
    for sym, n in data.skipped_short.items():
        log.warning("symbol %r skipped: %d rows, fewer than one window needs", sym, n)
    feats = labelled_features(data.frame, spec, cfg)  # once: every split below reuses it
    folds = _fold_cuts(feats, spec, cfg)  # checked before any training
    ev = _fit_evaluate(feats, spec, cfg)
    ds = ev.ds

    for i, m in enumerate(ev.members):
        m.model.save(tmp / rundir.member_file(i))
    rundir.write_npy(tmp / rundir.TEST_WINDOWS, build_windows(ds.x_raw, ds.test_ends, seq_len))
    rundir.write_npy(tmp / rundir.TEST_BARS, bar_windows_at(data.frame, ds.frame[ds.test_ends],
                                                            spec.lookback + seq_len))
    rundir.write_json(tmp / "scaler.json", ds.scaler.to_dict())
    rundir.write_json(tmp / "feature_spec.json", spec.to_dict())
    rundir.write_json(tmp / "config.json", cfg.to_dict())
    _write_evaluation(tmp, ev)

    metadata = rundir.build_metadata(
        created=created, data=data, ds=ds, cfg=cfg, class_weights=ev.class_weights, members=ev.members,
        weights=ev.weights, val_f1=ev.val_f1, metrics=ev.metrics, simulation=_simulation_record(ev.simulation),
    )
    if folds:
        metadata["walk_forward"] = _walk_forward(tmp, feats, spec, cfg, folds)
    return metadata


def _fold_cuts(feats: pl.DataFrame, spec: FeatureSpec, cfg: TrainConfig) -> list[Cuts]:
    k = cfg.split.walk_forward
    if not k:
        return []
    labelled = feats.filter(pl.col("label").is_not_null())
    folds = walk_forward_cuts(labelled.get_column("timestamp"), k, cfg.split)
    for i, cuts in enumerate(folds):  # refuse a fold without windows before hours of training
        build_dataset(feats, spec, cfg, cuts, f"walk-forward fold {i + 1}/{k}")
    return folds


def _walk_forward(
    tmp: Path, feats: pl.DataFrame, spec: FeatureSpec, cfg: TrainConfig, folds: list[Cuts]
) -> dict[str, Any]:
    """Train and evaluate every fold; per-fold files under walk_forward/fold_<i>/, figures for metadata."""
    records = []
    for i, cuts in enumerate(folds):
        name = f"walk-forward fold {i + 1}/{len(folds)}"
        log.info("%s: validation from %s, test %s .. %s", name, cuts.validation, cuts.test, cuts.end or "end")
        ev = _fit_evaluate(feats, spec, cfg, cuts, name)
        folder = tmp / "walk_forward" / f"fold_{i}"
        folder.mkdir(parents=True)
        _write_evaluation(folder, ev)
        records.append({
            "fold": i,
            "cuts": {"validation_start": rundir.iso(cuts.validation), "test_start": rundir.iso(cuts.test),
                     "test_end_before": rundir.iso(cuts.end)},
            "segments": rundir.segment_summary(ev.ds),
            "ensemble_weights": ev.weights,
            "metrics": {"ensemble": ev.metrics["ensemble"], "baselines": ev.metrics["baselines"]},
            "simulation": {k: v for k, v in _simulation_record(ev.simulation).items() if k != "per_symbol"},
        })
    return {"k": len(folds), "scheme": "expanding", "folds": records, "aggregate": _aggregate(records)}


WALK_FORWARD_FIGURES = (
    ("ensemble", "metrics.ensemble.accuracy"), ("ensemble", "metrics.ensemble.balanced_accuracy"),
    ("ensemble", "metrics.ensemble.macro_f1"), ("ensemble", "metrics.ensemble.log_loss"),
    ("majority", "metrics.baselines.majority.balanced_accuracy"),
    ("majority", "metrics.baselines.majority.log_loss"),
    ("stratified_random", "metrics.baselines.stratified_random.balanced_accuracy"),
    ("strategy", "simulation.strategy.total_return"), ("strategy", "simulation.strategy.sharpe"),
    ("strategy", "simulation.strategy.max_drawdown"), ("strategy", "simulation.strategy.n_trades"),
    ("buy_and_hold", "simulation.buy_and_hold.total_return"), ("buy_and_hold", "simulation.buy_and_hold.sharpe"),
    ("buy_and_hold", "simulation.buy_and_hold.max_drawdown"),
)


def _aggregate(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and sample std (ddof=1) across folds of each headline figure, with the per-fold values."""
    out = {}
    for who, path in WALK_FORWARD_FIGURES:
        values = []
        for r in records:
            v: Any = r
            for key in path.split("."):
                v = v[key]
            values.append(float(v))
        arr = np.asarray(values)
        out[f"{who}.{path.rsplit('.', 1)[1]}"] = {
            "mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "values": values,
        }
    return out


def _prediction_frame(ds: Dataset, probs: np.ndarray) -> pl.DataFrame:
    """Per test window: symbol, timestamp, label, probabilities, signal, confidence (+ prices)."""
    from signalpack.score.contract import CLASS_NAMES

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

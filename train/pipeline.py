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
from signalpack.evaluation.metrics import classification_metrics
from signalpack.evaluation.verdict import LearningDiagnostics
from signalpack.score.features import FeatureSpec, default_feature_spec
from signalpack.score.io import load_ohlcv
from signalpack.score.windows import build_windows
from signalpack.train import rundir
from signalpack.train.assessment import Assessment, assess
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
    """One split (the main one or a walk-forward fold) trained, evaluated and judged."""

    ds: Dataset
    members: list[MemberResult]
    class_weights: dict[int, float]
    weights: list[float]
    val_f1: list[float]
    judged: Assessment

    @property
    def metrics(self) -> dict[str, Any]:
        return self.judged.metrics

    @property
    def predictions(self) -> pl.DataFrame:
        return self.judged.predictions

    @property
    def simulation(self) -> dict[str, Any]:
        return self.judged.simulation


def _fit_evaluate(
    feats: pl.DataFrame, spec: FeatureSpec, cfg: TrainConfig, cuts: Cuts | None = None, name: str = ""
) -> Evaluation:
    """Dataset → members → validation weights → threshold on validation → test figures beside
    baselines, with intervals → simulation and nulls → verdict (``train.assessment``).

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
    val_probs = [member_predict(m.model, x_va) for m in members]
    val_f1 = [classification_metrics(y_va, p, 0.5)["macro_f1"] for p in val_probs]  # macro-F1 ignores the threshold
    weights = ensemble_weights(val_f1)
    log.info("ensemble weights (%s): %s", WEIGHT_METRIC, [round(w, 4) for w in weights])

    member_test = [member_predict(m.model, ds.windows(ds.test_ends)) for m in members]
    starts = [m.start_val_loss for m in members]
    learning = LearningDiagnostics.from_histories(
        [m.best_epoch for m in members], [m.history for m in members], y_tr, y_va,
        balanced=cfg.model.class_weighting == "balanced",
        start_val_losses=None if None in starts else [float(s) for s in starts if s is not None])
    judged = assess(ds, cfg.simulation, cfg.labels.horizon, cfg.seed, ensemble_predict(val_probs, weights),
                    ensemble_predict(member_test, weights), member_test, learning)
    log.info("%sthreshold %.2f (%s); verdict: model skill %s, strategy skill %s", f"{name}: " if name else "",
             judged.threshold, judged.threshold_record["mode"], judged.verdict.model_skill,
             judged.verdict.strategy_skill)
    return Evaluation(ds, members, cw, weights, val_f1, judged)


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
    nulls = ev.simulation["null_returns"]
    if nulls:
        rundir.write_csv(folder / "nulls.csv", pl.DataFrame({
            "run": pl.Series(np.arange(len(next(iter(nulls.values())))), dtype=pl.Int64),
            **{f"{k}_total_return": pl.Series(v, dtype=pl.Float64) for k, v in nulls.items()},
        }))


def _simulation_record(sim: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sim.items() if k not in ("trades", "equity", "random_returns", "null_returns")}


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
    rundir.write_json(tmp / rundir.DRIFT_REFERENCE, _drift_reference(data.frame, spec.lookback + seq_len, ds))
    rundir.write_json(tmp / "scaler.json", ds.scaler.to_dict())
    rundir.write_json(tmp / "feature_spec.json", spec.to_dict())
    rundir.write_json(tmp / "config.json", cfg.to_dict())
    _write_evaluation(tmp, ev)

    metadata = rundir.build_metadata(
        created=created, data=data, ds=ds, cfg=cfg, class_weights=ev.class_weights, members=ev.members,
        weights=ev.weights, val_f1=ev.val_f1, metrics=ev.metrics, simulation=_simulation_record(ev.simulation),
        judged=ev.judged,
    )
    if folds:
        metadata["walk_forward"] = _walk_forward(tmp, feats, spec, cfg, folds)
    return metadata


def _drift_reference(frame: pl.DataFrame, window_rows: int, ds: Dataset) -> dict[str, Any]:
    """The scorer's drift features over the training segment (every row with a full window before the
    validation cut), for the bundle's ``drift_reference`` (``score.drift``)."""
    from signalpack.score.drift import drift_features_for, frame_values, reference_from_values

    names = drift_features_for(window_rows)
    return reference_from_values(frame_values(frame, window_rows, ds.cuts.validation, names), "train")


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
            "verdict": ev.judged.verdict.to_dict(),
            "threshold": ev.judged.threshold,
            "metrics": {k: ev.metrics[k] for k in ("ensemble", "baselines", "uncertainty")},
            "simulation": {k: v for k, v in _simulation_record(ev.simulation).items() if k != "per_symbol"},
        })
    return {"k": len(folds), "scheme": "expanding", "folds": records, "aggregate": _aggregate(records),
            "skill_count": _skill_count(records)}


def _skill_count(records: list[dict[str, Any]]) -> dict[str, Any]:
    """k of K folds whose verdict shows skill; strategy skill counts only folds that traded."""
    model = sum(bool(r["verdict"]["model_skill"]) for r in records)
    judged = [r for r in records if r["verdict"]["strategy_skill"] is not None]
    strategy = sum(bool(r["verdict"]["strategy_skill"]) for r in judged)
    return {"folds": len(records), "model_skill": model, "strategy_skill": strategy,
            "strategy_judged": len(judged),
            "text": f"model skill in {model} of {len(records)} folds; strategy skill in {strategy} of "
                    f"{len(judged)} folds that traded"}


WALK_FORWARD_FIGURES = (
    ("ensemble", "metrics.ensemble.accuracy"), ("ensemble", "metrics.ensemble.balanced_accuracy"),
    ("ensemble", "metrics.ensemble.macro_f1"), ("ensemble", "metrics.ensemble.log_loss"),
    ("majority", "metrics.baselines.majority.balanced_accuracy"),
    ("majority", "metrics.baselines.majority.log_loss"),
    ("stratified_random", "metrics.baselines.stratified_random.balanced_accuracy"),
    ("volatility_only", "metrics.baselines.volatility_only.balanced_accuracy"),
    ("all_features", "metrics.baselines.all_features.balanced_accuracy"),
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

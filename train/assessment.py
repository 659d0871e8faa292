"""Skill or luck for one split: probabilities in, figures with their no-skill references and a verdict out.

``assess`` takes any model's probabilities on the validation and test windows (the
ensemble's, or, in ``bench/null_check.py``, a logistic regression's treated as if it
were the model) and does, in this order:

1. **Threshold** (``evaluation.threshold``): with ``confidence_threshold = "auto"`` the
   grid is simulated on the validation windows only and the stated rule picks one; a
   fixed number is used as given. Everything after this step uses that one number.
2. **Classification metrics** on the labelled test windows beside four baselines:
   majority class, stratified random (mean over 1,000 draws, not one draw), and the
   logistic regressions on all features and on volatility only (fitted on the training
   windows, ``evaluation.linear_baselines``).
3. **Uncertainty**: one circular block bootstrap (blocks >= the label horizon, within each
   symbol) drawn once and shared, so every interval and every paired difference
   model − baseline is computed on the same resampled windows.
4. **Simulation** of the test segment at the threshold, the strategy nulls
   (exposure-matched random entries, block-permuted signals), PSR against buy-and-hold,
   and the DSR over trials = thresholds tried × strategies (the model and each member).
5. **Verdict** (``evaluation.verdict``).

Nothing here reads the test segment before step 2: the threshold is fixed first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from signalpack.evaluation.book import simulate_symbols
from signalpack.evaluation.bootstrap import (
    StratifiedRandom,
    block_bootstrap,
    difference_intervals,
    intervals_to_dict,
    metric_intervals,
    stratified_random_intervals,
)
from signalpack.evaluation.config import SimConfig
from signalpack.evaluation.linear_baselines import linear_baselines
from signalpack.evaluation.metrics import HEADLINE, baseline_metrics, classification_metrics
from signalpack.evaluation.nulls import book_nulls, sharpe_against_benchmark
from signalpack.evaluation.performance import bar_returns, bars_per_year, per_bar_sharpe, sharpe_statistics
from signalpack.evaluation.threshold import choose_threshold, dsr_trials, evaluate_grid, validation_segment
from signalpack.evaluation.verdict import LearningDiagnostics, StrategyEvidence, Verdict, compute_verdict
from signalpack.score.contract import CLASS_NAMES
from signalpack.train.dataset import Dataset

__all__ = ["BOOTSTRAP_RESAMPLES", "Assessment", "assess", "prediction_frame"]

BOOTSTRAP_RESAMPLES = 1000
STRATIFIED_DRAWS = 1000


@dataclass(frozen=True, eq=False)
class Assessment:
    """Everything one split's judgement produced.

    threshold : the number every simulation and ``share_confident`` used.
    threshold_record : how it was chosen (metadata.json "threshold").
    metrics : {"ensemble", "members", "baselines", "uncertainty"}.
    simulation : the book's figures plus "nulls", "psr_vs_buy_and_hold", "trials",
        "sharpe_statistics"; still holds the frames and arrays (trades, equity, …).
    """

    threshold: float
    threshold_record: dict[str, Any]
    metrics: dict[str, Any]
    predictions: pl.DataFrame
    simulation: dict[str, Any]
    verdict: Verdict
    learning: LearningDiagnostics | None


def prediction_frame(ds: Dataset, ends: np.ndarray, probs: np.ndarray) -> pl.DataFrame:
    """Per window ending at ``ends``: symbol, timestamp, OHLC, label, probabilities, signal, confidence."""
    rows = ds.frame[ends]
    signal = probs.argmax(axis=1)
    label = rows.get_column("label")
    return rows.select("symbol", "timestamp", "open", "high", "low", "close").with_columns(
        pl.Series("label", [None if v is None else CLASS_NAMES[v] for v in label.to_list()], dtype=pl.String),
        pl.Series("prob_sell", probs[:, 0]),
        pl.Series("prob_hold", probs[:, 1]),
        pl.Series("prob_buy", probs[:, 2]),
        pl.Series("signal", signal.astype(np.int8)),
        pl.Series("signal_name", pl.Series(CLASS_NAMES).gather(signal)),
        pl.Series("confidence", probs.max(axis=1)),
    )


def _choose(ds: Dataset, val_probs: np.ndarray, cfg: SimConfig, seed: int) -> tuple[float, dict[str, Any], int]:
    """(threshold, record, thresholds tried) — from the validation windows only."""
    if not cfg.auto_threshold:
        thr = cfg.threshold()
        return thr, {"mode": "fixed", "threshold": thr, "thresholds_tried": 1}, 1
    frame = prediction_frame(ds, ds.ends["validation"], val_probs)
    segment = validation_segment(frame, np.ones(frame.height, dtype=bool))
    choice = choose_threshold(evaluate_grid(segment, cfg.threshold_grid, cfg, seed), cfg.threshold_min_trades)
    return choice.threshold, {"mode": "auto", **choice.to_dict(), "thresholds_tried": len(choice.grid)}, len(
        choice.grid)


def _prior(y_train: np.ndarray, n: int) -> np.ndarray:
    f = np.bincount(y_train, minlength=3)[:3] / len(y_train)
    return np.tile(f, (n, 1))


def _headline(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in HEADLINE}


def assess(
    ds: Dataset,
    cfg_sim: SimConfig,
    horizon: int,
    seed: int,
    val_probs: np.ndarray,
    test_probs: np.ndarray,
    member_test_probs: Sequence[np.ndarray] = (),
    learning: LearningDiagnostics | None = None,
) -> Assessment:
    """Judge one model on one split (module doc).

    val_probs : (len(ds.ends["validation"]), 3). test_probs : (len(ds.test_ends), 3), every
    test window, labelled or not. member_test_probs : the other strategy variants that
    count as DSR trials (the members). learning : None when the model has no training
    history (a logistic regression), which skips that rule.
    """
    thr, thr_record, n_thresholds = _choose(ds, val_probs, cfg_sim, seed)
    sim_cfg = dataclasses.replace(cfg_sim, confidence_threshold=thr)

    y_tr = ds.labels(ds.ends["train"])
    y_te = ds.labels(ds.ends["test"])
    labelled = np.isin(ds.test_ends, ds.ends["test"])
    probs = test_probs[labelled]
    linear = linear_baselines(
        ds.x_raw[ds.ends["train"]], y_tr, ds.x_raw[ds.ends["test"]], ds.spec.names
    )
    majority = _prior(y_tr, len(y_te))
    stratified = StratifiedRandom.from_labels(y_tr, seed)
    baselines = baseline_metrics(y_tr, y_te, thr, seed)
    strat_draws = stratified_random_intervals(y_te, stratified, STRATIFIED_DRAWS)
    baselines["stratified_random"].update({k: strat_draws[k].estimate for k in HEADLINE})
    baselines["stratified_random"]["draws"] = STRATIFIED_DRAWS
    baselines["all_features"] = classification_metrics(y_te, linear.all_features, thr)
    baselines["volatility_only"] = classification_metrics(y_te, linear.volatility_only, thr)

    symbols = ds.frame.get_column("symbol").to_numpy()[ds.ends["test"]]
    _, groups = np.unique(symbols, return_inverse=True)
    plan = block_bootstrap(len(y_te), horizon, BOOTSTRAP_RESAMPLES, seed, groups=groups)
    fixed = {"majority": majority, "all_features": linear.all_features, "volatility_only": linear.volatility_only}
    differences = {name: difference_intervals(plan, y_te, probs, p) for name, p in fixed.items()}
    differences["stratified_random"] = difference_intervals(plan, y_te, probs, stratified)
    uncertainty = {
        "bootstrap": plan.describe(),
        "model": intervals_to_dict(metric_intervals(plan, y_te, probs)),
        "baselines": {
            **{name: intervals_to_dict(metric_intervals(plan, y_te, p)) for name, p in fixed.items()},
            "stratified_random": {**intervals_to_dict(strat_draws), "over": f"{STRATIFIED_DRAWS} draws"},
        },
        "differences": {name: intervals_to_dict(d) for name, d in differences.items()},
    }
    metrics = {
        "ensemble": classification_metrics(y_te, probs, thr),
        "members": [classification_metrics(y_te, p[labelled], thr) for p in member_test_probs],
        "baselines": baselines,
        "linear_baselines": linear.describe(),
        "uncertainty": uncertainty,
    }

    frame = prediction_frame(ds, ds.test_ends, test_probs)
    sim = simulate_symbols(frame, sim_cfg, seed)
    strategy = sim["strategy"]
    n_trades = int(strategy["n_trades"])
    equity = sim["equity"]
    capital = sim_cfg.initial_capital
    returns = bar_returns(equity.get_column("equity").to_numpy(), capital)
    bh_returns = bar_returns(equity.get_column("buy_and_hold_equity").to_numpy(), capital)
    vs_bh = sharpe_against_benchmark(returns, bh_returns)
    nulls: dict[str, Any] = {}
    if n_trades and sim_cfg.null_runs:
        nulls = book_nulls(frame, sim["trades"], float(strategy["total_return"]), sim_cfg, horizon,
                           sim_cfg.null_runs, seed)
    sim["nulls"] = {k: v for k, v in nulls.items() if not k.endswith("_returns")}
    sim["null_returns"] = {k.removesuffix("_returns"): v for k, v in nulls.items() if k.endswith("_returns")}
    sim["psr_vs_buy_and_hold"] = vs_bh
    sim["trials"], sim["sharpe_statistics"] = _trials(ds, frame, [test_probs, *member_test_probs], sim_cfg,
                                                      thr_record, n_thresholds, returns, equity, seed)

    evidence = StrategyEvidence(
        n_trades=n_trades,
        exposure_matched_p=nulls.get("exposure_matched", {}).get("p_value"),
        block_permuted_p=nulls.get("block_permuted", {}).get("p_value"),
        psr_vs_buy_and_hold=vs_bh["psr_vs_benchmark"],  # type: ignore[arg-type]
        buy_and_hold_psr=vs_bh["benchmark_psr"],  # type: ignore[arg-type]
    )
    verdict = compute_verdict(differences, learning, evidence)
    return Assessment(thr, thr_record, metrics, frame, sim, verdict, learning)


def _trials(
    ds: Dataset, frame: pl.DataFrame, strategies: list[np.ndarray], cfg: SimConfig, thr_record: dict[str, Any],
    n_thresholds: int, returns: np.ndarray, equity: pl.DataFrame, seed: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every strategy variant tried: each threshold tried × each strategy (the model, then each member),
    simulated on the test segment for the DSR's trial count and trial-Sharpe variance."""
    thresholds = [p["threshold"] for p in thr_record["grid"]] if thr_record["mode"] == "auto" else [
        thr_record["threshold"]]
    no_random = dataclasses.replace(cfg, random_runs=0)
    trials = []
    for s, probs in enumerate(strategies):
        f = frame if s == 0 else prediction_frame(ds, ds.test_ends, probs)
        for t in thresholds:
            run = simulate_symbols(f, dataclasses.replace(no_random, confidence_threshold=t), seed)
            r = bar_returns(run["equity"].get_column("equity").to_numpy(), cfg.initial_capital)
            # a variant that never traded has no Sharpe ratio; among the trials it counts as 0
            trials.append({"name": "model" if s == 0 else f"member {s - 1}", "threshold": t,
                           "sharpe_per_bar": per_bar_sharpe(r) or 0.0})
    assert len(trials) == dsr_trials(n_thresholds, len(strategies))
    stats = sharpe_statistics(returns, [t["sharpe_per_bar"] for t in trials],
                              periods_per_year=bars_per_year(equity.get_column("timestamp").to_numpy()))
    return trials, stats

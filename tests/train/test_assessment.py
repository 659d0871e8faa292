"""train.assessment: the threshold is chosen on validation only; trials and verdict follow the config.

These run ``assess`` on the real S&P 500 dataset with a logistic regression's probabilities
standing in for the model (no TensorFlow), as ``bench/null_check.py`` does.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from signalpack.evaluation.linear_baselines import fit_predict_logistic
from signalpack.score.features import default_feature_spec
from signalpack.score.io import load_ohlcv
from signalpack.train.assessment import assess
from signalpack.train.config import TrainConfig
from signalpack.train.dataset import Dataset, build_dataset, labelled_features
from tests.conftest import SP500

CFG = TrainConfig().with_overrides(simulation__null_runs=30, simulation__random_runs=5)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    spec = default_feature_spec()
    data = load_ohlcv(SP500, min_rows=100)
    return build_dataset(labelled_features(data.frame, spec, CFG), spec, CFG)


def _probs(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression fitted on the training windows: validation and test probabilities."""
    tr = ds.ends["train"]
    both = fit_predict_logistic(ds.x_raw[tr], ds.labels(tr),
                                np.concatenate([ds.x_raw[ds.ends["validation"]], ds.x_raw[ds.test_ends]]))
    n_val = len(ds.ends["validation"])
    return both[:n_val], both[n_val:]


def _perturb_test(ds: Dataset, seed: int) -> Dataset:
    """Every test-segment price moved by a random factor (same within a bar, so bars stay valid)."""
    is_test = ds.frame.get_column("segment") == 2
    factor = pl.Series(np.random.default_rng(seed).uniform(0.5, 2.0, ds.frame.height))
    frame = ds.frame.with_columns(
        pl.when(is_test).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")
    )
    return dataclasses.replace(ds, frame=frame)


def test_perturbing_test_prices_leaves_the_chosen_threshold_unchanged(dataset):
    val_probs, test_probs = _probs(dataset)
    a = assess(dataset, CFG.simulation, CFG.labels.horizon, CFG.seed, val_probs, test_probs)
    b = assess(_perturb_test(dataset, 1), CFG.simulation, CFG.labels.horizon, CFG.seed, val_probs, test_probs)
    assert a.threshold_record["mode"] == "auto"
    assert a.threshold_record == b.threshold_record  # the whole grid, figure for figure
    assert a.threshold == b.threshold
    # the perturbation reached the test simulation, so the equality above is not vacuous
    assert a.simulation["buy_and_hold"]["total_return"] != b.simulation["buy_and_hold"]["total_return"]


@pytest.mark.slow
def test_perturbing_validation_prices_can_change_the_grid(dataset):
    """The converse: the grid does read validation prices (the test above could not pass by ignoring prices)."""
    val_probs, test_probs = _probs(dataset)
    a = assess(dataset, CFG.simulation, CFG.labels.horizon, CFG.seed, val_probs, test_probs)
    is_val = dataset.frame.get_column("segment") == 1
    factor = pl.Series(np.random.default_rng(2).uniform(0.5, 2.0, dataset.frame.height))
    frame = dataset.frame.with_columns(
        pl.when(is_val).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")
    )
    b = assess(dataclasses.replace(dataset, frame=frame), CFG.simulation, CFG.labels.horizon, CFG.seed,
               val_probs, test_probs)
    assert [p["total_return"] for p in a.threshold_record["grid"]] != [
        p["total_return"] for p in b.threshold_record["grid"]]


@pytest.mark.slow
def test_trials_are_thresholds_times_strategies(dataset):
    val_probs, test_probs = _probs(dataset)
    members = [test_probs[:, [1, 0, 2]], test_probs[:, [2, 1, 0]]]  # two stand-in "members"
    auto = assess(dataset, CFG.simulation, CFG.labels.horizon, CFG.seed, val_probs, test_probs, members)
    grid = len(CFG.simulation.threshold_grid)
    assert auto.simulation["sharpe_statistics"]["n_trials"] == grid * 3 == len(auto.simulation["trials"])
    fixed_cfg = dataclasses.replace(CFG.simulation, confidence_threshold=0.6)
    fixed = assess(dataset, fixed_cfg, CFG.labels.horizon, CFG.seed, val_probs, test_probs, members)
    assert fixed.threshold == 0.6 and fixed.threshold_record == {"mode": "fixed", "threshold": 0.6,
                                                                 "thresholds_tried": 1}
    assert fixed.simulation["sharpe_statistics"]["n_trials"] == 3  # its own trial count
    assert {t["threshold"] for t in fixed.simulation["trials"]} == {0.6}


@pytest.mark.slow
def test_every_figure_has_its_references_and_intervals(dataset):
    val_probs, test_probs = _probs(dataset)
    a = assess(dataset, CFG.simulation, CFG.labels.horizon, CFG.seed, val_probs, test_probs)
    refs = {"majority", "stratified_random", "all_features", "volatility_only"}
    assert set(a.metrics["baselines"]) == refs
    assert set(a.metrics["uncertainty"]["differences"]) == refs
    # the model *is* the all-features regression here: the paired difference is exactly 0
    d = a.metrics["uncertainty"]["differences"]["all_features"]["balanced_accuracy"]
    assert d == {"estimate": 0.0, "low": 0.0, "high": 0.0}
    assert a.verdict.linear_model_does_as_well is True
    iv = a.metrics["uncertainty"]["model"]["balanced_accuracy"]
    assert iv["low"] < iv["estimate"] < iv["high"]
    assert a.metrics["baselines"]["stratified_random"]["draws"] == 1000
    assert a.metrics["uncertainty"]["bootstrap"]["block_length"] >= CFG.labels.horizon
    if a.simulation["strategy"]["n_trades"]:
        assert {"exposure_matched", "block_permuted"} <= set(a.simulation["nulls"])
        assert a.verdict.strategy_skill is not None
    assert a.simulation["psr_vs_buy_and_hold"]["benchmark_psr"] is not None
    assert a.learning is None  # a logistic regression has no training history: that rule is skipped
    assert not any("class prior" in r for r in a.verdict.reasons)

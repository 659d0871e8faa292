"""Tests of evaluation.verdict: each rule on constructed figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from signalpack.evaluation.bootstrap import Interval
from signalpack.evaluation.metrics import baseline_metrics
from signalpack.evaluation.verdict import (
    LINEAR_DOES_AS_WELL,
    LOGISTIC_START,
    MODEL_METRIC,
    NOT_LEARNED,
    NOTHING_ADDED,
    LearningDiagnostics,
    StrategyEvidence,
    class_prior_log_loss,
    compute_verdict,
)

ABOVE = Interval(0.05, 0.02, 0.08)  # model − reference: clear of 0 on the good side
STRADDLES = Interval(0.01, -0.01, 0.03)
BELOW = Interval(-0.05, -0.08, -0.02)

LEARNED = LearningDiagnostics(best_epochs=(12, 9, 17), best_val_loss=1.05, prior_val_loss=1.09)
TRADES = StrategyEvidence(n_trades=31, exposure_matched_p=0.01, block_permuted_p=0.02,
                          psr_vs_buy_and_hold=0.97, buy_and_hold_psr=0.8)


def _diffs(**override: Interval | None) -> dict[str, dict[str, Interval]]:
    refs = {"majority": ABOVE, "stratified_random": ABOVE, "volatility_only": ABOVE, "all_features": ABOVE}
    refs.update(override)
    return {k: {MODEL_METRIC: v} for k, v in refs.items() if v is not None}


def test_everything_passes():
    v = compute_verdict(_diffs(), LEARNED, TRADES)
    assert (v.model_skill, v.strategy_skill, v.reasons) == (True, True, ())
    assert v.linear_model_does_as_well is False
    assert v.metric == "balanced_accuracy"
    d = v.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["model_skill"] is True and d["strategy_skill"] is True and d["reasons"] == []


@pytest.mark.parametrize(("ref", "words"), [
    ("majority", "majority-class"),
    ("stratified_random", "stratified-random"),
    ("volatility_only", "volatility-only"),
])
@pytest.mark.parametrize("interval", [STRADDLES, BELOW])
def test_each_no_direction_reference_must_be_beaten(ref, words, interval):
    v = compute_verdict(_diffs(**{ref: interval}), LEARNED, TRADES)
    assert v.model_skill is False and v.strategy_skill is True
    (reason,) = v.reasons
    assert words in reason and "does not beat" in reason and "95% interval" in reason


def test_a_missing_reference_fails():
    v = compute_verdict(_diffs(volatility_only=None), LEARNED, TRADES)
    assert v.model_skill is False
    assert v.reasons == ("balanced accuracy: no model − volatility-only logistic regression interval was computed",)


def test_reason_shows_the_interval_in_points():
    v = compute_verdict(_diffs(volatility_only=Interval(0.008, -0.019, 0.034)), LEARNED, TRADES)
    assert "+0.80 points, 95% interval [-1.90, +3.40]" in v.reasons[0]


def test_best_epochs_at_most_two_mean_the_model_did_not_learn():
    early = LearningDiagnostics(best_epochs=(1, 2, 1), best_val_loss=1.05, prior_val_loss=1.09)
    v = compute_verdict(_diffs(), early, TRADES)
    assert v.model_skill is False
    (reason,) = v.reasons
    assert reason.startswith(NOT_LEARNED) and "best epochs: 1, 2, 1" in reason
    one_late = LearningDiagnostics(best_epochs=(1, 3, 1), best_val_loss=1.05, prior_val_loss=1.09)
    assert compute_verdict(_diffs(), one_late, TRADES).model_skill is True


@pytest.mark.parametrize("best", [1.09, 1.2, None])
def test_validation_loss_must_beat_the_class_prior(best):
    d = LearningDiagnostics(best_epochs=(10, 11, 12), best_val_loss=best, prior_val_loss=1.09)
    v = compute_verdict(_diffs(), d, TRADES)
    assert v.model_skill is False
    assert [r for r in v.reasons if r.startswith(NOT_LEARNED)] == list(v.reasons) and len(v.reasons) == 1
    assert not d.to_dict()["learned"]


def test_no_trades_gives_strategy_skill_null():
    v = compute_verdict(_diffs(), LEARNED, StrategyEvidence(0, None, None, None))
    assert v.strategy_skill is None and v.model_skill is True
    assert v.reasons == ("the strategy did not trade, so there is no strategy to judge",)
    assert v.to_dict()["strategy_skill"] is None


@pytest.mark.parametrize(("change", "words"), [
    ({"exposure_matched_p": 0.21}, "exposure-matched random entries at 95% (p = 0.210)"),
    ({"block_permuted_p": 0.06}, "block-permuted signals at 95% (p = 0.060)"),
    ({"exposure_matched_p": None}, "not compared with exposure-matched random entries"),
    ({"block_permuted_p": None}, "not compared with its own block-permuted signals"),
    ({"psr_vs_buy_and_hold": 0.62}, "PSR against buy-and-hold's Sharpe is 0.620, below 0.95"),
    ({"psr_vs_buy_and_hold": None}, "PSR against buy-and-hold is undefined"),
])
def test_each_strategy_rule_triggers_its_reason(change, words):
    evidence = StrategyEvidence(**{**TRADES.to_dict(), **change})
    v = compute_verdict(_diffs(), LEARNED, evidence)
    assert v.strategy_skill is False and v.model_skill is True
    (reason,) = v.reasons
    assert words in reason


def test_boundaries_of_the_strategy_rules_are_inclusive():
    edge = StrategyEvidence(5, exposure_matched_p=0.05, block_permuted_p=0.05, psr_vs_buy_and_hold=0.95)
    assert compute_verdict(_diffs(), LEARNED, edge).strategy_skill is True


def test_every_failure_is_listed():
    early = LearningDiagnostics(best_epochs=(1, 1, 1), best_val_loss=1.2, prior_val_loss=1.09)
    bad = StrategyEvidence(3, 0.5, 0.5, 0.1)
    v = compute_verdict(_diffs(majority=BELOW, stratified_random=BELOW, volatility_only=BELOW), early, bad)
    assert (v.model_skill, v.strategy_skill) == (False, False)
    assert len(v.reasons) == 2 + 3 + 3


def test_linear_model_remark_beside_the_verdict():
    as_well = compute_verdict(_diffs(all_features=STRADDLES), LEARNED, TRADES)
    assert as_well.linear_model_does_as_well is True and as_well.model_skill is True  # not a rule
    assert as_well.remarks[0].startswith(LINEAR_DOES_AS_WELL) and as_well.reasons == ()
    assert compute_verdict(_diffs(all_features=None), LEARNED, TRADES).linear_model_does_as_well is None


def test_log_loss_as_metric_flips_the_direction():
    diffs = {k: {"log_loss": Interval(-0.03, -0.05, -0.01)} for k in
             ("majority", "stratified_random", "volatility_only")}
    assert compute_verdict(diffs, LEARNED, TRADES, metric="log_loss").model_skill is True
    diffs["volatility_only"] = {"log_loss": Interval(0.03, 0.01, 0.05)}
    v = compute_verdict(diffs, LEARNED, TRADES, metric="log_loss")
    assert v.model_skill is False and "+0.0300, 95% interval [+0.0100, +0.0500]" in v.reasons[0]
    with pytest.raises(ValueError, match="unknown metric"):
        compute_verdict(diffs, LEARNED, TRADES, metric="sharpe")


def test_class_prior_log_loss():
    assert class_prior_log_loss(np.array([0, 1, 1, 2]), np.array([1, 1])) == pytest.approx(math.log(2))
    assert class_prior_log_loss(np.array([0, 1, 1, 2]), np.array([0, 2])) == pytest.approx(math.log(4))
    rng = np.random.default_rng(0)
    y_tr, y_va = rng.choice(3, 500, p=[0.3, 0.4, 0.3]), rng.choice(3, 200, p=[0.3, 0.4, 0.3])
    majority = baseline_metrics(y_tr, y_va, 0.6, seed=0)["majority"]["log_loss"]
    assert class_prior_log_loss(y_tr, y_va) == pytest.approx(majority, rel=1e-9)  # the majority baseline's


def test_learning_diagnostics_from_member_histories():
    histories = [
        [{"epoch": 1, "val_loss": 1.10}, {"epoch": 2, "val_loss": 1.07}, {"epoch": 3, "val_loss": 1.08}],
        [{"epoch": 1, "val_loss": 1.09}, {"epoch": 2, "val_loss": float("nan")}],
    ]
    y_tr = np.array([0, 1, 1, 2])
    d = LearningDiagnostics.from_histories([2, 1], histories, y_tr, np.array([1, 1, 0, 2]))
    assert d.best_epochs == (2, 1) and d.best_val_loss == 1.07
    assert d.prior_val_loss == pytest.approx(class_prior_log_loss(y_tr, np.array([1, 1, 0, 2])))
    assert d.failures()[0].startswith(NOT_LEARNED)  # best epochs 2 and 1
    assert LearningDiagnostics.from_histories([3], [[]], y_tr, y_tr).best_val_loss is None


def test_members_that_start_as_a_logistic_regression_skip_the_best_epoch_rule():
    """A residual member's epoch 0 is a fitted regression: keeping it is not "learned nothing",
    and the verdict says plainly whether the LSTM path moved any member past it."""
    kept = LearningDiagnostics(best_epochs=(0, 1, 0), best_val_loss=1.05, prior_val_loss=1.09, start=LOGISTIC_START)
    v = compute_verdict(_diffs(), kept, TRADES)
    assert (v.model_skill, v.reasons) == (True, ())
    assert "1 of 3 members moved past their starting logistic regression" in v.remarks[0]
    none_moved = LearningDiagnostics(best_epochs=(0, 0, 0), best_val_loss=1.05, prior_val_loss=1.09,
                                     start=LOGISTIC_START)
    v = compute_verdict(_diffs(), none_moved, TRADES)
    assert v.model_skill is True and v.remarks[0].startswith(NOTHING_ADDED)
    # the validation-loss half still holds: a start no better than the prior has learned nothing
    worse = LearningDiagnostics(best_epochs=(0, 0, 0), best_val_loss=1.10, prior_val_loss=1.09, start=LOGISTIC_START)
    v = compute_verdict(_diffs(), worse, TRADES)
    assert v.model_skill is False and v.reasons[0].startswith(NOT_LEARNED)
    # random starts keep the rule and get no remark
    assert compute_verdict(_diffs(), LEARNED, TRADES).remarks[:1] != [NOTHING_ADDED]
    assert not LEARNED.remarks() and LEARNED.to_dict()["start"] == "random weights"


def test_start_losses_count_among_the_validation_losses():
    histories = [[{"epoch": 1, "val_loss": 1.10}], [{"epoch": 1, "val_loss": 1.12}]]
    y = np.array([0, 1, 1, 2])
    d = LearningDiagnostics.from_histories([0, 0], histories, y, y, balanced=True, start_val_losses=[1.08, 1.09])
    assert (d.best_val_loss, d.start, d.to_dict()["start"]) == (1.08, LOGISTIC_START, "logistic regression")
    assert d.failures() == []  # 1.08 < ln 3, the uniform prior's loss

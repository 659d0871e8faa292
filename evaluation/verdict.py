"""Skill or luck: a machine-readable verdict from figures the run has already computed.

``compute_verdict`` is a pure function: bootstrap intervals of model − baseline,
learning diagnostics, null p-values and PSRs in, ``Verdict`` out. It computes nothing
statistical itself, so the same figures always give the same verdict, and the rules
below can be tested on constructed cases.

model_skill (true | false)
    True only when (1) the model learned something beyond the class prior and (2) it
    beats **every** no-direction reference: majority class, stratified random and the
    volatility-only logistic regression, each by a margin (model − reference, paired
    block bootstrap) whose 95 % interval lies entirely above 0.

    (1) fails when every member's best epoch is <= 2 (early stopping restored
    weights from the first epochs: the members barely moved from their start), or when
    no member's validation loss at any epoch beat the class prior's log loss on the
    validation labels (``class_prior_log_loss``); the reason reads "the model did not
    learn beyond the class prior".

    The best-epoch half assumes members that start from random weights, whose first
    epochs learn little more than the prior. A member with a residual wide path
    (``linear_skip_mode = "residual"``) starts as a logistic regression fitted on the
    training windows, and its start competes as epoch 0: staying near it is not "learned
    nothing". For such members (1) is the validation-loss half alone, with the start's
    validation loss among the candidates, and the remarks say how many members moved
    past their start (none: the LSTM path added nothing the validation loss could see).

    Which prior: the one the members are trained towards. With balanced class weights
    (the default) the weighted loss of a constant prediction is lowest at the *uniform*
    distribution over the training classes, so a member that learned nothing converges
    to 1/3 each, whose validation log loss is ln 3 whatever the class frequencies. The
    frequency prior (what the majority baseline predicts) scores lower than that on
    imbalanced labels without knowing anything more; a weighted model that is pulled
    away from it on purpose would fail against it by construction. Both losses are
    recorded (``prior_val_loss``, ``frequency_prior_val_loss``); the rule uses the first.

    The metric is **balanced accuracy** (``MODEL_METRIC``), not log loss:

    * Log loss cannot rank these references fairly. The stratified-random baseline's
      probabilities are one-hot, so every miss costs ~16 nats: any model beats it and
      the test would be empty. And the members are trained with balanced class weights,
      which pull their probabilities towards 1/3 each, while the majority baseline
      predicts the true training frequencies: on log loss a model can lose to the
      class prior through that deliberate miscalibration alone, whatever it knows.
      (Whether the members beat the prior's log loss is still checked, as a learning
      diagnostic in (1), where the question is "did training move at all".)
    * Balanced accuracy is the quantity the balanced weighting optimises, and every
      reference has a meaningful value on it: majority exactly 1/3, stratified random
      ≈ 1/3, and volatility-only what volatility alone buys. The volatility-only model
      (fitted with the same balanced weighting) sorts HOLD from move but has no
      direction, so its SELL/BUY recall is a coin split; a margin above it whose interval
      clears 0 needs direction (or much better HOLD-vs-move sorting than volatility gives).

strategy_skill (true | false | null)
    Null when the strategy did not trade (nothing to judge). Otherwise true only when
    the strategy beats **both** nulls at 95 % (one-sided p <= 0.05 against the
    exposure-matched random entries and against its block-permuted signals, see
    ``nulls``) **and** its PSR against buy-and-hold's Sharpe is >= 0.95.

reasons
    Every rule that failed, in words (empty when both verdicts are true).

linear_model_does_as_well (true | false | null), beside the verdict
    Whether the all-features logistic regression is not beaten: true when the 95 %
    interval of model − linear on the same metric does not lie above 0 ("a linear model
    does as well"); null when that baseline was not computed. It does not change
    ``model_skill``: a model can have skill that a linear model also has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from signalpack.evaluation.bootstrap import HIGHER_IS_BETTER, Interval
from signalpack.score.contract import N_CLASSES

__all__ = [
    "LINEAR_REFERENCE",
    "LOGISTIC_START",
    "MODEL_METRIC",
    "NO_DIRECTION_REFERENCES",
    "NOTHING_ADDED",
    "RANDOM_START",
    "LearningDiagnostics",
    "StrategyEvidence",
    "Verdict",
    "class_prior_log_loss",
    "compute_verdict",
]

MODEL_METRIC = "balanced_accuracy"
NO_DIRECTION_REFERENCES: tuple[str, ...] = ("majority", "stratified_random", "volatility_only")
LINEAR_REFERENCE = "all_features"
MAX_UNLEARNED_EPOCH = 2  # every member's best epoch <= this: the model did not learn
SIGNIFICANCE = 0.05  # a null is beaten at 95 % when p <= this
PSR_LEVEL = 0.95  # PSR against buy-and-hold must reach this
NOT_LEARNED = "the model did not learn beyond the class prior"
LINEAR_DOES_AS_WELL = "a linear model does as well"
RANDOM_START = "random weights"
LOGISTIC_START = "logistic regression"
NOTHING_ADDED = ("every member kept its starting logistic regression: the LSTM path added nothing "
                 "the validation loss could see")

_NAMES = {
    "majority": "majority-class",
    "stratified_random": "stratified-random",
    "volatility_only": "volatility-only logistic regression",
    "all_features": "all-features logistic regression",
}
_METRIC_NAMES = {
    "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1", "log_loss": "log loss",
}
_EPS = 1e-7  # the probability clip of metrics.classification_metrics


def class_prior_log_loss(y_train: np.ndarray, y_eval: np.ndarray, balanced: bool = False) -> float:
    """Log loss on ``y_eval`` of always predicting the training class frequencies (clipped and
    renormalised as in ``metrics.classification_metrics``): the loss a model that learned
    nothing but the prior gets. ``balanced``: the prior under balanced class weights instead,
    uniform over the classes present in training (module doc)."""
    tr = np.asarray(y_train, dtype=np.int64)
    ev = np.asarray(y_eval, dtype=np.int64)
    if tr.size == 0 or ev.size == 0:
        raise ValueError("class_prior_log_loss needs training and evaluation labels")
    counts = np.bincount(tr, minlength=N_CLASSES)[:N_CLASSES]
    freq = (counts > 0) / np.count_nonzero(counts) if balanced else counts / tr.size
    prior = np.clip(freq, _EPS, 1.0)
    prior /= prior.sum()
    return float(-np.log(prior[ev]).mean())


@dataclass(frozen=True)
class LearningDiagnostics:
    """Did training move beyond the class prior?

    best_epochs : each member's best (restored) epoch, counted from 1; 0 is the member's start,
        kept (only for members that start as a fitted model, ``start``).
    best_val_loss : the lowest validation loss of any member at any epoch, its start included
        (None: none recorded).
    prior_val_loss : ``class_prior_log_loss(y_train, y_validation, balanced)``: the prior
        the members are trained towards (the rule's reference).
    frequency_prior_val_loss : the frequency prior's (the majority baseline's), reported.
    start : what the members start as: "random weights", or "logistic regression" (a residual
        wide path, module doc), which skips the best-epoch half of rule (1).
    """

    best_epochs: tuple[int, ...]
    best_val_loss: float | None
    prior_val_loss: float
    frequency_prior_val_loss: float | None = None
    prior: str = "class frequencies"
    start: str = RANDOM_START

    @classmethod
    def from_histories(
        cls,
        best_epochs: Sequence[int],
        histories: Sequence[Sequence[Mapping[str, float]]],
        y_train: np.ndarray,
        y_validation: np.ndarray,
        balanced: bool = False,
        start_val_losses: Sequence[float] | None = None,
    ) -> LearningDiagnostics:
        """From each member's per-epoch rows (with ``val_loss``, as ``MemberResult.history``).
        balanced : the members were trained with balanced class weights (module doc).
        start_val_losses : members that start as a fitted logistic regression: each one's
            validation loss before training (its epoch 0). None: random starts."""
        losses = [float(r["val_loss"]) for h in histories for r in h if "val_loss" in r]
        losses += [float(v) for v in start_val_losses or ()]
        finite = [v for v in losses if math.isfinite(v)]
        return cls(
            tuple(int(e) for e in best_epochs),
            min(finite) if finite else None,
            class_prior_log_loss(y_train, y_validation, balanced),
            class_prior_log_loss(y_train, y_validation),
            "uniform (balanced class weights)" if balanced else "class frequencies",
            RANDOM_START if start_val_losses is None else LOGISTIC_START,
        )

    def failures(self) -> list[str]:
        """Why the model did not learn beyond the class prior (empty: it did)."""
        out = []
        if self.start == RANDOM_START and (not self.best_epochs or max(self.best_epochs) <= MAX_UNLEARNED_EPOCH):
            epochs = ", ".join(str(e) for e in self.best_epochs) or "none"
            out.append(f"{NOT_LEARNED}: every member's best epoch is <= {MAX_UNLEARNED_EPOCH} (best epochs: {epochs})")
        if self.best_val_loss is None:
            out.append(f"{NOT_LEARNED}: no member recorded a validation loss")
        elif not self.best_val_loss < self.prior_val_loss:
            out.append(
                f"{NOT_LEARNED}: no member's validation loss beat the class prior's "
                f"(best {self.best_val_loss:.4f} vs {self.prior_val_loss:.4f} for the {self.prior} prior)"
            )
        return out

    def remarks(self) -> list[str]:
        """For members that start as a logistic regression: how many moved past it."""
        if self.start == RANDOM_START:
            return []
        moved = sum(e > 0 for e in self.best_epochs)
        epochs = ", ".join(str(e) for e in self.best_epochs)
        if not moved:
            return [f"{NOTHING_ADDED} (best epochs: {epochs})"]
        return [f"{moved} of {len(self.best_epochs)} members moved past their starting {LOGISTIC_START} "
                f"on validation loss (best epochs: {epochs}; 0 = the start, kept)"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "best_epochs": list(self.best_epochs),
            "best_val_loss": self.best_val_loss,
            "prior_val_loss": self.prior_val_loss,
            "prior": self.prior,
            "frequency_prior_val_loss": self.frequency_prior_val_loss,
            "learned": not self.failures(),
        }


@dataclass(frozen=True)
class StrategyEvidence:
    """The strategy's figures against its nulls and buy-and-hold.

    exposure_matched_p, block_permuted_p : one-sided p-values (``nulls.p_value``).
    psr_vs_buy_and_hold : PSR with buy-and-hold's per-bar Sharpe as the benchmark.
    buy_and_hold_psr : buy-and-hold's own PSR against 0 (reported, not a rule).
    """

    n_trades: int
    exposure_matched_p: float | None
    block_permuted_p: float | None
    psr_vs_buy_and_hold: float | None
    buy_and_hold_psr: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_trades": self.n_trades,
            "exposure_matched_p": self.exposure_matched_p,
            "block_permuted_p": self.block_permuted_p,
            "psr_vs_buy_and_hold": self.psr_vs_buy_and_hold,
            "buy_and_hold_psr": self.buy_and_hold_psr,
        }


@dataclass(frozen=True)
class Verdict:
    """Skill or luck, with the reasons (failed rules, in words) and the linear-model remark."""

    model_skill: bool
    strategy_skill: bool | None
    reasons: tuple[str, ...]
    linear_model_does_as_well: bool | None
    metric: str
    remarks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The issue's {"model_skill", "strategy_skill", "reasons"} plus what sits beside them."""
        return {
            "model_skill": self.model_skill,
            "strategy_skill": self.strategy_skill,
            "reasons": list(self.reasons),
            "linear_model_does_as_well": self.linear_model_does_as_well,
            "metric": self.metric,
            "remarks": list(self.remarks),
        }


def _better(iv: Interval, metric: str) -> bool:
    """The interval of model − reference lies entirely on the model-is-better side of 0."""
    return iv.above(0.0) if HIGHER_IS_BETTER[metric] else iv.below(0.0)


def _fmt(iv: Interval, metric: str) -> str:
    if metric == "log_loss":
        return f"{iv.estimate:+.4f}, 95% interval [{iv.low:+.4f}, {iv.high:+.4f}]"
    return f"{100 * iv.estimate:+.2f} points, 95% interval [{100 * iv.low:+.2f}, {100 * iv.high:+.2f}]"


def _model_rules(
    differences: Mapping[str, Mapping[str, Interval]], learning: LearningDiagnostics | None, metric: str
) -> list[str]:
    failed = learning.failures() if learning is not None else []
    label = _METRIC_NAMES[metric]
    for ref in NO_DIRECTION_REFERENCES:
        iv = differences.get(ref, {}).get(metric)
        if iv is None:
            failed.append(f"{label}: no model − {_NAMES[ref]} interval was computed")
        elif not _better(iv, metric):
            failed.append(
                f"{label}: the model does not beat the {_NAMES[ref]} baseline "
                f"(model − {_NAMES[ref]} {_fmt(iv, metric)}, not clear of 0)"
            )
    return failed


def _strategy_rules(s: StrategyEvidence) -> tuple[bool | None, list[str]]:
    if s.n_trades == 0:
        return None, ["the strategy did not trade, so there is no strategy to judge"]
    failed = []
    for p, what in ((s.exposure_matched_p, "exposure-matched random entries"),
                    (s.block_permuted_p, "its own block-permuted signals")):
        if p is None:
            failed.append(f"the strategy was not compared with {what}")
        elif not p <= SIGNIFICANCE:
            failed.append(f"the strategy does not beat {what} at 95% (p = {p:.3f})")
    if s.psr_vs_buy_and_hold is None:
        failed.append("the strategy's PSR against buy-and-hold is undefined")
    elif not s.psr_vs_buy_and_hold >= PSR_LEVEL:
        failed.append(
            f"the strategy's PSR against buy-and-hold's Sharpe is {s.psr_vs_buy_and_hold:.3f}, below {PSR_LEVEL}"
        )
    return not failed, failed


def compute_verdict(
    differences: Mapping[str, Mapping[str, Interval]],
    learning: LearningDiagnostics | None,
    strategy: StrategyEvidence,
    metric: str = MODEL_METRIC,
) -> Verdict:
    """The verdict from already computed figures.

    differences : {reference: {metric: Interval of model − reference}} from
        ``bootstrap.difference_intervals``, for "majority", "stratified_random",
        "volatility_only" and, optionally, "all_features" (the linear remark).
    learning : ``LearningDiagnostics`` of the members; None for a model without a training
        history (a logistic regression judged as if it were the model), which skips rule (1).
    strategy : ``StrategyEvidence`` of the ensemble's strategy on the test segment.
    metric : the model-skill metric; balanced accuracy unless there is a reason (module doc).
    """
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; one of {sorted(HIGHER_IS_BETTER)}")
    model_failed = _model_rules(differences, learning, metric)
    strategy_skill, strategy_failed = _strategy_rules(strategy)
    linear = differences.get(LINEAR_REFERENCE, {}).get(metric)
    remarks: list[str] = learning.remarks() if learning is not None else []
    does_as_well: bool | None = None
    if linear is not None:
        does_as_well = not _better(linear, metric)
        name = _NAMES[LINEAR_REFERENCE]
        remarks.append(
            f"{LINEAR_DOES_AS_WELL}: model − {name} {_fmt(linear, metric)}" if does_as_well
            else f"the model beats the {name}: model − {name} {_fmt(linear, metric)}"
        )
    return Verdict(
        model_skill=not model_failed,
        strategy_skill=strategy_skill,
        reasons=tuple(model_failed + strategy_failed),
        linear_model_does_as_well=does_as_well,
        metric=metric,
        remarks=tuple(remarks),
    )

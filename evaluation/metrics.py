"""Classification metrics on the test segment, always beside the majority-class and
stratified-random baselines (scikit-learn's metrics and DummyClassifier)."""

from __future__ import annotations

from typing import Any

import numpy as np

from signalpack.score.contract import CLASS_NAMES

__all__ = ["classification_metrics", "baseline_metrics", "HEADLINE"]

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Metrics of predicted probabilities (n, 3) against labels (n,)."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
    )

    labels = [0, 1, 2]
    proba = np.asarray(proba, dtype=np.float64)
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    clipped = np.clip(proba, 1e-7, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    prec = precision_score(y_true, pred, labels=labels, average=None, zero_division=0)
    rec = recall_score(y_true, pred, labels=labels, average=None, zero_division=0)
    counts = np.bincount(pred, minlength=3)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
        "macro_f1": float(f1_score(y_true, pred, labels=labels, average="macro", zero_division=0)),
        "log_loss": float(log_loss(y_true, clipped, labels=labels)),
        "precision": {c: float(v) for c, v in zip(CLASS_NAMES, prec, strict=True)},
        "recall": {c: float(v) for c, v in zip(CLASS_NAMES, rec, strict=True)},
        "confusion_matrix": confusion_matrix(y_true, pred, labels=labels).tolist(),
        "signal_distribution": {c: int(v) for c, v in zip(CLASS_NAMES, counts, strict=True)},
        "mean_confidence": float(conf.mean()) if len(conf) else 0.0,
        "max_confidence": float(conf.max()) if len(conf) else 0.0,
        "share_confident": float((conf >= threshold).mean()) if len(conf) else 0.0,
    }


def baseline_metrics(
    y_train: np.ndarray, y_true: np.ndarray, threshold: float, seed: int
) -> dict[str, dict[str, Any]]:
    """The same metrics for two baselines that know only the training class frequencies.

    majority: always the most frequent training class, with the training class
    frequencies as its probabilities. stratified_random: a random class drawn
    with the training frequencies (sklearn's DummyClassifier, seeded); its
    probabilities are one-hot on the drawn class, as sklearn reports them.
    """
    from sklearn.dummy import DummyClassifier

    x_fit = np.zeros((len(y_train), 1))
    x_test = np.zeros((len(y_true), 1))
    prior = DummyClassifier(strategy="prior").fit(x_fit, y_train)
    proba_prior = _full_proba(prior, x_test)
    strat = DummyClassifier(strategy="stratified", random_state=seed).fit(x_fit, y_train)
    proba_strat = _full_proba(strat, x_test)
    return {
        "majority": classification_metrics(y_true, proba_prior, threshold),
        "stratified_random": classification_metrics(y_true, proba_strat, threshold),
    }


def _full_proba(clf: Any, x: np.ndarray) -> np.ndarray:
    """predict_proba widened to all three classes (a class absent in training gets 0)."""
    p = clf.predict_proba(x)
    out = np.zeros((len(x), 3))
    out[:, clf.classes_.astype(int)] = p
    return out

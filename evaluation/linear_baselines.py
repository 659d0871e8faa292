"""Baselines that know the data: multinomial logistic regressions on the window's last step.

Majority class and stratified random know only the class frequencies. Labels scaled by
past volatility make HOLD-vs-move predictable from volatility alone (on a random walk a
volatility-only model reaches 35–39 % balanced accuracy against the "chance" 33 %), so a
model has to be compared with a baseline that knows that much, and with a plain linear
model on everything the members see:

* ``all_features``: every feature at the window's last step (the row the window ends on);
* ``volatility_only``: the volatility features only (vol_5, vol_20), which carry no
  direction. Beating it is evidence of something beyond "how much will it move".

Both are scikit-learn ``LogisticRegression`` (lbfgs, multinomial for three classes) on
standardised inputs, with ``class_weight="balanced"``, the weighting the members use,
so their probabilities are distorted towards balanced classes exactly as the members'
are. Scaler and model are fitted on the training rows only; test rows are only
transformed and predicted. The functions take plain arrays and column names, never the
training ``Dataset`` (evaluation imports nothing of ``signalpack.train``); scikit-learn
is imported lazily, as in ``metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from signalpack.score.contract import N_CLASSES

__all__ = ["VOLATILITY_FEATURES", "LinearBaselines", "fit_predict_logistic", "linear_baselines"]

VOLATILITY_FEATURES: tuple[str, ...] = ("vol_5", "vol_20")
"""Realised volatility over 5 and 20 bars: the volatility-only baseline's inputs."""

_MAX_ITER = 2000


@dataclass(frozen=True, eq=False)
class LinearBaselines:
    """Test probabilities (n_test, 3) of the two logistic-regression baselines, and their inputs."""

    all_features: np.ndarray
    volatility_only: np.ndarray
    feature_names: tuple[str, ...]
    volatility_names: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        """What metadata.json should record about these baselines."""
        return {
            "model": "multinomial logistic regression (scikit-learn, lbfgs, C=1)",
            "class_weight": "balanced",
            "inputs": "features at the window's last step, standardised on the training rows",
            "fitted_on": "training segment only",
            "all_features": list(self.feature_names),
            "volatility_only": list(self.volatility_names),
        }


def fit_predict_logistic(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Standardise on ``x_train``, fit a balanced multinomial logistic regression, predict ``x_test``.

    Returns float64 (n_test, 3); a class absent from the training labels gets probability 0.
    Deterministic (lbfgs has no randomness).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_tr = _matrix("x_train", x_train)
    x_te = _matrix("x_test", x_test)
    y = np.asarray(y_train, dtype=np.int64)
    if y.shape != (len(x_tr),):
        raise ValueError(f"y_train must have one label per training row ({len(x_tr)}), got shape {y.shape}")
    if x_te.shape[1] != x_tr.shape[1]:
        raise ValueError(f"x_test has {x_te.shape[1]} columns, x_train {x_tr.shape[1]}")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("a logistic regression needs at least two classes in the training labels")
    model = make_pipeline(
        StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=_MAX_ITER)
    ).fit(x_tr, y)
    out = np.zeros((len(x_te), N_CLASSES))
    if len(x_te):
        out[:, model.classes_.astype(np.int64)] = model.predict_proba(x_te)
    return out


def linear_baselines(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    feature_names: Sequence[str],
    volatility_features: Sequence[str] = VOLATILITY_FEATURES,
) -> LinearBaselines:
    """Fit both baselines on the training rows and return their test probabilities.

    x_train, x_test : float (n, n_features), the unscaled features at each window's
        last step, columns in ``feature_names`` order (``Dataset.x_raw[ends]``).
    y_train : int (n_train,), labels 0/1/2 of the training windows.
    volatility_features : the columns of the volatility-only baseline; each must be
        one of ``feature_names``.
    """
    names = tuple(str(n) for n in feature_names)
    x_tr, x_te = _matrix("x_train", x_train), _matrix("x_test", x_test)
    if x_tr.shape[1] != len(names):
        raise ValueError(f"{len(names)} feature names for {x_tr.shape[1]} columns")
    missing = [v for v in volatility_features if v not in names]
    if missing:
        raise ValueError(f"volatility feature(s) {missing} not among the features {list(names)}")
    cols = [names.index(v) for v in volatility_features]
    return LinearBaselines(
        all_features=fit_predict_logistic(x_tr, y_train, x_te),
        volatility_only=fit_predict_logistic(x_tr[:, cols], y_train, x_te[:, cols]),
        feature_names=names,
        volatility_names=tuple(volatility_features),
    )


def _matrix(name: str, x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, features), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has NaN or infinite values")
    return a

"""Tests of evaluation.linear_baselines: logistic regressions that know the data, fitted on training rows."""

from __future__ import annotations

import numpy as np
import pytest

from signalpack.evaluation.bootstrap import (
    StratifiedRandom,
    block_bootstrap,
    difference_intervals,
    metric_intervals,
)
from signalpack.evaluation.linear_baselines import (
    VOLATILITY_FEATURES,
    fit_predict_logistic,
    linear_baselines,
)
from signalpack.evaluation.metrics import classification_metrics

NAMES = ["ret_1", "vol_5", "vol_20", "noise"]


def _rolling_std(r: np.ndarray, w: int) -> np.ndarray:
    out = np.full(len(r), np.nan)
    out[w - 1 :] = np.lib.stride_tricks.sliding_window_view(r, w).std(axis=1, ddof=1)
    return out


def _random_walk_dataset(n: int, seed: int, horizon: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A driftless Gaussian random walk labelled as training labels it: the forward log return
    over H bars against ±0.5·σ20·√H, σ20 the std of the past 20 one-bar log returns."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.01, n)
    log_close = np.cumsum(r)
    fwd = np.full(n, np.nan)
    fwd[:-horizon] = log_close[horizon:] - log_close[:-horizon]
    vol_20 = _rolling_std(r, 20)
    thr = 0.5 * vol_20 * np.sqrt(horizon)
    ok = ~np.isnan(fwd) & ~np.isnan(thr)
    y = np.where(fwd > thr, 2, np.where(fwd < -thr, 0, 1))
    x = np.column_stack([r, _rolling_std(r, 5), vol_20, rng.normal(size=n)])
    return x[ok], y[ok]


def test_volatility_alone_beats_chance_on_a_random_walk():
    """The issue's trap: a random walk has no direction to learn, yet volatility-scaled labels
    make HOLD-vs-move predictable from volatility, so the volatility-only baseline's balanced
    accuracy clears the 1/3 of "chance", and the all-features model is no better than it."""
    x, y = _random_walk_dataset(30_000, seed=1)
    cut = int(0.7 * len(y))
    lb = linear_baselines(x[:cut], y[:cut], x[cut:], NAMES)
    plan = block_bootstrap(len(y) - cut, horizon=5, resamples=300, seed=0)
    vol = metric_intervals(plan, y[cut:], lb.volatility_only)["balanced_accuracy"]
    assert vol.estimate > 0.35 and vol.low > 1 / 3
    # against the frequency-only baselines a model that knows no direction already "has skill"
    random = StratifiedRandom.from_labels(y[:cut], seed=0)
    assert difference_intervals(plan, y[cut:], lb.volatility_only, random)["balanced_accuracy"].above(0)
    extra = difference_intervals(plan, y[cut:], lb.all_features, lb.volatility_only)["balanced_accuracy"]
    assert extra.low < 0 < extra.high  # no direction on a random walk: the other features add nothing


def test_all_features_find_a_direction_that_volatility_cannot():
    rng = np.random.default_rng(2)
    n = 4000
    x = rng.normal(size=(n, 4))
    y = np.digitize(x[:, 0] + 0.5 * rng.normal(size=n), [-0.5, 0.5])  # the direction is in ret_1
    lb = linear_baselines(x[:3000], y[:3000], x[3000:], NAMES)
    full = classification_metrics(y[3000:], lb.all_features, 0.6)["balanced_accuracy"]
    vol = classification_metrics(y[3000:], lb.volatility_only, 0.6)["balanced_accuracy"]
    assert full > 0.7 and vol < 0.4
    assert lb.volatility_names == VOLATILITY_FEATURES and lb.feature_names == tuple(NAMES)
    assert lb.describe()["class_weight"] == "balanced"


def test_is_a_balanced_standardised_multinomial_logistic_regression():
    """The same probabilities as scikit-learn's balanced LogisticRegression on inputs standardised
    with the training rows' mean and std; rows sum to 1; deterministic."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 3.0, size=(900, 3))
    y = rng.choice(3, 900, p=[0.15, 0.7, 0.15])
    y[x[:, 1] > 8] = 2
    got = fit_predict_logistic(x[:600], y[:600], x[600:])
    mu, sd = x[:600].mean(axis=0), x[:600].std(axis=0)
    ref = LogisticRegression(class_weight="balanced", max_iter=2000).fit((x[:600] - mu) / sd, y[:600])
    assert np.allclose(got, ref.predict_proba((x[600:] - mu) / sd), atol=1e-6)
    assert np.allclose(got.sum(axis=1), 1.0)
    assert np.array_equal(got, fit_predict_logistic(x[:600], y[:600], x[600:]))
    # balanced weights: the minority classes are predicted, not drowned by the 70 % class
    assert np.bincount(got.argmax(axis=1), minlength=3).min() > 0


def test_fitted_on_training_rows_only():
    """Test rows are only predicted: any test row's probabilities depend on that row alone."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 4))
    y = rng.integers(0, 3, 500)
    a = linear_baselines(x[:400], y[:400], x[400:], NAMES)
    poisoned = x[400:].copy()
    poisoned[50:] = 1e6  # wild values in other test rows
    b = linear_baselines(x[:400], y[:400], poisoned, NAMES)
    assert np.array_equal(a.all_features[:50], b.all_features[:50])
    assert np.array_equal(a.volatility_only[:50], b.volatility_only[:50])
    changed = linear_baselines(x[:400][::-1].copy() * 2, y[:400][::-1].copy(), x[400:], NAMES)
    assert not np.allclose(changed.all_features, a.all_features)


def test_a_class_missing_from_training_gets_probability_zero():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    y = np.where(x[:, 0] > 0, 2, 1)  # no SELL in training
    lb = linear_baselines(x[:200], y[:200], x[200:], NAMES)
    assert lb.all_features.shape == (100, 3) and (lb.all_features[:, 0] == 0).all()


def test_refuses_bad_inputs():
    x = np.zeros((10, 4))
    y = np.array([0, 1, 2] * 3 + [0])
    with pytest.raises(ValueError, match="not among the features"):
        linear_baselines(x, y, x, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="3 feature names for 4 columns"):
        linear_baselines(x, y, x, NAMES[:3])
    with pytest.raises(ValueError, match="NaN"):
        linear_baselines(np.full((10, 4), np.nan), y, x, NAMES)
    with pytest.raises(ValueError, match="two classes"):
        fit_predict_logistic(x, np.ones(10, dtype=int), x)
    with pytest.raises(ValueError, match="one label per training row"):
        fit_predict_logistic(x, y[:5], x)

"""Tests of evaluation.bootstrap: the circular block bootstrap, its intervals and paired differences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signalpack.evaluation.bootstrap import (
    METRICS,
    Interval,
    StratifiedRandom,
    block_bootstrap,
    default_block_length,
    difference_intervals,
    intervals_to_dict,
    metric_intervals,
    stratified_random_intervals,
)
from signalpack.evaluation.metrics import baseline_metrics, classification_metrics


def _resamples(plan) -> np.ndarray:
    return np.concatenate(list(plan.chunks()))


def _proba_for(pred: np.ndarray, top: float = 0.6) -> np.ndarray:
    """Probabilities whose argmax is ``pred``."""
    p = np.full((len(pred), 3), (1 - top) / 2)
    p[np.arange(len(pred)), pred] = top
    return p


# --------------------------------------------------------------------------- the resampling scheme


@pytest.mark.parametrize(("n", "horizon", "expected"), [
    (743, 5, 10), (1000, 5, 10), (1001, 5, 11), (8, 5, 5), (1, 1, 1), (27, 1, 3), (28, 1, 4),
])
def test_default_block_length_is_max_of_horizon_and_cube_root(n, horizon, expected):
    assert default_block_length(n, horizon) == expected


def test_resamples_are_circular_blocks_of_the_block_length():
    plan = block_bootstrap(23, horizon=4, resamples=50, seed=3)
    assert plan.block_length == default_block_length(23, 4) == 4
    idx = _resamples(plan)
    assert idx.shape == (50, 23) and idx.min() >= 0 and idx.max() < 23
    for j in range(23):
        if j % 4:  # inside a block: the next window of the series, wrapping at the end
            assert np.array_equal(idx[:, j], (idx[:, j - 1] + 1) % 23)
    assert np.array_equal(idx[:, ::4], plan.starts[:, : idx[:, ::4].shape[1]])


def test_blocks_never_shorter_than_the_horizon():
    with pytest.raises(ValueError, match="shorter than the label horizon"):
        block_bootstrap(100, horizon=5, block_length=4)
    assert block_bootstrap(100, horizon=5, block_length=7).block_length == 7


def test_every_window_is_equally_likely_to_be_drawn():
    """The circular scheme's point: no under-drawn ends (the moving-block bootstrap's bias)."""
    plan = block_bootstrap(10, horizon=3, resamples=20_000, seed=0)
    counts = np.bincount(_resamples(plan).ravel(), minlength=10)
    assert counts.min() / counts.max() > 0.95


def test_blocks_wrap_within_their_group():
    groups = np.array(["a"] * 7 + ["b"] * 5)
    plan = block_bootstrap(12, horizon=3, resamples=300, seed=1, groups=groups)
    idx = _resamples(plan)
    blocks = idx[:, :12].reshape(300, 4, 3)
    assert (groups[blocks] == groups[blocks[..., :1]]).all()  # a block never leaves its symbol
    first = blocks[..., 0]
    in_a = first < 7
    assert np.array_equal(blocks[..., 1][in_a], (first[in_a] + 1) % 7)
    assert np.array_equal(blocks[..., 1][~in_a], 7 + (first[~in_a] - 7 + 1) % 5)
    with pytest.raises(ValueError, match="contiguous"):
        block_bootstrap(4, horizon=1, groups=np.array(["a", "b", "a", "b"]))


def test_deterministic_for_a_seed():
    a, b, c = (block_bootstrap(300, 5, 200, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.starts, b.starts) and not np.array_equal(a.starts, c.starts)
    y = np.arange(300) % 3
    p = _proba_for((y + (np.arange(300) % 4 == 0)) % 3)
    assert metric_intervals(a, y, p) == metric_intervals(b, y, p)


def test_chunking_does_not_change_the_resamples():
    plan = block_bootstrap(97, 5, 40, seed=2)
    whole = next(plan.chunks(max_elements=10**9))
    assert np.array_equal(np.concatenate(list(plan.chunks(max_elements=97 * 3))), whole)


# --------------------------------------------------------------------------- hand-checkable cases


def test_interval_by_enumeration():
    """n = 4, blocks of 2, correct = [1, 1, 1, 0]. A block starting at s covers s, s+1 (mod 4),
    holding 2, 2, 1, 1 correct windows for s = 0..3; a resample is 2 independent blocks, so its
    accuracy is 1.0 w.p. 1/4 (both blocks 2), 0.75 w.p. 1/2 and 0.5 w.p. 1/4. The 2.5th
    percentile is therefore 0.5 and the 97.5th 1.0."""
    y = np.zeros(4, dtype=np.int64)
    p = _proba_for(np.array([0, 0, 0, 1]))
    plan = block_bootstrap(4, horizon=2, resamples=8000, seed=0)
    acc = (y[_resamples(plan)] == np.array([0, 0, 0, 1])[_resamples(plan)]).mean(axis=1)
    freq = {v: float(np.mean(acc == v)) for v in (0.5, 0.75, 1.0)}
    assert freq == pytest.approx({0.5: 0.25, 0.75: 0.5, 1.0: 0.25}, abs=0.02)
    assert metric_intervals(plan, y, p)["accuracy"] == Interval(0.75, 0.5, 1.0)


def test_interval_collapses_when_every_resample_is_the_same():
    y = np.tile([0, 1, 2], 40)
    p = _proba_for(y, top=0.5)  # all correct, and every window's log loss is exactly log 2
    iv = metric_intervals(block_bootstrap(len(y), 5, 300, seed=4), y, p)
    for m in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert iv[m] == Interval(1.0, 1.0, 1.0)
    assert iv["log_loss"].low == pytest.approx(np.log(2), rel=1e-12)
    assert iv["log_loss"].high == pytest.approx(np.log(2), rel=1e-12)


def test_point_estimates_and_resampled_values_equal_sklearn():
    """The vectorised metrics agree with classification_metrics (sklearn), also on resamples
    where a class is missing from the labels or the predictions."""
    rng = np.random.default_rng(5)
    y = rng.choice(3, 60, p=[0.1, 0.8, 0.1])
    p = rng.dirichlet([1, 3, 1], 60)
    plan = block_bootstrap(60, 5, 12, seed=5)
    iv = metric_intervals(plan, y, p)
    full = classification_metrics(y, p, 0.6)
    per_resample = {m: [] for m in METRICS}
    for idx in _resamples(plan):
        got = classification_metrics(y[idx], p[idx], 0.6)
        for m in METRICS:
            per_resample[m].append(got[m])
    for m in METRICS:
        assert iv[m].estimate == pytest.approx(full[m], rel=1e-12)
        lo, hi = np.percentile(per_resample[m], [2.5, 97.5])
        assert (iv[m].low, iv[m].high) == pytest.approx((lo, hi), rel=1e-12)


def test_refuses_mismatched_inputs():
    plan = block_bootstrap(10, 2, 5)
    with pytest.raises(ValueError, match="drawn for 10"):
        metric_intervals(plan, np.zeros(9, dtype=int), np.full((9, 3), 1 / 3))
    with pytest.raises(ValueError, match="probabilities"):
        metric_intervals(plan, np.zeros(10, dtype=int), np.full((10, 2), 0.5))
    with pytest.raises(ValueError, match="labels must be"):
        metric_intervals(plan, np.full(10, 3), np.full((10, 3), 1 / 3))


# --------------------------------------------------------------------------- coverage


def _coverage(sequences: np.ndarray, truth: float, horizon: int, block_length: int | None) -> float:
    n = sequences.shape[1]
    y = np.zeros(n, dtype=np.int64)
    hits = 0
    for r, correct in enumerate(sequences):
        plan = block_bootstrap(n, horizon, 250, seed=r, block_length=block_length)
        iv = metric_intervals(plan, y, _proba_for(np.where(correct, 0, 1)))["accuracy"]
        hits += iv.low <= truth <= iv.high
    return hits / len(sequences)


def test_coverage_on_independent_bernoulli_windows():
    """Independent windows, 60 % correct: the 95 % interval covers 0.6 about 95 % of the time."""
    rng = np.random.default_rng(11)
    assert 0.88 <= _coverage(rng.random((150, 300)) < 0.6, 0.6, 1, None) <= 0.99


def test_blocks_keep_coverage_where_single_windows_lose_it():
    """Persistent runs of right and wrong (a symmetric Markov chain, stay probability 0.9):
    resampling single windows gives intervals far too narrow; blocks of 20 cover nearly 95 %."""
    rng = np.random.default_rng(12)
    flips = rng.random((100, 500)) < 0.1
    start = rng.random((100, 1)) < 0.5
    sequences = (np.cumsum(flips, axis=1) + start) % 2 == 1  # stationary: P(correct) = 0.5
    blocks = _coverage(sequences, 0.5, 20, None)
    single = _coverage(sequences, 0.5, 1, 1)
    assert blocks >= 0.87 and single <= 0.6


# --------------------------------------------------------------------------- paired differences


def test_paired_difference_of_identical_predictors_is_exactly_zero():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 500)
    p = rng.dirichlet([1, 1, 1], 500)
    d = difference_intervals(block_bootstrap(500, 5, 300, seed=6), y, p, p.copy())
    assert all(d[m] == Interval(0.0, 0.0, 0.0) for m in METRICS)


def test_paired_difference_sign():
    rng = np.random.default_rng(7)
    y = rng.choice(3, 600, p=[0.3, 0.4, 0.3])
    good = _proba_for(np.where(rng.random(600) < 0.7, y, rng.integers(0, 3, 600)))
    prior = np.tile([0.3, 0.4, 0.3], (600, 1))
    plan = block_bootstrap(600, 5, 500, seed=7)
    d = difference_intervals(plan, y, good, prior)
    assert d["accuracy"].above(0) and d["balanced_accuracy"].above(0) and d["macro_f1"].above(0)
    assert d["log_loss"].below(0)  # lower is better: the better model has a negative difference
    r = difference_intervals(plan, y, prior, good)
    for m in METRICS:
        assert (r[m].estimate, r[m].low, r[m].high) == pytest.approx((-d[m].estimate, -d[m].high, -d[m].low))
    sep = [metric_intervals(plan, y, q)["balanced_accuracy"] for q in (good, prior)]
    assert d["balanced_accuracy"].estimate == pytest.approx(sep[0].estimate - sep[1].estimate)


def test_pairing_narrows_the_interval_of_two_similar_models():
    """Two models that differ on few windows: the paired interval is far narrower than the
    gap between two separate intervals would suggest."""
    rng = np.random.default_rng(8)
    y = rng.integers(0, 3, 800)
    a_pred = np.where(rng.random(800) < 0.5, y, rng.integers(0, 3, 800))
    b_pred = a_pred.copy()
    b_pred[::20] = y[::20]  # b also gets every 20th window right
    plan = block_bootstrap(800, 5, 500, seed=8)
    d = difference_intervals(plan, y, _proba_for(b_pred), _proba_for(a_pred))["accuracy"]
    separate = [metric_intervals(plan, y, _proba_for(q))["accuracy"] for q in (b_pred, a_pred)]
    assert d.high - d.low < 0.5 * (separate[0].high - separate[0].low)
    assert d.low >= 0.0


# --------------------------------------------------------------------------- stratified random


def test_stratified_random_over_many_draws():
    rng = np.random.default_rng(9)
    y_train = rng.choice(3, 3000, p=[0.25, 0.5, 0.25])
    y_test = rng.choice(3, 700, p=[0.25, 0.5, 0.25])
    base = StratifiedRandom.from_labels(y_train, seed=9)
    assert base.frequencies == pytest.approx((0.25, 0.5, 0.25), abs=0.03)
    iv = stratified_random_intervals(y_test, base, draws=2000)
    assert iv["balanced_accuracy"].estimate == pytest.approx(1 / 3, abs=0.005)
    assert iv["balanced_accuracy"].low < 1 / 3 < iv["balanced_accuracy"].high
    expected_acc = float(np.dot(base.frequencies, np.bincount(y_test, minlength=3) / 700))
    assert iv["accuracy"].estimate == pytest.approx(expected_acc, abs=0.003)
    single = baseline_metrics(y_train, y_test, 0.6, seed=0)["stratified_random"]
    for m in METRICS:  # one draw of the old baseline falls inside the spread of many draws
        assert iv[m].low <= single[m] <= iv[m].high
    assert stratified_random_intervals(y_test, base, 2000) == iv
    json.dumps(intervals_to_dict(iv), allow_nan=False)


def test_difference_against_stratified_random_draws_per_resample():
    rng = np.random.default_rng(10)
    y = rng.choice(3, 500, p=[0.3, 0.4, 0.3])
    base = StratifiedRandom.from_labels(y, seed=1)
    plan = block_bootstrap(500, 5, 400, seed=10)
    good = difference_intervals(plan, y, _proba_for(y), base)
    assert good["balanced_accuracy"].above(0) and good["log_loss"].below(0)
    # a "model" that is itself one random draw does not beat the baseline's distribution
    lucky = difference_intervals(plan, y, _proba_for(rng.choice(3, 500, p=base.frequencies)), base)
    assert lucky["balanced_accuracy"].low < 0 < lucky["balanced_accuracy"].high
    assert difference_intervals(plan, y, _proba_for(y), base) == good

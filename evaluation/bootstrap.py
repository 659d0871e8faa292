"""Block-bootstrap 95 % intervals for the headline classification metrics, and for paired differences.

Why a block bootstrap
---------------------
Test windows are time-ordered and their labels overlap: the label of window t reads
the next H bars, so labels t and t+1 share H − 1 of them, and the features share
most of their look-back. Resampling single windows (the ordinary bootstrap) treats
them as independent and gives intervals that are too narrow. Resampling *blocks* of
consecutive windows keeps that dependence inside each block.

Which block bootstrap: circular, fixed block length
    The **circular block bootstrap** (Politis & Romano 1992): a resample is the
    concatenation of ``ceil(n / L)`` blocks of L consecutive windows, each block
    starting at a uniformly drawn window and wrapping around the end of its series,
    cut to n windows.

    * Fixed length, not the stationary bootstrap's geometric lengths: the issue asks
      for blocks at least as long as the label horizon, and a geometric length
      falls below any given value with positive probability.
    * Circular, not the moving-block bootstrap: with wrapping every window is
      equally likely to be drawn, so the resamples are centred on the sample (the
      moving-block bootstrap under-draws the first and last L − 1 windows).
    * With several symbols (windows sorted by symbol, then time) a block wraps
      within its own symbol (``groups``), so no block joins two unrelated series.

Block length
    ``max(horizon, ceil(n ** (1/3)))``: at least the label horizon, so the windows
    whose labels overlap mostly fall into the same block, and growing like n^(1/3),
    the rate that is optimal for variance estimates (Hall, Horowitz & Jing 1995).
    On the embedded S&P 500 test segment (≈ 750 windows, H = 5) that is 10.

Interval
    The 2.5th and 97.5th percentiles of the resampled values (the percentile
    interval); the point estimate is the metric on the sample itself.

Paired differences
    ``difference_intervals`` evaluates the model and the baseline on the **same**
    resampled windows and takes the difference per resample. Most of the sampling
    noise (which windows happen to be easy) is common to both and cancels, so the
    interval is much narrower than one built from two separate intervals; two
    identical predictors give exactly [0, 0].

Everything is vectorised: the block starts of all resamples are drawn at once with
one seeded generator (deterministic for a seed), resamples are expanded to index
arrays in chunks of bounded size, and the confusion counts of a whole chunk come
from one ``np.bincount``; no scikit-learn in the loop. Metrics are those of
``metrics.classification_metrics`` (same clipping for the log loss, sklearn's
conventions for absent classes), so the point estimates agree with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from signalpack.score.contract import N_CLASSES

__all__ = [
    "CONFIDENCE",
    "HIGHER_IS_BETTER",
    "METRICS",
    "BlockBootstrap",
    "Interval",
    "StratifiedRandom",
    "block_bootstrap",
    "default_block_length",
    "difference_intervals",
    "intervals_to_dict",
    "metric_intervals",
    "stratified_random_intervals",
]

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
"""The metrics that get intervals (``metrics.HEADLINE``)."""

HIGHER_IS_BETTER = {"accuracy": True, "balanced_accuracy": True, "macro_f1": True, "log_loss": False}
"""Direction of each metric: for log loss a better model has a *negative* difference."""

CONFIDENCE = 0.95
_EPS = 1e-7  # the probability clip of metrics.classification_metrics
_CHUNK_ELEMENTS = 2_000_000  # resampled windows held in memory at once (≈ 16 MB of int64)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95 % percentile interval (low <= high)."""

    estimate: float
    low: float
    high: float

    def above(self, value: float = 0.0) -> bool:
        """The whole interval lies strictly above ``value``."""
        return self.low > value

    def below(self, value: float = 0.0) -> bool:
        """The whole interval lies strictly below ``value``."""
        return self.high < value

    def to_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class StratifiedRandom:
    """The stratified-random baseline as a *distribution*: a class drawn per window with
    the training frequencies, probabilities one-hot on the drawn class (as sklearn's
    DummyClassifier reports them). Each resample gets fresh draws, so its intervals
    include the randomness of the baseline itself, not just one lucky or unlucky draw.
    """

    frequencies: tuple[float, float, float]
    seed: int = 0

    @classmethod
    def from_labels(cls, y_train: np.ndarray, seed: int = 0) -> StratifiedRandom:
        """Class frequencies of the training labels."""
        counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=N_CLASSES)[:N_CLASSES]
        if counts.sum() == 0:
            raise ValueError("stratified random baseline needs at least one training label")
        f = counts / counts.sum()
        return cls((float(f[0]), float(f[1]), float(f[2])), seed)

    def draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """Random classes of ``shape``."""
        return rng.choice(N_CLASSES, size=shape, p=np.asarray(self.frequencies))


def default_block_length(n: int, horizon: int) -> int:
    """max(horizon, ceil(n^(1/3))), computed exactly in integers (at least 1)."""
    root = max(1, round(n ** (1.0 / 3.0)))
    while root**3 < n:
        root += 1
    while root > 1 and (root - 1) ** 3 >= n:
        root -= 1
    return max(int(horizon), root, 1)


@dataclass(frozen=True, eq=False)
class BlockBootstrap:
    """A drawn circular block bootstrap over n time-ordered windows.

    starts : int64 (resamples, n_blocks), the first window of every block.
    group_first, group_size : per window, the first index and the length of the run
        of its group (symbol), within which its block wraps.
    """

    n: int
    block_length: int
    resamples: int
    seed: int
    starts: np.ndarray
    group_first: np.ndarray
    group_size: np.ndarray

    def describe(self) -> dict[str, Any]:
        """What metadata.json should record next to the intervals."""
        return {
            "method": "circular block bootstrap (Politis & Romano 1992), blocks wrap within each symbol",
            "block_length": self.block_length,
            "resamples": self.resamples,
            "seed": self.seed,
            "confidence": CONFIDENCE,
            "interval": "percentile",
        }

    def chunks(self, max_elements: int = _CHUNK_ELEMENTS) -> Iterator[np.ndarray]:
        """Index arrays int64 (b, n) of consecutive resamples, b chosen so b·n <= max_elements."""
        per = max(1, max_elements // max(self.n, 1))
        offsets = np.arange(self.block_length)
        for a in range(0, self.resamples, per):
            s = self.starts[a : a + per]  # (b, n_blocks)
            first = self.group_first[s]
            pos = (s - first)[..., None] + offsets  # (b, n_blocks, L)
            idx = first[..., None] + pos % self.group_size[s][..., None]
            yield idx.reshape(len(s), -1)[:, : self.n]


def block_bootstrap(
    n: int,
    horizon: int,
    resamples: int = 1000,
    seed: int = 0,
    block_length: int | None = None,
    groups: np.ndarray | None = None,
) -> BlockBootstrap:
    """Draw a circular block bootstrap of ``resamples`` resamples over n windows.

    horizon : the label horizon H; the block length is never below it.
    block_length : None gives ``default_block_length(n, horizon)``; a value below
        ``horizon`` is refused.
    groups : optional per-window group ids (e.g. symbol), each group one contiguous
        run (windows sorted by group, then time). A block starts at a uniformly drawn
        window and wraps within that window's group (a group shorter than the block
        length is repeated inside the block).
    """
    if n < 1:
        raise ValueError(f"the bootstrap needs at least one window, got n={n}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    length = default_block_length(n, horizon) if block_length is None else int(block_length)
    if length < horizon:
        raise ValueError(f"block_length {length} is shorter than the label horizon {horizon}")
    first, size = _group_runs(n, groups)
    n_blocks = -(-n // length)
    starts = np.random.default_rng(seed).integers(0, n, size=(resamples, n_blocks), dtype=np.int64)
    return BlockBootstrap(n, length, int(resamples), int(seed), starts, first, size)


def _group_runs(n: int, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per window: first index and length of its group's run; refuses a group split in two runs."""
    if groups is None:
        return np.zeros(n, dtype=np.int64), np.full(n, n, dtype=np.int64)
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups must have one id per window ({n}), got shape {g.shape}")
    new_run = np.concatenate([[True], g[1:] != g[:-1]])
    run_id = np.cumsum(new_run) - 1
    run_first = np.flatnonzero(new_run)
    if len(run_first) != len(np.unique(g)):
        raise ValueError("each group must be one contiguous run of windows (sort by group, then time)")
    run_size = np.diff(np.append(run_first, n))
    return run_first[run_id].astype(np.int64), run_size[run_id].astype(np.int64)


# --------------------------------------------------------------------------- metrics of many resamples


def _check(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels int64, predicted classes, and each window's log loss (clipped as in metrics.py)."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if y.ndim != 1 or p.shape != (len(y), N_CLASSES):
        raise ValueError(f"need labels (n,) and probabilities (n, {N_CLASSES}), got {y.shape} and {p.shape}")
    if len(y) and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ValueError(f"labels must be in 0..{N_CLASSES - 1}")
    return y, p.argmax(axis=1), _nll(p, y)


def _nll(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-log of the clipped, renormalised probability of the true class (metrics.py's log loss)."""
    clipped = np.clip(p, _EPS, 1.0)
    clipped /= clipped.sum(axis=-1, keepdims=True)
    return -np.log(np.take_along_axis(clipped, y[..., None], axis=-1)[..., 0])


_ONE_HOT_NLL = _nll(np.repeat(np.eye(N_CLASSES), N_CLASSES, axis=0), np.tile(np.arange(N_CLASSES), N_CLASSES))
"""Log loss of a one-hot prediction: [predicted * 3 + true]."""


def _batch_metrics(y: np.ndarray, pred: np.ndarray, nll: np.ndarray) -> dict[str, np.ndarray]:
    """The four metrics of every row of (b, n) labels, predictions and per-window log losses.

    Balanced accuracy averages recall over the classes present in that row's labels
    (sklearn's rule); macro-F1 averages 2TP / (2TP + FP + FN) over all three classes,
    0 for a class never true nor predicted (zero_division=0).
    """
    b, n = y.shape
    k = N_CLASSES
    cells = (np.arange(b, dtype=np.int64)[:, None] * (k * k) + y * k + pred).ravel()
    cm = np.bincount(cells, minlength=b * k * k).reshape(b, k, k)  # [row, true, predicted]
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    support = cm.sum(axis=2)
    predicted = cm.sum(axis=1)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
    denom = support + predicted
    f1 = np.divide(2.0 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "accuracy": tp.sum(axis=1) / n,
        "balanced_accuracy": recall.sum(axis=1) / np.maximum(present.sum(axis=1), 1),
        "macro_f1": f1.mean(axis=1),
        "log_loss": nll.mean(axis=1),
    }


def _interval(estimate: float, values: np.ndarray) -> Interval:
    lo, hi = np.percentile(values, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return Interval(float(estimate), float(lo), float(hi))


def _point(y: np.ndarray, pred: np.ndarray, nll: np.ndarray) -> dict[str, float]:
    return {m: float(v[0]) for m, v in _batch_metrics(y[None], pred[None], nll[None]).items()}


def metric_intervals(plan: BlockBootstrap, y: np.ndarray, proba: np.ndarray) -> dict[str, Interval]:
    """Accuracy, balanced accuracy, macro-F1 and log loss of ``proba`` (n, 3) against ``y`` (n,),
    each with its 95 % block-bootstrap interval."""
    y, pred, nll = _check(y, proba)
    _same_n(plan, y)
    parts: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    for idx in plan.chunks():
        for m, v in _batch_metrics(y[idx], pred[idx], nll[idx]).items():
            parts[m].append(v)
    point = _point(y, pred, nll)
    return {m: _interval(point[m], np.concatenate(parts[m])) for m in METRICS}


def difference_intervals(
    plan: BlockBootstrap,
    y: np.ndarray,
    proba_model: np.ndarray,
    baseline: np.ndarray | StratifiedRandom,
) -> dict[str, Interval]:
    """Model − baseline for each metric, paired: both are scored on the same resampled windows.

    baseline : the baseline's probabilities (n, 3), or a ``StratifiedRandom`` that draws
        fresh classes for every resample. For a fixed baseline the estimate is the
        difference on the sample; for ``StratifiedRandom`` it is the mean difference
        over the resamples (the baseline has no single value). A positive log-loss
        difference means the model is *worse* (``HIGHER_IS_BETTER``).
    """
    y, pred, nll = _check(y, proba_model)
    _same_n(plan, y)
    if isinstance(baseline, StratifiedRandom):
        rng = np.random.default_rng(baseline.seed)
        draw = baseline.draw

        def base_metrics(idx: np.ndarray, yi: np.ndarray) -> dict[str, np.ndarray]:
            drawn = draw(rng, idx.shape)  # fresh baseline draws for every resample
            return _batch_metrics(yi, drawn, _ONE_HOT_NLL[drawn * N_CLASSES + yi])
    else:
        _, base_pred, base_nll = _check(y, baseline)

        def base_metrics(idx: np.ndarray, yi: np.ndarray) -> dict[str, np.ndarray]:
            return _batch_metrics(yi, base_pred[idx], base_nll[idx])

    parts: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    for idx in plan.chunks():
        yi = y[idx]
        model, base = _batch_metrics(yi, pred[idx], nll[idx]), base_metrics(idx, yi)
        for m in METRICS:
            parts[m].append(model[m] - base[m])
    diffs = {m: np.concatenate(parts[m]) for m in METRICS}
    if isinstance(baseline, StratifiedRandom):
        return {m: _interval(float(diffs[m].mean()), diffs[m]) for m in METRICS}
    point_model, point_base = _point(y, pred, nll), _point(y, base_pred, base_nll)
    return {m: _interval(point_model[m] - point_base[m], diffs[m]) for m in METRICS}


def stratified_random_intervals(
    y_true: np.ndarray, baseline: StratifiedRandom, draws: int = 1000
) -> dict[str, Interval]:
    """The stratified-random baseline over ``draws`` independent draws on the test labels:
    estimate = the mean over draws, low/high = the 2.5th and 97.5th percentiles.

    This replaces the single seeded draw of ``metrics.baseline_metrics``: one draw
    can land anywhere in this range, and a model compared with a lucky draw looks
    worse than it is.
    """
    y = np.asarray(y_true, dtype=np.int64)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError("stratified random intervals need at least one label")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    rng = np.random.default_rng(baseline.seed)
    per = max(1, _CHUNK_ELEMENTS // len(y))
    parts: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    for a in range(0, draws, per):
        b = min(per, draws - a)
        yb = np.broadcast_to(y, (b, len(y)))
        drawn = baseline.draw(rng, (b, len(y)))
        for m, v in _batch_metrics(yb, drawn, _ONE_HOT_NLL[drawn * N_CLASSES + yb]).items():
            parts[m].append(v)
    values = {m: np.concatenate(parts[m]) for m in METRICS}
    return {m: _interval(float(values[m].mean()), values[m]) for m in METRICS}


def _same_n(plan: BlockBootstrap, y: np.ndarray) -> None:
    if plan.n != len(y):
        raise ValueError(f"the bootstrap was drawn for {plan.n} windows, got {len(y)}")


def intervals_to_dict(intervals: Mapping[str, Interval]) -> dict[str, dict[str, float]]:
    """JSON-ready {metric: {estimate, low, high}}."""
    return {m: iv.to_dict() for m, iv in intervals.items()}


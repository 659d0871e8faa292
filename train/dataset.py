"""From a checked OHLCV frame to scaled, labelled windows per segment.

features (shared with the scorer) → labels → chronological split with purge →
scaler fitted on training rows → windows that never cross a symbol or segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from signalpack.errors import DataError
from signalpack.score.bar_windows import bar_matrix, gather_windows
from signalpack.score.contract import CLASS_NAMES, N_CLASSES
from signalpack.score.features import FeatureSpec, compute_features
from signalpack.score.windows import build_windows, window_ends
from signalpack.train.config import TrainConfig
from signalpack.train.labels import add_labels
from signalpack.train.scaler import Scaler, fit_scaler
from signalpack.train.split import SEGMENTS, Cuts, assign_segments, cut_dates

__all__ = ["Dataset", "bar_windows_at", "build_dataset", "class_weights", "labelled_features"]


@dataclass
class Dataset:
    """Everything training needs, with row-level provenance kept in ``frame``.

    frame : feature rows (warm-up dropped) with symbol, timestamp, OHLCV, label,
        label_end, segment, is_sample; row i of ``x_raw`` is row i of frame.
    x_raw : float32 (n_rows, n_features), unscaled, in spec order.
    x_scaled : ``scaler.transform(x_raw)``, what the members see.
    ends : per segment name, the row indices of labelled sample windows' last rows.
    test_ends : every window ending in the test segment, labelled or not (for
        predictions and the trading simulation).
    """

    frame: pl.DataFrame
    spec: FeatureSpec
    x_raw: np.ndarray
    cuts: Cuts
    ends: dict[str, np.ndarray]
    test_ends: np.ndarray
    scaler: Scaler
    x_scaled: np.ndarray
    seq_len: int

    def windows(self, ends: np.ndarray) -> np.ndarray:
        """Scaled float32 windows (len(ends), seq_len, n_features)."""
        return build_windows(self.x_scaled, ends, self.seq_len)

    def labels(self, ends: np.ndarray) -> np.ndarray:
        return self.frame.get_column("label").to_numpy()[ends].astype(np.int64)

def labelled_features(frame: pl.DataFrame, spec: FeatureSpec, cfg: TrainConfig) -> pl.DataFrame:
    """Feature rows (warm-up dropped) with ``label`` and ``label_end``, before any split.

    frame : checked, (symbol, timestamp)-sorted OHLCV (``score.io``). Computed once per
    training run and shared by the main split and every walk-forward fold.
    """
    return compute_features(add_labels(frame, cfg.labels), spec)


def build_dataset(
    feats: pl.DataFrame, spec: FeatureSpec, cfg: TrainConfig, cuts: Cuts | None = None,
    name: str = "",
) -> Dataset:
    """feats : ``labelled_features`` of the data (not recomputed here).

    cuts : the split's cut dates (a walk-forward fold's); None: from ``cfg.split``.
    name : what the split is called in error messages ("fold 2"), if not the main split.
    """
    seq_len = cfg.model.seq_len
    if cuts is None:
        has_label = feats.filter(pl.col("label").is_not_null())
        cuts = cut_dates(has_label.get_column("timestamp"), cfg.split)
    feats = assign_segments(feats, cuts, cfg.purge)

    x_raw = feats.select(spec.names).to_numpy().astype(np.float32)
    groups = feats.select(pl.struct("symbol", "segment").rle_id()).to_series().to_numpy()
    all_ends = window_ends(groups, seq_len)
    segment = feats.get_column("segment").to_numpy()[all_ends]
    is_sample = feats.get_column("is_sample").to_numpy()[all_ends]
    ends = {seg: all_ends[(segment == k) & is_sample] for k, seg in enumerate(SEGMENTS)}
    where = f"{name}: " if name else ""
    for seg_name, e in ends.items():
        if len(e) == 0:
            scheme = (f"{cfg.split.walk_forward} walk-forward folds (use fewer folds or more data)" if name else
                      f"a {cfg.split.train:.0%}/{cfg.split.validation:.0%}/{cfg.split.test:.0%} split")
            raise DataError(
                f"{where}the {seg_name} segment has no complete labelled window; the data is too short "
                f"for seq_len {seq_len}, look-back {spec.lookback} and {scheme}"
            )
    train_rows = segment_rows(feats, 0)
    scaler = fit_scaler(x_raw[train_rows], spec.names)
    return Dataset(
        frame=feats, spec=spec, x_raw=x_raw, cuts=cuts, ends=ends,
        test_ends=all_ends[segment == 2], scaler=scaler, x_scaled=scaler.transform(x_raw),
        seq_len=seq_len,
    )


def segment_rows(frame: pl.DataFrame, segment: int) -> np.ndarray:
    """Indices of all feature rows in a segment (the scaler is fitted on segment 0's)."""
    return np.flatnonzero(frame.get_column("segment").to_numpy() == segment)


def class_weights(y_train: np.ndarray) -> dict[int, float]:
    """scikit-learn's "balanced" weights from training labels; every class must occur."""
    from sklearn.utils.class_weight import compute_class_weight

    present = set(np.unique(y_train).tolist())
    missing = [n for i, n in enumerate(CLASS_NAMES) if i not in present]
    if missing:
        raise DataError(
            f"the training segment has no {', '.join(missing)} labels; adjust labels.threshold "
            "or use more data"
        )
    w = compute_class_weight("balanced", classes=np.arange(N_CLASSES), y=y_train)
    return {i: float(v) for i, v in enumerate(w)}


def bar_windows_at(raw: pl.DataFrame, keys: pl.DataFrame, width: int) -> np.ndarray:
    """The raw-bar windows (float64 [n, width, 5]) ending at the rows of ``raw`` named by ``keys``.

    raw : the checked, sorted OHLCV frame training read (warm-up rows included).
    keys : (symbol, timestamp) of each window's last bar, e.g. the test windows' ends: what a
        format-2 bundle reads for the window the members saw as features.
    """
    rows = keys.select("symbol", "timestamp").join(
        raw.select("symbol", "timestamp").with_row_index("__row"), on=["symbol", "timestamp"],
        how="left", maintain_order="left",
    ).get_column("__row")
    if rows.null_count():
        raise DataError("internal: a window's last bar is not in the data frame")
    ends = rows.to_numpy().astype(np.int64)
    symbols = raw.get_column("symbol").to_numpy()
    first = ends - (width - 1)
    if (first < 0).any() or (symbols[np.maximum(first, 0)] != symbols[ends]).any():
        raise DataError(f"internal: a window of {width} bars would cross a symbol's start")
    return gather_windows(bar_matrix(raw), ends, width)

"""Split purge, training-only fitting, and windows that never cross symbols or segments."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from signalpack.score.features import default_feature_spec
from signalpack.score.io import load_ohlcv
from signalpack.train.config import TrainConfig
from signalpack.train.dataset import build_dataset, class_weights, labelled_features, segment_rows
from tests.conftest import GOOG, SP500

SPEC = default_feature_spec()
CFG = TrainConfig()


@pytest.fixture(scope="module")
def multi():
    """S&P 500 and GOOG in one file: two symbols over overlapping calendar ranges."""
    sp = load_ohlcv(SP500).frame.with_columns(pl.lit("SPX").alias("symbol"))
    goog = load_ohlcv(GOOG).frame.with_columns(pl.lit("GOOG").alias("symbol"))
    frame = pl.concat([sp, goog]).sort("symbol", "timestamp")
    return build_dataset(labelled_features(frame, SPEC, CFG), SPEC, CFG)


def test_same_cut_dates_for_every_symbol(multi):
    f = multi.frame
    for sym in ("SPX", "GOOG"):
        s = f.filter(pl.col("symbol") == sym)
        assert s.filter(pl.col("segment") == 0)["timestamp"].max() < multi.cuts.validation
        assert s.filter(pl.col("segment") >= 1)["timestamp"].min() >= multi.cuts.validation
        test_start = s.filter(pl.col("segment") == 2)["timestamp"].min()
        assert test_start is None or test_start >= multi.cuts.test
    # GOOG ends in 2013: with shared cut dates it has no test rows at all
    assert f.filter((pl.col("symbol") == "GOOG") & (pl.col("segment") == 2)).height == 0
    # no symbol's test period overlaps any symbol's training period
    assert f.filter(pl.col("segment") == 0)["timestamp"].max() < f.filter(pl.col("segment") == 2)["timestamp"].min()


def test_purge_no_training_label_reaches_validation_or_test(multi):
    f = multi.frame
    ts = f["timestamp"].to_numpy()
    label_end = f["label_end"].to_numpy()
    sym = f["symbol"].to_numpy()
    for name, cut in (("train", multi.cuts.validation), ("validation", multi.cuts.test)):
        ends = multi.ends[name]
        assert len(ends) > 0
        assert (label_end[ends] < np.datetime64(cut)).all()
        # at least `purge` bars of the same symbol lie between a sample and the next segment
        later = ends + CFG.purge
        assert (later < len(f)).all() and (sym[later] == sym[ends]).all()
        assert (ts[later] < np.datetime64(cut)).all()


def test_windows_never_cross_symbols_or_segments(multi):
    f = multi.frame
    sym = f["symbol"].to_numpy()
    seg = f["segment"].to_numpy()
    seq = CFG.model.seq_len
    for ends in (*multi.ends.values(), multi.test_ends):
        for back in range(seq):
            assert (sym[ends - back] == sym[ends]).all()
            assert (seg[ends - back] == seg[ends]).all()
    w = multi.windows(multi.ends["train"][:5])
    np.testing.assert_array_equal(w[0], multi.x_scaled[multi.ends["train"][0] - seq + 1 : multi.ends["train"][0] + 1])


def test_scaler_fitted_on_training_rows_only(multi):
    train_rows = segment_rows(multi.frame, 0)
    x_train = multi.x_raw[train_rows].astype(np.float64)
    np.testing.assert_allclose(multi.scaler.mean, x_train.mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(multi.scaler.scale, x_train.std(axis=0), rtol=1e-6)
    assert multi.scaler.n_samples_seen == len(train_rows)
    assert not np.allclose(multi.scaler.mean, multi.x_raw.astype(np.float64).mean(axis=0), rtol=1e-6)


def test_class_weights_from_training_labels_only(multi):
    y_train = multi.labels(multi.ends["train"])
    y_all = np.concatenate([multi.labels(e) for e in multi.ends.values()])
    w = class_weights(y_train)
    counts = np.bincount(y_train, minlength=3)
    for k in range(3):
        assert w[k] == pytest.approx(len(y_train) / (3 * counts[k]))
    assert w != class_weights(y_all)


def test_missing_class_in_training_is_a_clear_error():
    from signalpack.errors import DataError

    with pytest.raises(DataError, match="no SELL labels"):
        class_weights(np.array([1, 2, 2, 1]))


def test_too_short_for_split_is_a_clear_error():
    from signalpack.errors import DataError

    frame = load_ohlcv(GOOG).frame.head(90)
    with pytest.raises(DataError, match="segment has no complete labelled window"):
        build_dataset(labelled_features(frame, SPEC, CFG), SPEC, CFG)

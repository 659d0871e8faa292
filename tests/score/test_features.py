"""Feature causality, look-backs, per-symbol computation, exactness and finiteness, on real data."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalpack.errors import DataError
from signalpack.score.features import (
    FEATURE_SET_VERSION,
    FeatureSpec,
    check_spec,
    compute_features,
    default_feature_spec,
    feature_columns,
)
from signalpack.score.io import load_ohlcv
from tests.conftest import EURUSD, GOOG, SP500

SPEC = default_feature_spec()
L = SPEC.lookback


@pytest.fixture(scope="module")
def sp500() -> pl.DataFrame:
    return load_ohlcv(SP500).frame


def _features(frame: pl.DataFrame) -> np.ndarray:
    return compute_features(frame, SPEC).select(SPEC.names).to_numpy()


def test_default_spec_shape_and_lookbacks():
    assert 15 <= SPEC.n_features <= 25
    assert len(set(SPEC.names)) == SPEC.n_features
    assert L == 49
    by_name = {f.name: f.lookback for f in SPEC.features}
    assert by_name["ret_20"] == 20 and by_name["close_sma_50"] == 49 and by_name["bar_range"] == 0


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_appending_future_rows_never_changes_earlier_features(sp500, data):
    n = data.draw(st.integers(min_value=L + 1, max_value=sp500.height - 1), label="prefix")
    m = data.draw(st.integers(min_value=n + 1, max_value=sp500.height), label="longer")
    short = _features(sp500.head(n))
    longer = _features(sp500.head(m))
    assert short.shape[0] == n - L
    np.testing.assert_array_equal(short, longer[: short.shape[0]])


@settings(max_examples=25, deadline=None)
@given(start=st.integers(min_value=1, max_value=4000))
def test_chunk_with_lookback_overlap_is_bit_exact(sp500, start):
    """Scoring rows from ``start`` with L rows of history gives the whole-file features exactly."""
    whole = _features(sp500)
    chunk = _features(sp500.slice(start))
    # chunk row j is whole-file row start + L + j - L = start + j (both drop their first L rows)
    np.testing.assert_array_equal(chunk, whole[start:])


def _perturb(frame: pl.DataFrame, row: int) -> pl.DataFrame:
    """Reshape one bar (lower low, higher high, close pulled down, still valid) and triple its volume."""
    idx = pl.int_range(pl.len()) == row
    new = {
        "low": pl.col("low") * 0.9,
        "high": pl.col("high") * 1.05,
        "close": (pl.col("close") + pl.col("low") * 0.9) / 2,
        "volume": pl.col("volume") * 3 + 1,
    }
    return frame.with_columns(
        [pl.when(idx).then(e).otherwise(pl.col(c)).alias(c) for c, e in new.items()]
    )


@pytest.mark.parametrize("feature", SPEC.features, ids=lambda f: f.name)
def test_recorded_lookback_is_exact(sp500, feature):
    """A feature at row t changes when row t-L changes and never when row t-L-1 does."""
    frame = sp500.head(400)
    t = 300
    one = FeatureSpec(FEATURE_SET_VERSION, (feature,))

    def value_at_t(f: pl.DataFrame) -> float:
        return feature_columns(f, one).get_column(feature.name)[t]

    base = value_at_t(frame)
    assert value_at_t(_perturb(frame, t - feature.lookback - 1)) == base
    assert value_at_t(_perturb(frame, t - feature.lookback)) != base
    assert one.lookback == feature.lookback


def test_multi_symbol_equals_each_symbol_alone():
    goog = load_ohlcv(GOOG).frame.with_columns(pl.lit("GOOG").alias("symbol"))
    eur = load_ohlcv(EURUSD).frame.with_columns(pl.lit("EURUSD").alias("symbol"))
    both = pl.concat([goog, eur]).sort("symbol", "timestamp")
    feats = compute_features(both, SPEC)
    for sym, alone in (("GOOG", goog), ("EURUSD", eur)):
        got = feats.filter(pl.col("symbol") == sym).select(SPEC.names).to_numpy()
        np.testing.assert_array_equal(got, _features(alone))
    assert feats.height == both.height - 2 * L  # warm-up dropped per symbol


def test_zero_volume_and_zero_range_bars_stay_finite():
    frame = load_ohlcv(GOOG).frame
    idx = pl.int_range(pl.len())
    flat = (idx >= 200) & (idx < 260)
    frame = frame.with_columns(
        pl.when((idx >= 100) & (idx < 160)).then(0.0).otherwise(pl.col("volume")).alias("volume"),
        *[pl.when(flat).then(pl.lit(500.0)).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")],
    )
    x = _features(frame)
    assert np.isfinite(x).all()
    # a flat stretch: zero range, close location at the mid, no Bollinger deviation
    flat_rows = compute_features(frame, SPEC).filter(pl.col("timestamp").is_between(
        frame["timestamp"][240], frame["timestamp"][259]))
    assert (flat_rows["bar_range"] == 0).all()
    assert (flat_rows["close_loc"] == 0.5).all()
    assert (flat_rows["bb_pos_20"] == 0).all()


def test_all_real_files_give_finite_features():
    for path in (SP500, GOOG, EURUSD):
        assert np.isfinite(_features(load_ohlcv(path).frame)).all(), path.name


def test_spec_json_round_trip_and_check():
    data = json.loads(SPEC.to_json())
    assert data["lookback"] == L and [f["name"] for f in data["features"]] == SPEC.names
    assert FeatureSpec.from_json(SPEC.to_json()) == SPEC
    assert check_spec(data) == SPEC


def test_check_spec_refuses_other_version_and_wrong_lookback():
    data = SPEC.to_dict()
    with pytest.raises(DataError, match="feature set version 99"):
        check_spec({**data, "version": "99"})
    bad = json.loads(json.dumps(data))
    bad["features"][0]["lookback"] = 0
    with pytest.raises(DataError, match="ret_1.*look-back 0"):
        check_spec(bad)
    bad = json.loads(json.dumps(data))
    bad["features"][0]["kind"] = "moon_phase"
    with pytest.raises(DataError, match="unknown kind 'moon_phase'"):
        check_spec(bad)

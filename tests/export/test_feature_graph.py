"""The in-graph features: structure and portability, and parity with ``compute_features`` on real data."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from signalpack.errors import ExportError, ParityError
from signalpack.export.feature_graph import (
    FEATURE_GRAPH_INPUT,
    FEATURE_GRAPH_OUTPUT,
    compiled_kinds,
    feature_graph,
    feature_nodes,
    window_rows,
)
from signalpack.export.feature_parity import FEATURE_ATOL, FEATURE_RTOL, feature_parity, graph_features
from signalpack.score.bar_windows import raw_windows
from signalpack.score.features import FEATURE_KINDS, FeatureDef, FeatureSpec, compute_features, default_feature_spec
from signalpack.score.io import load_ohlcv
from tests.conftest import EURUSD, GOOG, SP500

onnx = pytest.importorskip("onnx")

SPEC = default_feature_spec()
SEQ = 10
W = SPEC.lookback + SEQ


@pytest.fixture(scope="module")
def model():
    return feature_graph(SPEC, SEQ)


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    return {name: load_ohlcv(path).frame for name, path in (("sp500", SP500), ("goog", GOOG), ("eurusd", EURUSD))}


def _check(report) -> None:
    print("\n".join(report.lines()))
    report.raise_if_failed()
    assert report.passed and report.worst.tolerance_used <= 1.0


# --------------------------------------------------------------------------- structure


def test_graph_is_portable(model):
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    ops = {n.op_type for n in model.graph.node}
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    assert not ops & {"Loop", "Scan", "If"}
    onnx.checker.check_model(model, full_check=True)


def test_interface(model):
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == FEATURE_GRAPH_INPUT == "ohlcv" and out.name == FEATURE_GRAPH_OUTPUT == "features"
    double = onnx.TensorProto.DOUBLE
    assert inp.type.tensor_type.elem_type == double and out.type.tensor_type.elem_type == double

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    assert dims(inp) == ["batch", W, 5] and dims(out) == ["batch", SEQ, SPEC.n_features]
    assert window_rows(SPEC, SEQ) == W == 59


@pytest.mark.parametrize("opset", [14, 15, 16, 17])
def test_supported_opsets(opset):
    assert feature_graph(SPEC, SEQ, opset=opset).opset_import[0].version == opset


@pytest.mark.parametrize("opset", [13, 18])
def test_unsupported_opsets_are_refused(opset):
    with pytest.raises(ExportError, match="opset"):
        feature_graph(SPEC, SEQ, opset=opset)


def test_every_kind_compiles_and_an_unknown_one_is_named():
    assert compiled_kinds() == set(FEATURE_KINDS)
    bad = FeatureSpec(SPEC.version, (FeatureDef("mystery", "fourier", (), 0),))
    with pytest.raises(ExportError, match="'mystery'.*'fourier'"):
        feature_nodes(bad, SEQ)


def test_undefined_windows_are_refused():
    with pytest.raises(ExportError, match="n >= 2"):
        feature_nodes(FeatureSpec("1", (FeatureDef.make("v", "volatility", n=1),)), SEQ)
    with pytest.raises(ExportError, match="seq_len"):
        feature_nodes(SPEC, 0)


def test_nodes_splice_under_a_prefix():
    nodes, inits = feature_nodes(SPEC, SEQ, input_name="bars", output_name="feats", prefix="fx/")
    produced = {o for n in nodes for o in n.output}
    consumed = {i for n in nodes for i in n.input}
    assert "feats" in produced and "bars" in consumed
    assert all(o.startswith("fx/") for o in produced - {"feats"})
    assert all(i.name.startswith("fx/") for i in inits)
    assert consumed <= produced | {i.name for i in inits} | {"bars"}


# --------------------------------------------------------------------------- parity on real data


@pytest.mark.parametrize("name", ["sp500", "goog", "eurusd"])
def test_parity_on_real_data(model, frames, name):
    frame = frames[name]
    report = feature_parity(model, frame, SPEC, SEQ)
    assert report.windows == frame.height - (W - 1)
    assert (report.rtol, report.atol) == (FEATURE_RTOL, FEATURE_ATOL)
    _check(report)


def test_real_data_edge_bars(frames):
    """Zero-volume and zero-range bars in the test data: none have zero volume, hence the synthetic test."""
    zero_volume = {k: f.filter(pl.col("volume") == 0).height for k, f in frames.items()}
    zero_range = {k: f.filter(pl.col("high") == pl.col("low")).height for k, f in frames.items()}
    assert zero_volume == {"sp500": 0, "goog": 0, "eurusd": 0}
    assert zero_range == {"sp500": 0, "goog": 0, "eurusd": 2}


def test_zero_volume_and_flat_bars_stay_finite_and_match(model, frames):
    """Real EUR/USD with zero-volume runs, zero-range bars and a flat run (every default branch taken)."""
    frame = frames["eurusd"].head(1200)
    i = np.arange(frame.height)
    zero_volume = ((i >= 300) & (i < 340)) | (i % 37 == 0)
    zero_range = (i % 11 == 0) | ((i >= 600) & (i < 640))
    flat = (i >= 900) & (i < 930)  # one exactly representable price: its sums and means are exact
    price = (
        pl.when(pl.Series(flat)).then(1.0625)
        .when(pl.Series(zero_range)).then(pl.col("close"))
    )
    frame = frame.with_columns(
        [price.otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")]
        + [pl.when(pl.Series(zero_volume)).then(0.0).otherwise(pl.col("volume")).alias("volume")]
    )
    report = feature_parity(model, frame, SPEC, SEQ)
    _check(report)
    windows, _ = raw_windows(frame, SPEC.lookback, SEQ)
    got = graph_features(model, windows)
    assert np.isfinite(got).all()
    ref = compute_features(frame, SPEC)
    for col, default in (("close_loc", 0.5), ("volume_z_20", 0.0), ("stoch_14", 0.5), ("rsi_14", 0.0),
                         ("bb_pos_20", 0.0), ("vol_20", 0.0)):
        k = SPEC.names.index(col)
        assert (got[..., k] == default).any(), col
        assert (ref[col] == default).any(), col


def test_flat_windows_with_inexact_means_give_exactly_zero_on_both_sides(model, frames):
    """Volume 1 (ln 2) and a close of 1.1 for 30 bars: their means are not exact in floating point, so the
    std is rounding noise. Feature set 1 divided by it (volume_z_5 = -0.894); both sides now give 0."""
    frame = frames["eurusd"].head(400)
    flat = pl.Series((np.arange(frame.height) >= 200) & (np.arange(frame.height) < 230))
    frame = frame.with_columns(
        [pl.when(flat).then(1.1).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")]
        + [pl.when(flat).then(1.0).otherwise(pl.col("volume")).alias("volume")]
    )
    report = feature_parity(model, frame, SPEC, SEQ)
    _check(report)
    ref = compute_features(frame.with_row_index("row"), SPEC).filter(pl.col("row").is_between(225, 229))
    assert ref.height == 5
    for col in ("volume_z_5", "volume_z_20", "bb_pos_20"):
        assert (ref[col] == 0.0).all(), (col, ref[col].to_list())
    windows, ends = raw_windows(frame, SPEC.lookback, SEQ)
    got = graph_features(model, windows[(ends >= 229 - SEQ + 1) & (ends <= 229)])
    last = got[-1, -5:]  # the window ending at row 229: its last 5 steps are rows 225..229
    for col in ("volume_z_5", "bb_pos_20"):
        assert (last[:, SPEC.names.index(col)] == 0.0).all(), col


def test_multi_symbol_frame(model, frames, tmp_path):
    goog = frames["goog"].with_columns(symbol=pl.lit("GOOG"))
    fx = frames["eurusd"].head(800).with_columns(symbol=pl.lit("EURUSD"))
    path = tmp_path / "two.csv"
    pl.concat([goog, fx]).write_csv(path)
    frame = load_ohlcv(path).frame
    report = feature_parity(model, frame, SPEC, SEQ)
    assert report.windows == (goog.height - (W - 1)) + (fx.height - (W - 1))
    _check(report)


@pytest.mark.parametrize("batch", [1, 512])
def test_batch_sizes(model, frames, batch):
    frame = frames["goog"].head(W + 200)
    report = feature_parity(model, frame, SPEC, SEQ, batch_size=batch)
    assert report.windows == 201
    _check(report)


def test_other_specs_and_designs(frames):
    """Other parameters, sequence lengths and the benchmark's alternative designs keep parity."""
    F = FeatureDef.make
    spec = FeatureSpec(SPEC.version, (
        F("r2", "log_return", n=2), F("v2", "volatility", n=2), F("c3", "close_to_sma", n=3),
        F("s73", "sma_ratio", fast=7, slow=3), F("z4", "volume_zscore", n=4), F("rsi3", "rsi", n=3),
        F("bb", "bollinger_position", n=6, k=1.5), F("atr2", "atr", n=2), F("st1", "stochastic", n=1),
        F("st9", "stochastic", n=9), F("gap", "gap"), F("loc", "close_location"),
    ))
    frame = frames["goog"].head(600)
    for seq_len in (1, 30):
        _check(feature_parity(feature_graph(spec, seq_len), frame, spec, seq_len))
    bars_only = FeatureSpec(SPEC.version, (F("b", "body"), F("u", "upper_shadow"), F("r", "bar_range")))
    _check(feature_parity(feature_graph(bars_only, 5), frame, bars_only, 5))
    for rolling, std in (("matmul", "two_pass"), ("gather", "two_pass")):
        _check(feature_parity(feature_graph(SPEC, SEQ, rolling=rolling, std=std), frame, SPEC, SEQ))


# --------------------------------------------------------------------------- the gate can fail


def test_gate_fails_naming_the_features_that_differ(model, frames):
    feats = list(SPEC.features)
    i, j = SPEC.names.index("ret_5"), SPEC.names.index("vol_20")
    feats[i], feats[j] = feats[j], feats[i]
    swapped = FeatureSpec(SPEC.version, tuple(feats))
    k = SPEC.names.index("rsi_14")
    feats[k] = FeatureDef.make("rsi_14", "rsi", n=13)
    perturbed = FeatureSpec(SPEC.version, tuple(feats))
    frame = frames["goog"].head(400)

    report = feature_parity(model, frame, swapped, SEQ)
    assert not report.passed
    assert {f.name for f in report.features if not f.passed} == {"ret_5", "vol_20"}
    with pytest.raises(ParityError) as err:
        report.raise_if_failed()
    assert err.value.exit_code == 1 and "ret_5" in str(err.value) and "vol_20" in str(err.value)
    assert any(line.startswith("✗ ret_5") for line in report.lines())

    report = feature_parity(model, frame, perturbed, SEQ)
    assert {f.name for f in report.features if not f.passed} == {"ret_5", "vol_20", "rsi_14"}

"""Export of a tiny trained run: parity, graph structure, reproducibility, manifest, edge numerics."""

from __future__ import annotations

import hashlib
import json

import jsonschema
import numpy as np
import onnx
import polars as pl
import pytest

from signalpack.errors import ConfigError, ExportError, ParityError, RunDirError
from signalpack.export.exporter import export_run, select_golden
from signalpack.export.parity import run_parity
from signalpack.schemas import load_schema, validate
from signalpack.score.contract import IR_VERSION, MANIFEST_KEY
from signalpack.train.rundir import TEST_WINDOWS
from tests.conftest import EURUSD, GOOG


def _model(path):
    return onnx.load(str(path))


def test_parity_passes_on_every_test_window(tiny_export, tiny_run):
    r = tiny_export.report
    n_test = len(np.load(tiny_run.run_dir / TEST_WINDOWS))
    assert r.passed and r.n_windows == n_test
    assert r.max_abs_diff <= 1e-5
    assert r.label_agreement == 1.0
    assert len(r.members) == 3
    report = json.loads(tiny_export.report_path.read_text())
    assert report["passed"] and report["sha256"] == tiny_export.sha256
    assert len(report["worst_windows"]) == 5 and "timestamp" in report["worst_windows"][0]


def test_graph_is_one_fused_lstm_per_member_and_portable(tiny_export):
    m = _model(tiny_export.bundle)
    onnx.checker.check_model(m, full_check=True)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("LSTM") == 3
    assert not {"Loop", "Scan", "If"} & set(ops) and not any(op.startswith("Cudnn") for op in ops)
    assert all(n.domain in ("", "ai.onnx") for n in m.graph.node)  # default domain only, no contrib ops
    names = [n.name for n in m.graph.node]
    cast = names.index("feat/cast_float32")  # the features (float64) end in one Cast to float32 ...
    assert all(x.startswith("feat/") for x in names[: cast + 1])
    assert not any(x.startswith("feat/") for x in names[cast + 1:])
    assert ops[cast + 1: cast + 3] == ["Sub", "Div"]  # ... into the scaler, in skl2onnx's broadcastable form
    assert m.ir_version == IR_VERSION <= 9
    assert {o.domain: o.version for o in m.opset_import} == {"": 17}
    assert [i.name for i in m.graph.input] == ["ohlcv"]
    dims = m.graph.input[0].type.tensor_type
    assert dims.elem_type == onnx.TensorProto.DOUBLE
    assert [d.dim_param or d.dim_value for d in dims.shape.dim] == ["batch", 59, 5]
    assert [o.name for o in m.graph.output] == ["probabilities", "signal", "confidence", "member_probabilities"]
    assert m.producer_name == "signalpack" and m.doc_string and m.model_version > 0
    assert tiny_export.size < 2 * 2**20


@pytest.mark.slow
def test_reexport_is_byte_identical(tiny_run, tiny_export, tmp_path):
    again = export_run(tiny_run.run_dir, tmp_path / "again.onnx")
    assert again.sha256 == tiny_export.sha256
    assert (tmp_path / "again.onnx").read_bytes() == tiny_export.bundle.read_bytes()


def test_manifest_matches_schema_and_run(tiny_export, tiny_run):
    m = _model(tiny_export.bundle)
    props = {p.key: p.value for p in m.metadata_props}
    manifest = json.loads(props[MANIFEST_KEY])
    jsonschema.validate(manifest, load_schema("manifest"))
    validate(manifest, "manifest")
    meta = tiny_run.metadata
    assert manifest["created_at"] == meta["created_at"]  # the run's time, not the export's
    assert manifest["ensemble"]["weights"] == meta["ensemble"]["weights"]
    assert manifest["ensemble"]["learning_rates"] == [1e-3, 5e-4, 2e-3]
    assert manifest["feature_spec"] == json.loads((tiny_run.run_dir / "feature_spec.json").read_text())
    assert manifest["scaler"]["mean"] == json.loads((tiny_run.run_dir / "scaler.json").read_text())["mean"]
    assert manifest["metrics"]["baselines"]["majority"]["accuracy"] == meta["metrics"]["baselines"]["majority"]["accuracy"]
    assert manifest["parity"]["passed"] and manifest["golden"]["count"] == 32
    assert manifest["training_data"]["sha256"] == meta["data"]["sha256"]


def test_golden_selection_covers_every_predicted_class():
    signal = np.array([1] * 100 + [0] * 3 + [2] * 40)
    g = select_golden(signal, 32)
    assert len(g) == 32 and len(set(g.tolist())) == 32 and (np.diff(g) > 0).all()
    assert set(signal[g].tolist()) == {0, 1, 2} and (signal[g] == 0).sum() == 3
    np.testing.assert_array_equal(g, select_golden(signal, 32))
    assert len(select_golden(np.array([1, 1, 2]), 32)) == 3


@pytest.mark.parametrize("data", [GOOG, EURUSD], ids=["goog_daily", "eurusd_hourly"])
def test_model_parity_from_raw_bars_on_real_data(tiny_run, tiny_export, data):
    """Every window of a real file: raw bars through the bundle against Keras on polars features."""
    report = run_parity(tiny_run.run_dir, tiny_export.bundle, data=data)
    assert report.passed and report.n_windows == pl.read_csv(data).height - 58
    assert report.max_abs_diff <= 1e-5 and report.label_disagreements_beyond_tie == 0


def test_feature_gate_is_recorded(tiny_export):
    manifest = json.loads({p.key: p.value for p in _model(tiny_export.bundle).metadata_props}[MANIFEST_KEY])
    fp = manifest["feature_parity"]
    assert fp["passed"] and (fp["rtol"], fp["atol"]) == (1e-9, 1e-10)
    assert fp["windows"] == manifest["parity"]["windows"] == tiny_export.feature_report.windows
    assert sorted(fp["features"]) == sorted(f["name"] for f in manifest["feature_spec"]["features"])  # sorted keys
    assert fp["max_abs"] < 1e-9 and 0 < fp["max_rel"] < 1e-6  # relative: near-zero values sit on the atol floor
    assert manifest["window_rows"] == manifest["feature_spec"]["lookback"] + manifest["seq_len"] == 59
    assert manifest["inputs"] == {"ohlcv": {"dtype": "float64", "shape": ["batch", 59, 5],
                                            "columns": ["open", "high", "low", "close", "volume"]}}
    report = json.loads(tiny_export.report_path.read_text())
    assert report["feature_parity"]["passed"] and len(report["feature_parity"]["lines"]) == 23


def test_a_wrong_feature_graph_fails_the_gate_and_writes_nothing(tiny_run, tmp_path, monkeypatch):
    """A fault injected into the feature compiler (ret_5 over 4 bars): the feature gate names the feature."""
    import signalpack.export.compose as compose
    from signalpack.score.features import FeatureSpec

    real = compose.feature_nodes

    def wrong(spec, seq_len, *args, **kwargs):
        doc = spec.to_dict()
        doc["features"][1]["params"]["n"] = 4
        return real(FeatureSpec.from_dict(doc), seq_len, *args, **kwargs)

    monkeypatch.setattr(compose, "feature_nodes", wrong)
    with pytest.raises(ParityError, match=r"on 1 of 23 features .*ret_5: \d+ values beyond"):
        export_run(tiny_run.run_dir, tmp_path / "b.onnx")
    assert list(tmp_path.iterdir()) == []


def test_constant_feature_does_not_break_parity(tiny_run, tiny_export, tmp_path):
    """Zero volume everywhere makes the volume z-scores constant (0): parity must still hold."""
    frame = pl.read_csv(GOOG).with_columns(pl.lit(0).alias("Volume"))
    path = tmp_path / "goog_zero_volume.csv"
    frame.write_csv(path)
    report = run_parity(tiny_run.run_dir, tiny_export.bundle, data=path)
    assert report.passed and report.n_windows > 2000
    assert report.max_abs_diff <= 1e-5


def test_constant_training_feature_gets_unit_scale():
    from signalpack.train.scaler import fit_scaler

    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    x[:, 1] = 0.0
    s = fit_scaler(x, ["a", "b", "c"])
    assert s.scale[1] == 1.0 and np.isfinite(s.transform(x)).all()


def test_parity_failure_is_reported(tiny_run, tiny_export):
    from signalpack.export.parity import compare

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=20).astype(np.float32)
    ref = {"probabilities": p, "signal": p.argmax(1), "confidence": p.max(1), "member_probabilities": p[:, None, :]}
    q = p.copy()
    q[3] += np.array([1e-3, -1e-3, 0], np.float32)
    got = {"probabilities": q, "signal": q.argmax(1), "confidence": q.max(1), "member_probabilities": q[:, None, :]}
    r = compare(ref, got, 1e-5)
    assert not r.passed and r.worst[0]["window"] == 3
    with pytest.raises(ParityError, match="probabilities: max abs diff 0.001"):
        r.raise_if_failed()


def test_export_refuses_bad_run_dirs(tiny_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_run.run_dir, broken)
    (broken / "member_1.keras").unlink()
    with pytest.raises(RunDirError, match="missing member file member_1.keras"):
        export_run(broken, tmp_path / "x.onnx")
    (broken / "member_1.keras").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RunDirError, match="member_1.keras: not a loadable Keras model"):
        export_run(broken, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(ConfigError, match="--opset 21 is out of range"):
        export_run(tiny_run.run_dir, tmp_path / "y.onnx", opset=21)


def test_loop_graphs_are_refused():
    from signalpack.export.convert import check_member_ops

    graph = onnx.helper.make_graph([onnx.helper.make_node("Loop", ["a", "b"], ["c"])], "g", [], [])
    with pytest.raises(ExportError, match="Loop instead of one fused ONNX LSTM"):
        check_member_ops(onnx.helper.make_model(graph), "member_0.keras")


def test_bundle_sha_is_reported(tiny_export):
    assert hashlib.sha256(tiny_export.bundle.read_bytes()).hexdigest() == tiny_export.sha256


@pytest.mark.slow
def test_atol_reaches_the_manifest_and_verify_uses_it(tiny_run, tmp_path, monkeypatch):
    """A bundle exported with a looser --atol records it, so its own `score verify` checks against it.
    The export reads and checks the run directory once."""
    import signalpack.export.exporter as exporter
    from signalpack.score.bundle import load_bundle, verify_bundle

    checked = []
    real = exporter.check_run_dir
    monkeypatch.setattr(exporter, "check_run_dir", lambda p: checked.append(p) or real(p))
    result = export_run(tiny_run.run_dir, tmp_path / "loose.onnx", atol=5e-4)
    assert len(checked) == 1
    bundle = load_bundle(result.bundle)
    assert bundle.manifest["golden"]["atol"] == 5e-4 == result.report.atol
    assert json.loads(result.report_path.read_text())["atol"] == 5e-4
    report = verify_bundle(bundle)
    assert report.passed and report.atol == 5e-4
    with pytest.raises(ConfigError, match="--atol 0.0 is out of range"):
        export_run(tiny_run.run_dir, tmp_path / "zero.onnx", atol=0.0)


def _tamper_final_bytes(monkeypatch, change):
    """Make the exporter's second (final) serialization differ from the draft the parity gate ran on."""
    import signalpack.export.exporter as exporter

    real, seen = exporter._serialize, []

    def serialize(model, manifest, golden):
        seen.append(1)
        data = real(model, manifest, golden)
        return change(data) if len(seen) == 2 else data

    monkeypatch.setattr(exporter, "_serialize", serialize)


@pytest.mark.slow
def test_export_refuses_final_bytes_whose_graph_differs(tiny_run, tmp_path, monkeypatch):
    def change(data):
        m = onnx.load_from_string(data)
        w = next(i for i in m.graph.initializer if i.name == "head/weights")
        arr = onnx.numpy_helper.to_array(w) * 2
        w.CopyFrom(onnx.numpy_helper.from_array(arr, "head/weights"))
        return m.SerializeToString()

    _tamper_final_bytes(monkeypatch, change)
    with pytest.raises(ExportError, match="graph changed after the parity gate"):
        export_run(tiny_run.run_dir, tmp_path / "b.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_export_verifies_golden_vectors_on_the_bytes_it_writes(tiny_run, tmp_path, monkeypatch):
    def change(data):
        m = onnx.load_from_string(data)
        props = {p.key: p.value for p in m.metadata_props}
        golden = json.loads(props["signalpack.golden"])
        probs = golden["outputs"]["probabilities"]
        raw = bytearray(__import__("base64").b64decode(probs["data"]))
        raw[0:4] = np.float32(0.999).tobytes()
        probs["data"] = __import__("base64").b64encode(bytes(raw)).decode()
        props["signalpack.golden"] = json.dumps(golden)
        del m.metadata_props[:]
        onnx.helper.set_model_props(m, props)
        return m.SerializeToString()

    _tamper_final_bytes(monkeypatch, change)
    with pytest.raises(ExportError, match="fails the scorer's own check"):
        export_run(tiny_run.run_dir, tmp_path / "b.onnx")
    assert list(tmp_path.iterdir()) == []

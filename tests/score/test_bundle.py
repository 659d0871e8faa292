"""`score verify` / `score inspect` and safe bundle loading (no TensorFlow involved)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from signalpack.errors import BundleError
from signalpack.score.bundle import load_bundle, verify_bundle
from signalpack.score.cli import app
from signalpack.score.contract import MANIFEST_KEY
from signalpack.score.protobuf import scan_model
from tests.conftest import rewrite_manifest

runner = CliRunner()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


def _rewrite(src, dst, edit):
    m = onnx.load(str(src))
    edit(m)
    dst.write_bytes(m.SerializeToString())
    return dst


def test_verify_passes(tiny_export):
    r = _cli("verify", str(tiny_export.bundle))
    assert r.returncode == 0, r.stderr
    assert "reproduces its 32 golden vectors" in r.stdout and "✓ probabilities" in r.stdout


def test_verify_exits_1_when_a_weight_is_perturbed(tiny_export, tmp_path):
    def perturb(m):
        lstm = next(n for n in m.graph.node if n.op_type == "LSTM")
        init = next(i for i in m.graph.initializer if i.name == lstm.input[1])  # W of member 0
        w = numpy_helper.to_array(init).copy()
        w.flat[0] += 0.5
        init.CopyFrom(numpy_helper.from_array(w, init.name))

    bad = _rewrite(tiny_export.bundle, tmp_path / "perturbed.onnx", perturb)
    r = _cli("verify", str(bad))
    assert r.returncode == 1
    assert "golden vectors do not reproduce" in r.stderr and "Traceback" not in r.stderr
    assert "✗" in r.stdout


def test_inspect_json_round_trips_the_manifest(tiny_export):
    r = runner.invoke(app, ["inspect", str(tiny_export.bundle), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    m = onnx.load(str(tiny_export.bundle))
    stored = json.loads({p.key: p.value for p in m.metadata_props}[MANIFEST_KEY])
    assert doc["manifest"] == stored
    assert doc["sha256"] == tiny_export.sha256 and doc["size_bytes"] == tiny_export.size
    assert doc["graph"]["ops"]["LSTM"] == 3
    assert [o["name"] for o in doc["graph"]["outputs"]] == ["probabilities", "signal", "confidence", "member_probabilities"]


def test_inspect_text_shows_metrics_beside_baselines(tiny_export):
    r = runner.invoke(app, ["inspect", str(tiny_export.bundle)])
    assert r.exit_code == 0, r.output
    for text in ("majority", "random", "buy&hold", "weights", "sha256", "not financial advice"):
        assert text in r.output


def _truncated(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _external(src, dst):
    def edit(m):
        init = m.graph.initializer[0]
        init.data_location = onnx.TensorProto.EXTERNAL
        e = init.external_data.add()
        e.key, e.value = "location", "../../etc/passwd"
        init.ClearField("raw_data")
    return _rewrite(src, dst, edit)


BAD_BUNDLES = {
    "truncated": (_truncated, "not a readable ONNX model, truncated or corrupt"),
    "not_onnx": (lambda s, d: (d.write_bytes(b"date,open,high\n1,2,3\n"), d)[1], "not a readable ONNX model"),
    "empty": (lambda s, d: (d.write_bytes(b""), d)[1], "the bundle is empty"),
    "external_data": (_external, "references external data files"),
    "no_manifest": (lambda s, d: _rewrite(s, d, lambda m: m.metadata_props.__delitem__(slice(None))),
                    "no signalpack manifest"),
    "future_format": (lambda s, d: rewrite_manifest(s, d, lambda x: x.update(format_version=99)),
                      "manifest format version 99 is not supported"),
    "window_rows": (lambda s, d: rewrite_manifest(s, d, lambda x: x.update(window_rows=7)),
                    "disagrees with its window_rows 7"),
    "input_shape": (lambda s, d: rewrite_manifest(
        s, d, lambda x: x.update(window_rows=58, inputs={"ohlcv": {**x["inputs"]["ohlcv"], "shape": ["batch", 58, 5]}})),
        "the manifest says float64 [batch, 58, 5]"),
    "bad_schema": (lambda s, d: rewrite_manifest(s, d, lambda x: x.pop("scaler")),
                   "missing required key 'scaler'"),
}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_bad_bundles_exit_2_with_one_clear_line(tiny_export, tmp_path, case, command):
    make, message = BAD_BUNDLES[case]
    path = make(tiny_export.bundle, tmp_path / f"{case}.onnx")
    r = _cli(command, str(path))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("score: error:") and path.name in lines[0]
    assert message in lines[0] and "Traceback" not in r.stderr


def test_oversized_metadata_is_refused(tiny_export, tmp_path, monkeypatch):
    import signalpack.score.bundle as sb

    monkeypatch.setattr(sb, "MAX_METADATA_BYTES", 1000)
    with pytest.raises(BundleError, match="bytes of metadata is over"):
        load_bundle(tiny_export.bundle)


def test_missing_bundle_and_directory(tmp_path):
    r = _cli("verify", str(tmp_path / "nope.onnx"))
    assert r.returncode == 2 and "no such bundle" in r.stderr
    r = _cli("inspect", str(tmp_path))
    assert r.returncode == 2 and "is a directory" in r.stderr


def test_protobuf_scan_agrees_with_onnx(tiny_export):
    data = tiny_export.bundle.read_bytes()
    info = scan_model(data)
    m = onnx.load_from_string(data)
    assert info.ir_version == m.ir_version
    assert info.opsets == {o.domain: o.version for o in m.opset_import}
    assert info.metadata == {p.key: p.value for p in m.metadata_props}
    assert info.op_types == [n.op_type for n in m.graph.node]
    assert info.inputs == ["ohlcv"] and info.external_tensors == 0
    assert info.producer_name == m.producer_name and info.model_version == m.model_version


def test_verify_report_values(tiny_export):
    b = load_bundle(tiny_export.bundle)
    report = verify_bundle(b)
    assert report.passed and report.count == 32
    assert max(report.max_abs_diff.values()) < 1e-5
    feats, expected = b.golden()
    assert feats["ohlcv"].dtype == np.float64 and feats["ohlcv"].shape == (32, b.window_rows, 5)
    np.testing.assert_allclose(b.run(feats["ohlcv"])["probabilities"], expected["probabilities"], atol=1e-5)

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

from signalpack.errors import BundleError, VerifyMismatch
from signalpack.score.bundle import load_bundle, verify_bundle
from signalpack.score.cli import app
from signalpack.score.contract import MANIFEST_KEY
from signalpack.score.protobuf import scan_model
from tests.conftest import GOOG, rewrite_manifest
from tests.score.crafted_bundles import INJECTED, craft, fails_at_run_time, nested_subgraphs

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
        # one weight of member 0's LSTM and of each of its matrix products: its wide path (the
        # logistic regression) among them, which carries most of a briefly trained member's output
        lstm = next(n for n in m.graph.node if n.op_type == "LSTM")
        targets = {lstm.input[1]} | {n.input[1] for n in m.graph.node
                                     if n.op_type == "MatMul" and n.input[1].startswith("m0/")}
        for init in m.graph.initializer:
            if init.name in targets:
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


def _manifest_of_58_rows(src, dst):
    """Manifest and golden inputs consistent with each other at 58 rows (seq_len one less), the graph at 59."""
    from tests.score.crafted_bundles import _array, _tensor, rewrite_golden

    rewrite_manifest(src, dst, lambda x: x.update(
        window_rows=58, seq_len=x["seq_len"] - 1, inputs={"ohlcv": {**x["inputs"]["ohlcv"], "shape": ["batch", 58, 5]}}))
    return rewrite_golden(dst, dst, lambda g: g["inputs"].update(ohlcv=_tensor(_array(g["inputs"]["ohlcv"])[:, 1:])))


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
                    "the manifest's window_rows 7 is not feature_spec.lookback + seq_len"),
    "input_shape": (lambda s, d: _manifest_of_58_rows(s, d), "the manifest says float64 [batch, 58, 5]"),
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


# ---- issue 13: hostile bundles (crafted in tests/score/crafted_bundles.py from the real tiny export)



def _score(capfd, monkeypatch, *argv: str) -> tuple[int, str, str]:
    """The real `score` entry point in-process (exit code, stdout, stderr as the terminal gets them,
    onnxruntime's own C++ logging included)."""
    from signalpack.score.cli import main

    capfd.readouterr()
    monkeypatch.setattr(sys, "argv", ["score", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capfd.readouterr()
    return exit_info.value.code, out, err


def _refused_everywhere(kind, tiny_export, tmp_path, capfd, monkeypatch, *needles: str) -> list[str]:
    """``verify``, ``inspect`` and ``run`` each refuse the crafted bundle: exit 2, one `score: error:` line
    naming the bundle and the needles, no traceback, and `run` writes nothing."""
    path = craft(kind, tiny_export.bundle, tmp_path)
    csv = tmp_path / "prices.csv"
    csv.write_text("\n".join(GOOG.read_text().splitlines()[:201]) + "\n")
    lines = []
    for argv in (["verify", str(path)], ["inspect", str(path)], ["inspect", "--json", str(path)],
                 ["run", str(csv), "--model", str(path)]):
        before = sorted(p.name for p in tmp_path.iterdir())
        code, out, err = _score(capfd, monkeypatch, *argv)
        err_lines = err.strip().splitlines()
        assert code == 2, (argv, out, err)
        assert len(err_lines) == 1 and err_lines[0].startswith(f"score: error: {path.name}: "), err
        for needle in needles:
            assert needle in err_lines[0], (needle, err_lines[0])
        assert "Traceback" not in out + err and out == ""
        assert sorted(p.name for p in tmp_path.iterdir()) == before, "a refused bundle left a file behind"
        lines.append(err_lines[0])
    return lines


def test_defect_04_duplicate_manifest_key_refused(tiny_export, tmp_path, capfd, monkeypatch):
    """Two `signalpack.manifest` entries (the second a tampered copy: onnxruntime would read that one)."""
    _refused_everywhere("duplicate_manifest_key", tiny_export, tmp_path, capfd, monkeypatch,
                        'metadata key "signalpack.manifest" appears 2 times')
    _refused_everywhere("duplicate_golden_key", tiny_export, tmp_path, capfd, monkeypatch,
                        'metadata key "signalpack.golden" appears 2 times')


def test_defect_04_duplicate_metadata_keys_are_counted_by_the_scanner(tiny_export, tmp_path):
    info = scan_model(craft("duplicate_manifest_key", tiny_export.bundle, tmp_path).read_bytes())
    assert info.metadata_key_counts[MANIFEST_KEY] == 2 and info.metadata_key_counts["signalpack.golden"] == 1
    assert json.loads(info.metadata[MANIFEST_KEY])["confidence_threshold"] == 0.99  # the last one: the tampered


def test_defect_04_threshold_that_makes_every_row_actionable_refused(tiny_export, tmp_path, capfd, monkeypatch):
    """Confidence is the largest of three probabilities, so never below 1/3: a threshold of 0 (or any
    under 0.34, the training config's own bound) would mark every row actionable."""
    _refused_everywhere("threshold_zero", tiny_export, tmp_path, capfd, monkeypatch,
                        "$.confidence_threshold: must be >= 0.34 (got 0.0)")


def test_defect_04_negated_member_weights_with_regenerated_golden_refused(tiny_export, tmp_path, capfd, monkeypatch):
    """The ensemble weights negated in the graph and the golden vectors regenerated from the tampered
    graph, so they reproduce: the golden 'probabilities' are then negative, which no ensemble of
    probability distributions gives."""
    _refused_everywhere("negated_weights_regenerated_golden", tiny_export, tmp_path, capfd, monkeypatch,
                        "golden probabilities are not probabilities")


def test_defect_04_reweighted_members_with_regenerated_golden_refused(tiny_export, tmp_path, capfd, monkeypatch):
    """Subtler: the graph's weights changed to [1, 0, 0] (still probabilities), golden regenerated; the
    manifest still says the trained weights, and the golden vectors disagree with them."""
    _refused_everywhere("other_weights_regenerated_golden", tiny_export, tmp_path, capfd, monkeypatch,
                        "golden probabilities are not the manifest's ensemble weights applied to member_probabilities")
    _refused_everywhere("weights_not_summing_to_one", tiny_export, tmp_path, capfd, monkeypatch,
                        "manifest field ensemble.weights: the weights sum to 1.5")


def test_defect_05_nested_subgraphs_refused_without_recursion_error(tiny_export, tmp_path, capfd, monkeypatch):
    _refused_everywhere("nested_subgraphs", tiny_export, tmp_path, capfd, monkeypatch,
                        "truncated or corrupt (subgraphs nested more than 64 deep)")


def test_defect_05_scanner_depth_is_bounded_not_the_stack():
    """The scanner refuses nesting past MAX_GRAPH_DEPTH with its own error, whatever the recursion limit
    allows, and still reads nesting up to it."""
    from signalpack.score.protobuf import MAX_GRAPH_DEPTH, ProtobufError

    def model(depth: int) -> bytes:
        graph = nested_subgraphs(depth)
        return bytes([0x08, 8]) + bytes([0x3A]) + _varint(len(graph)) + graph  # ir_version 8, graph

    info = scan_model(model(MAX_GRAPH_DEPTH))
    assert info.op_types.count("If") == MAX_GRAPH_DEPTH
    for depth in (MAX_GRAPH_DEPTH + 1, 3000):
        with pytest.raises(ProtobufError, match="nested more than 64 deep"):
            scan_model(model(depth))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)


def test_defect_05_nested_manifest_json_refused(tiny_export, tmp_path, capfd, monkeypatch):
    _refused_everywhere("nested_manifest_json", tiny_export, tmp_path, capfd, monkeypatch,
                        "the manifest JSON nests 100001 levels deep; at most 64 are allowed")


def test_defect_05_json_depth_is_measured_outside_strings():
    from signalpack.score.bundle import _json_depth

    assert _json_depth('{"a": [1, {"b": []}], "c": "[[[[{{{{"}') == 4
    assert _json_depth('"\\"[[[" ') == 0
    assert _json_depth("[" * 100_000) == 100_000


@pytest.mark.parametrize(("kind", "needle"), [
    ("feature_window_zero", "feature_spec.features[1].params.n: a window must be an integer in [1, 4096] (got 0)"),
    ("feature_window_fraction", "feature_spec.features[1].params.n: a window must be an integer in [1, 4096] (got 2.5)"),
    ("duplicate_feature_names", "feature_spec.features[1].name: \"ret_1\" repeats feature 0's name"),
])
def test_defect_05_feature_parameters_and_duplicate_names_refused(kind, needle, tiny_export, tmp_path, capfd,
                                                                    monkeypatch):
    """`verify` used to say OK and `run` then crashed (format 1); the FeatureSpec documents the graph
    now, and a spec this code could not compute is refused by every command."""
    _refused_everywhere(kind, tiny_export, tmp_path, capfd, monkeypatch, needle)


@pytest.mark.parametrize(("kind", "needle"), [
    ("golden_missing_output", "golden vectors lack the outputs ['signal']"),
    ("golden_as_list", 'the golden vectors must be a JSON object with exactly the keys "inputs" and "outputs"'),
])
def test_defect_05_incomplete_golden_vectors_refused(kind, needle, tiny_export, tmp_path, capfd, monkeypatch):
    _refused_everywhere(kind, tiny_export, tmp_path, capfd, monkeypatch, needle)


def test_defect_05_empty_golden_set_refused_before_onnxruntime_runs(tiny_export, tmp_path):
    """onnxruntime aborts the whole process (SIGABRT) when this graph is run on zero windows: the empty
    set must be refused before it gets there. A real process, so an abort would show as rc -6."""
    path = craft("golden_empty", tiny_export.bundle, tmp_path)
    for command in ("verify", "inspect"):
        r = _cli(command, str(path))
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert r.stderr.strip().splitlines() == [
            f"score: error: {path.name}: golden inputs are float64 [0, {load_bundle(tiny_export.bundle).window_rows}, 5], "
            f"not float64 windows of the manifest's shape [n >= 1, {load_bundle(tiny_export.bundle).window_rows}, 5]"]


def test_defect_05_an_empty_batch_never_reaches_onnxruntime(tiny_export):
    b = load_bundle(tiny_export.bundle)
    with pytest.raises(BundleError, match="refusing to run the graph on an empty batch"):
        b.run(np.zeros((0, b.window_rows, 5)))


def test_defect_05_graph_failing_at_run_time_refused_before_run_writes(tiny_export, tmp_path, capfd, monkeypatch):
    """A Reshape to a shape computed at run time ([4, 3]): the graph loads, then fails on the golden
    batch, at load — so `run` refuses it before reading the input or writing anything."""
    lines = _refused_everywhere("fails_at_run_time", tiny_export, tmp_path, capfd, monkeypatch,
                                "the graph fails at run time", "Reshape node", "crafted/reshape")
    assert all("cannot be reshaped" not in x or len(x) < 600 for x in lines)


def test_defect_05_two_class_probabilities_refused(tiny_export, tmp_path, capfd, monkeypatch):
    """`probabilities` shaped [batch, 2]: declared so (seen from the session's output metadata), or
    declared [batch, 3] and only produced [batch, 2] (seen when the golden inputs run at load)."""
    _refused_everywhere("probabilities_declared_two_classes", tiny_export, tmp_path, capfd, monkeypatch,
                        "graph output probabilities is tensor(float) ['batch', 2]; the manifest says float32 ['batch', 3]")
    _refused_everywhere("probabilities_two_classes_at_run_time", tiny_export, tmp_path, capfd, monkeypatch,
                        "graph output probabilities is float32 [32, 2] at run time; the manifest says float32 [32, 3]")


def test_defect_05_graph_failing_only_on_other_batches_fails_run_cleanly(tiny_export, tmp_path, capfd, monkeypatch):
    """A graph that passes the golden batch (32 windows) and fails on `run`'s batches of 512: the
    failure inside the scoring threads still ends as one line, exit 2, and no output or temp file."""
    import onnx as onnx_

    path = fails_at_run_time(tiny_export.bundle, tmp_path / "batch32.onnx")
    m = onnx_.load(str(path))
    shape = next(i for i in m.graph.initializer if i.name == "crafted/shape")
    shape.CopyFrom(numpy_helper.from_array(np.array([32, 3], np.int64), "crafted/shape"))
    path.write_bytes(m.SerializeToString())
    work = tmp_path / "work"
    work.mkdir()
    csv = work / "prices.csv"
    csv.write_text(GOOG.read_text())
    code, out, err = _score(capfd, monkeypatch, "run", str(csv), "--model", str(path), "--output", str(work / "o.parquet"))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("score: error: batch32.onnx: the graph fails at run time"), err
    assert sorted(p.name for p in work.iterdir()) == ["prices.csv"]


def test_defect_06_feature_window_beyond_the_supported_bounds_refused(tiny_export, tmp_path, capfd, monkeypatch):
    _refused_everywhere("feature_window_3000", tiny_export, tmp_path, capfd, monkeypatch,
                        "feature_spec.features[1].params.n: a window must be an integer in [1, 4096] (got 5000)")


@pytest.mark.parametrize("kind", ["feature_named_timestamp", "feature_named_symbol"])
def test_defect_06_feature_named_like_a_key_column_refused(kind, tiny_export, tmp_path, capfd, monkeypatch):
    name = "timestamp" if kind.endswith("timestamp") else "Symbol"
    _refused_everywhere(kind, tiny_export, tmp_path, capfd, monkeypatch,
                        f'feature_spec.features[2].name: "{name}" is the name of a key, output or input column')


def test_feature_bounds_agree_with_the_feature_code():
    """The scorer imports no feature code, so bundle.py restates each kind's parameters and look-back:
    they must equal score/features.py's, and a std-based window under 2 is one export refuses too."""
    import inspect as inspect_

    from signalpack.errors import ExportError
    from signalpack.export.feature_graph import feature_graph
    from signalpack.score.bundle import _FEATURE_PARAMS
    from signalpack.score.features import FEATURE_KINDS, FeatureDef, FeatureSpec

    assert set(_FEATURE_PARAMS) == set(FEATURE_KINDS)
    for kind, (rules, lookback) in _FEATURE_PARAMS.items():
        code = FEATURE_KINDS[kind].lookback
        assert sorted(rules) == sorted(inspect_.signature(code).parameters), kind
        for values in ({p: least + extra for p, (_, least) in rules.items()} for extra in (0, 1, 7, 40)):
            assert lookback(**values) == code(**values), (kind, values)
            spec = FeatureSpec("2", (FeatureDef.make("f", kind, **values),))
            feature_graph(spec, 4)  # the least values build
        if any(least == 2 for _, least in rules.values()):
            below = {p: least - 1 for p, (_, least) in rules.items()}
            with pytest.raises(ExportError, match="needs n >= 2"):
                feature_graph(FeatureSpec("2", (FeatureDef.make("f", kind, **below),)), 4)


def test_defect_12_inspect_escapes_control_characters(tiny_export, tmp_path, capfd, monkeypatch):
    """Escape sequences (terminal title, clear screen, C1 CSI, bidi override) and newlines in manifest
    fields reach `inspect` escaped: no control character, no extra line, a forged "Traceback" only as
    escaped text inside its field; `inspect --json` stays valid JSON and round-trips the text."""
    def edit(x):
        x["ensemble"]["weight_metric"] = INJECTED
        x["training_data"]["file"] = INJECTED * 40
        x["training_data"]["start"] = INJECTED
        x["training_data"]["segments"]["test"]["end"] = INJECTED
        x["versions"][INJECTED] = INJECTED
        x["feature_spec"]["version"] = INJECTED

    path = rewrite_manifest(tiny_export.bundle, tmp_path / "text.onnx", edit)
    code, clean, _ = _score(capfd, monkeypatch, "inspect", str(tiny_export.bundle))
    assert code == 0
    code, out, err = _score(capfd, monkeypatch, "inspect", str(path))
    assert code == 0 and err == ""
    assert all(c.isprintable() for line in out.splitlines() for c in line)
    assert len(out.splitlines()) == len(clean.splitlines())
    assert not any(line.startswith(("Traceback", "  File")) for line in out.splitlines())
    assert "(x\\x1b]0;pwned\\x07\\x1b[2J\\nTraceback (most recent call last):" in out
    assert "\\x9b" in out and "\\u202e" in out
    assert max(len(line) for line in out.splitlines()) < 3000  # long values are cut
    code, out, err = _score(capfd, monkeypatch, "inspect", "--json", str(path))
    assert code == 0 and all(c.isprintable() for line in out.splitlines() for c in line)
    assert json.loads(out)["manifest"]["ensemble"]["weight_metric"] == INJECTED


def test_defect_12_error_line_stays_one_line(tiny_export, tmp_path, capfd, monkeypatch):
    """onnxruntime's error quotes the failing node's name, which the bundle chose: a name carrying a
    newline, a forged traceback and escape sequences still gives exactly one escaped error line."""
    path = fails_at_run_time(tiny_export.bundle, tmp_path / "named.onnx", node_name=INJECTED)
    for argv in (["verify", str(path)], ["inspect", str(path)]):
        code, out, err = _score(capfd, monkeypatch, *argv)
        assert code == 2
        assert err.count("\n") == 1 and err.startswith("score: error: named.onnx: the graph fails at run time")
        assert all(c.isprintable() for c in err.rstrip("\n"))
        assert "\\x1b]0;pwned\\x07" in err


def test_defect_12_run_app_prints_any_error_as_one_escaped_line(monkeypatch, capfd):
    """The central guard: whatever a SignalpackError's text holds (a value from an input file, say),
    `run_app` prints it as one line with every control character escaped."""
    import typer

    from signalpack.errors import DataError
    from signalpack.score.cli import run_app

    boom = typer.Typer()

    @boom.command()
    def go() -> None:
        raise DataError(f"prices.csv: row 3: bad value {INJECTED!s}")

    monkeypatch.setattr(sys, "argv", ["score"])
    with pytest.raises(SystemExit) as exit_info:
        run_app(boom, "score")
    err = capfd.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("score: error: prices.csv: row 3: bad value x\\x1b]0;pwned\\x07")
    assert all(c.isprintable() for c in err.rstrip("\n"))


@pytest.mark.parametrize(("kind", "needle"), [
    ("nan_threshold", "the manifest holds the non-finite number NaN; JSON has no NaN or Infinity"),
    ("huge_float", "the manifest holds the non-finite number 1e999"),
])
def test_defect_12_non_finite_numbers_refused_at_parse_time(kind, needle, tiny_export, tmp_path, capfd, monkeypatch):
    """A NaN threshold passed the schema and `inspect --json` then printed `NaN` (invalid JSON)."""
    _refused_everywhere(kind, tiny_export, tmp_path, capfd, monkeypatch, needle)


def test_golden_vectors_with_non_finite_floats_refused(tiny_export, tmp_path):
    from tests.score.crafted_bundles import _array, _tensor, rewrite_golden

    def nan_bars(doc):
        bars = _array(doc["inputs"]["ohlcv"]).copy()
        bars[3, 7, 2] = np.inf
        doc["inputs"]["ohlcv"] = _tensor(bars)

    path = rewrite_golden(tiny_export.bundle, tmp_path / "inf.onnx", nan_bars)
    with pytest.raises(BundleError, match=r'golden vectors are unreadable: golden array "ohlcv": holds NaN or infinite'):
        load_bundle(path)


def test_signal_mismatch_is_reported_as_a_signal_mismatch(tiny_export, tmp_path):
    """A verify failure caused only by signals names the signals, not the worst probability difference."""
    from signalpack.score.bundle import VerifyReport

    report = VerifyReport(1e-5, 32, {"probabilities": 1e-7, "confidence": 0.0, "member_probabilities": 2e-7}, 3)
    with pytest.raises(VerifyMismatch, match="golden vectors do not reproduce: 3 of 32 signals differ beyond a tie"):
        report.raise_if_failed("b.onnx")
    report = VerifyReport(1e-5, 32, {"probabilities": 0.2, "confidence": 0.0, "member_probabilities": 0.3}, 0)
    with pytest.raises(VerifyMismatch, match="member_probabilities max abs diff 0.3 > atol 1e-05"):
        report.raise_if_failed("b.onnx")


def test_printable_escapes_and_cuts():
    from signalpack.errors import first_line, printable

    assert printable("a\x1b[31mb\nc\td\x7f\x85\u2028\u202e") == "a\\x1b[31mb\\nc\\td\\x7f\\x85\\u2028\\u202e"
    assert printable("é✓…") == "é✓…"
    assert printable("x" * 500, 10) == "x" * 9 + "…"
    assert printable("\x1b" * 500, 10).endswith("…") and len(printable("\x1b" * 500, 10)) == 10
    assert first_line(ValueError("one\x1b]0;t\x07\ntwo")) == "one\\x1b]0;t\\x07"

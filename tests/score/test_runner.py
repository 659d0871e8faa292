"""`score run`: output schema, exact chunking, symbol independence, atomic and idempotent output."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import jsonschema
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalpack.errors import DataError, OutputError
from signalpack.schemas import load_schema
from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle, verify_bundle
from signalpack.score.contract import OUTPUT_COLUMNS
from signalpack.score.features import default_feature_spec
from signalpack.score.io import load_ohlcv
from signalpack.score.runner import default_output_path, score_file, score_frame
from tests.conftest import EURUSD, GOOG, SP500, rewrite_manifest


@pytest.fixture(scope="module")
def bundle(tiny_export):
    return load_bundle(tiny_export.bundle)


def _multi(n_symbols: int, rows: int = 600) -> pl.DataFrame:
    """Up to 6 real series (slices of the three real files), each with its own symbol."""
    sources = [load_ohlcv(p).frame for p in (SP500, GOOG, EURUSD)]
    parts = []
    for i in range(n_symbols):
        src = sources[i % 3]
        start = (i // 3) * rows
        parts.append(src.slice(start, rows).with_columns(pl.lit(f"S{i}").alias("symbol")))
    return pl.concat(parts)


def _write(frame: pl.DataFrame, path) -> None:
    frame.rename({"timestamp": "Date"}).write_parquet(path)


@pytest.fixture(scope="module")
def multi_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("multi") / "multi.parquet"
    _write(_multi(4), path)
    return path


def test_output_schema(bundle, multi_file, tmp_path):
    out = tmp_path / "out.parquet"
    summary = score_file(multi_file, bundle, out)
    df = pl.read_parquet(out)
    schema = load_schema("output")
    assert tuple(df.columns) == OUTPUT_COLUMNS == tuple(schema["x-column-order"])
    assert {c: str(t) for c, t in df.schema.items()} == {c: schema["properties"][c]["x-parquet-type"] for c in df.columns}
    for row in df.head(50).iter_rows(named=True):
        row["timestamp"] = row["timestamp"].isoformat()
        jsonschema.validate(row, schema)
    assert df.height == summary.rows_scored == 4 * (600 - 58)
    assert (df["model_id"] == bundle.model_id).all()
    assert (df["actionable"] == (df["confidence"] >= bundle.threshold)).all()
    probs = df.select("prob_sell", "prob_hold", "prob_buy").to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_symbols=st.integers(1, 5), chunk_rows=st.integers(60, 1500), rows=st.integers(40, 400))
def test_chunked_equals_whole_file(bundle, tmp_path, n_symbols, chunk_rows, rows):
    frame = _multi(n_symbols, rows)
    path = tmp_path / f"in_{n_symbols}_{chunk_rows}_{rows}.parquet"
    _write(frame, path)
    out = tmp_path / f"out_{n_symbols}_{chunk_rows}_{rows}.parquet"
    min_rows = default_feature_spec().lookback + bundle.seq_len
    if rows < min_rows:
        with pytest.raises(DataError, match="than one window needs"):
            score_file(path, bundle, out, chunk_rows=chunk_rows)
        assert not out.exists()
        return
    score_file(path, bundle, out, chunk_rows=chunk_rows)
    whole = score_frame(load_ohlcv(path).frame, bundle)
    got = pl.read_parquet(out)
    assert got.equals(whole)


def test_symbol_alone_equals_symbol_in_multi_file(bundle, multi_file, tmp_path):
    score_file(multi_file, bundle, tmp_path / "all.parquet")
    both = pl.read_parquet(tmp_path / "all.parquet")
    alone = _multi(4).filter(pl.col("symbol") == "S1")
    _write(alone, tmp_path / "s1.parquet")
    score_file(tmp_path / "s1.parquet", bundle, tmp_path / "s1_out.parquet")
    assert pl.read_parquet(tmp_path / "s1_out.parquet").equals(both.filter(pl.col("symbol") == "S1"))


def test_concurrent_inference_gives_the_same_file(tiny_export, multi_file, tmp_path):
    """`--threads N` runs batches concurrently on a single-threaded session: same bytes as one thread."""
    single = load_bundle(tiny_export.bundle, threads=1)
    score_file(multi_file, single, tmp_path / "one.parquet", chunk_rows=1000, batch_size=64, threads=1)
    score_file(multi_file, single, tmp_path / "three.parquet", chunk_rows=1000, batch_size=64, threads=3)
    one, three = (tmp_path / "one.parquet").read_bytes(), (tmp_path / "three.parquet").read_bytes()
    assert pl.read_parquet(tmp_path / "one.parquet").height > 5 * 64  # several batches per run
    assert one == three


def test_rerun_is_byte_identical(bundle, multi_file, tmp_path):
    digests = []
    for _ in range(2):
        score_file(multi_file, bundle, tmp_path / "o.parquet", overwrite=True, chunk_rows=700)
        digests.append(hashlib.sha256((tmp_path / "o.parquet").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_unsorted_input_is_sorted_in_memory(bundle, multi_file, tmp_path):
    frame = pl.read_parquet(multi_file).sample(fraction=1.0, shuffle=True, seed=3)
    frame.write_parquet(tmp_path / "shuffled.parquet")
    summary = score_file(tmp_path / "shuffled.parquet", bundle, tmp_path / "a.parquet")
    score_file(multi_file, bundle, tmp_path / "b.parquet")
    assert summary.sorted_in_memory
    assert pl.read_parquet(tmp_path / "a.parquet").equals(pl.read_parquet(tmp_path / "b.parquet"))


def test_short_symbol_is_skipped_and_counted(bundle, tmp_path):
    frame = pl.concat([_multi(2), _multi(3).filter(pl.col("symbol") == "S2").head(30)])
    _write(frame, tmp_path / "short.parquet")
    summary = score_file(tmp_path / "short.parquet", bundle, tmp_path / "o.parquet")
    assert summary.short_symbols == {"S2": 30}
    assert summary.warmup_skipped["S2"] == 30 and summary.symbols == 2
    assert set(pl.read_parquet(tmp_path / "o.parquet")["symbol"].unique()) == {"S0", "S1"}


def test_exception_mid_write_leaves_nothing(bundle, multi_file, tmp_path, monkeypatch):
    import signalpack.score.runner as runner

    calls = {"n": 0}
    real = runner.infer

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "infer", flaky)
    out = tmp_path / "o.parquet"
    with pytest.raises(RuntimeError, match="injected"):
        score_file(multi_file, bundle, out, chunk_rows=500)
    assert calls["n"] == 3
    assert list(tmp_path.iterdir()) == []
    # an old output survives a failed rerun untouched
    out.write_bytes(b"old")
    calls["n"] = 0
    with pytest.raises(RuntimeError):
        score_file(multi_file, bundle, out, chunk_rows=500, overwrite=True)
    assert out.read_bytes() == b"old" and list(tmp_path.iterdir()) == [out]


def test_output_exists_and_missing_folder(bundle, multi_file, tmp_path):
    out = tmp_path / "o.parquet"
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        score_file(multi_file, bundle, out)
    assert out.read_bytes() == b"old"
    with pytest.raises(OutputError, match="does not exist"):
        score_file(multi_file, bundle, tmp_path / "nope" / "o.parquet")


def test_default_output_path(tmp_path):
    assert default_output_path(tmp_path / "prices.csv.gz").name == "prices.signals.parquet"
    assert default_output_path(tmp_path / "p.parquet").name == "p.signals.parquet"


def test_default_bundle_is_current_and_verifies():
    b = load_bundle(DEFAULT_BUNDLE)
    assert b.manifest["format_version"] == 2
    assert b.manifest["feature_spec"] == default_feature_spec().to_dict()
    assert b.window_rows == default_feature_spec().lookback + b.seq_len
    assert verify_bundle(b).passed
    assert b.manifest["training_data"]["file"] == "sp500_daily.csv.gz"
    assert b.manifest["threshold"]["mode"] == "auto" and b.manifest["threshold"]["segment"] == "validation"
    assert isinstance(b.manifest["verdict"]["model_skill"], bool) and b.manifest["verdict"]["reasons"]


def _score_cli(*args: str, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_cli_run_with_default_bundle_and_summary(tmp_path):
    src = tmp_path / "goog.csv"
    src.write_bytes(GOOG.read_bytes())
    r = _score_cli("run", str(src), "--summary", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "goog.signals.parquet"
    assert out.is_file()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("scored 2,090 of 2,148 rows")
    # GOOG is one stock, the bundle was trained on the S&P 500 index: the drift alarm says so, in one line
    assert lines[0].startswith("score: warning: drift: psi ") and "gap" in lines[0]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["rows_read"] == 2148 and summary["rows_scored"] == 2090
    assert summary["warmup_skipped"] == {"": 58} and summary["bundle_id"] == load_bundle(DEFAULT_BUNDLE).model_id
    assert sum(summary["signal_distribution"].values()) == 2090
    # the bundle's threshold was chosen on validation, so `actionable` marks rows (the design's 0.6 marked none)
    signals = pl.read_parquet(out)
    threshold = load_bundle(DEFAULT_BUNDLE).manifest["confidence_threshold"]
    assert 0 < signals["actionable"].sum() < signals.height
    assert signals["actionable"].to_list() == (signals["confidence"] >= threshold).to_list()
    r = _score_cli("run", str(src))
    assert r.returncode == 2 and "already exists" in r.stderr


def test_cli_model_from_environment(tmp_path, tiny_export):
    import os

    src = tmp_path / "goog.csv"
    src.write_bytes(GOOG.read_bytes())
    r = _score_cli("run", str(src), env={**os.environ, "SCORE_MODEL": str(tiny_export.bundle)})
    assert r.returncode == 0, r.stderr
    assert pl.read_parquet(tmp_path / "goog.signals.parquet")["model_id"][0] == tiny_export.sha256[:12]


def _swap_two_features(m):
    feats = m["feature_spec"]["features"]
    feats[0], feats[5] = feats[5], feats[0]
    m["feature_spec"]["version"] = "99"


def test_feature_spec_in_the_manifest_is_documentation_only(tiny_export, tmp_path):
    """Format 1 computed features from the manifest's FeatureSpec, so swapping two entries changed 1 in 4
    GOOG signals unnoticed. Format 2 computes them in the graph: the same edit changes no output value."""
    edited = rewrite_manifest(tiny_export.bundle, tmp_path / "swapped.onnx", _swap_two_features)
    src = tmp_path / "goog.csv"
    src.write_bytes(GOOG.read_bytes())
    outs = {}
    for name, model in (("original", tiny_export.bundle), ("swapped", edited)):
        r = _score_cli("run", str(src), "--model", str(model), "-o", str(tmp_path / f"{name}.parquet"))
        assert r.returncode == 0, r.stderr
        outs[name] = pl.read_parquet(tmp_path / f"{name}.parquet").drop("model_id")
    assert outs["original"].height == 2090
    assert outs["swapped"].equals(outs["original"])  # bit for bit, signals included
    assert _score_cli("verify", str(edited)).returncode == 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("2004-08-20,101.01,109.08", "2004-08-20,101.01,abc", 1), "value 'abc': not a number"),
        (lambda t: t.replace("Volume", "Vol", 1), "missing column volume"),
        (lambda t: t.replace(",", ";"), "semicolon-delimited"),
        (lambda t: t + t.splitlines()[-1] + "\n", "duplicate timestamp"),
    ],
)
def test_cli_run_bad_input_leaves_no_output(tmp_path, edit, message):
    src = tmp_path / "bad.csv"
    src.write_text(edit(GOOG.read_text()))
    r = _score_cli("run", str(src))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "bad.csv" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_progress_only_on_a_terminal():
    import io

    from signalpack.score.progress import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain, tty = io.StringIO(), Tty()
    for stream in (plain, tty):
        with Progress(stream, every=0.0) as bar:
            bar.update(1000)
    assert plain.getvalue() == "" and "1,000 rows read" in tty.getvalue()

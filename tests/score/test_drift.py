"""Drift and data-quality alarms (issue 15, item 3): the drift features, the PSI, the manifest's reference,
`score run`'s summary, warning line and --fail-on-drift exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from signalpack.errors import BundleError, RunDirError
from signalpack.score.bar_windows import bar_matrix
from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle
from signalpack.score.drift import (
    DRIFT_FEATURES,
    MIN_ROWS,
    NOT_AVAILABLE,
    PSI_DRIFT,
    SHARE_FLOOR,
    DriftAccumulator,
    drift_features_for,
    drift_values,
    psi,
    reference_from_values,
)
from signalpack.score.features import compute_features, default_feature_spec
from signalpack.score.io import load_ohlcv
from signalpack.score.runner import score_file
from signalpack.score.windows import window_ends
from tests.conftest import GOOG, SP500, rewrite_manifest


def _score_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def _bars_and_ends(frame: pl.DataFrame, width: int) -> tuple[np.ndarray, np.ndarray]:
    return bar_matrix(frame), window_ends(frame.get_column("symbol").rle_id().to_numpy(), width)


def _doubled_volatility(frame: pl.DataFrame) -> pl.DataFrame:
    """Every log return doubled, prices rebuilt: ln p' = 2 ln p - ln c0 for open, high, low and close (the
    first close kept). Monotone, so high >= open, close >= low still holds; volume untouched."""
    c0 = float(frame.get_column("close")[0])
    return frame.with_columns((2 * pl.col(c).log() - np.log(c0)).exp().alias(c)
                              for c in ("open", "high", "low", "close"))


def _write_csv(frame: pl.DataFrame, path):
    frame.drop("symbol").with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%d").alias("date")) \
        .select("date", "open", "high", "low", "close", "volume").write_csv(path)
    return path


# ---- the drift features and the statistic


def test_drift_features_are_the_models_own_features_bit_for_bit():
    """Each drift feature is the default FeatureSpec's feature of that name, recomputed without the feature
    code (the scorer may not import it): equal on every scored row of the S&P 500 file."""
    frame = load_ohlcv(SP500).frame
    bars, ends = _bars_and_ends(frame, 59)
    ours = drift_values(bars, ends, list(DRIFT_FEATURES))
    theirs = compute_features(frame, default_feature_spec()).join(
        frame.select("timestamp")[ends], on="timestamp", how="semi")
    assert set(DRIFT_FEATURES) <= set(default_feature_spec().names)
    for name in DRIFT_FEATURES:
        assert np.array_equal(ours[name], theirs.get_column(name).to_numpy()), name


def test_drift_values_do_not_depend_on_where_a_chunk_starts():
    frame = load_ohlcv(GOOG).frame
    bars, ends = _bars_and_ends(frame, 59)
    whole = drift_values(bars, ends, list(DRIFT_FEATURES))
    later = drift_values(bars[1000:], ends[ends >= 1058] - 1000, list(DRIFT_FEATURES))  # 58 rows of overlap
    for name in DRIFT_FEATURES:
        assert np.array_equal(whole[name][ends >= 1058], later[name]), name


def test_psi_is_zero_on_identical_shares_and_grows_with_the_shift():
    shares = np.full(10, 0.1)
    assert psi(np.full(10, 7), shares) == 0.0
    mild = psi(np.array([8, 9, 10, 10, 10, 10, 10, 10, 11, 12]), shares)
    strong = psi(np.array([30, 5, 5, 5, 5, 5, 5, 5, 5, 30]), shares)
    assert 0 < mild < 0.1 < PSI_DRIFT < strong
    # an empty bin counts with the floor, not as zero (which would make the PSI infinite)
    empty = psi(np.array([0, 10, 10, 10, 10, 10, 10, 10, 10, 10]), shares)
    assert np.isfinite(empty) and empty == pytest.approx(
        (SHARE_FLOOR - 0.1) * np.log(SHARE_FLOOR / 0.1) + 9 * (1 / 9 - 0.1) * np.log((1 / 9) / 0.1))


def test_reference_bins_hold_their_shares_even_with_ties():
    values = {"volume_z_20": np.r_[np.zeros(500), np.linspace(-2, 2, 500)]}  # half the rows tie at 0
    ref = reference_from_values(values, "train")
    f = ref["features"]["volume_z_20"]
    assert len(f["edges"]) == 9 and len(f["shares"]) == 10 and sum(f["shares"]) == pytest.approx(1)
    acc = DriftAccumulator(ref)
    acc.counts["volume_z_20"] += np.bincount(np.searchsorted(f["edges"], values["volume_z_20"], side="right"),
                                             minlength=10)
    acc.rows = 1000
    assert acc.result()["features"]["volume_z_20"]["psi"] == 0.0


def test_a_short_window_carries_only_the_features_it_can_compute():
    assert drift_features_for(59) == list(DRIFT_FEATURES)
    assert drift_features_for(20) == ["ret_1", "bar_range", "gap", "body", "volume_z_20"]  # vol_20 reads 20 back
    assert drift_features_for(1) == ["bar_range", "body"]


# ---- the manifest's reference (export) and its checks (load)


def test_export_stores_the_training_segments_reference(tiny_export, tiny_run):
    ref = load_bundle(tiny_export.bundle).drift_reference
    assert ref is not None and ref["statistic"] == "psi" and ref["bins"] == 10 and ref["segment"] == "train"
    assert sorted(ref["features"]) == sorted(DRIFT_FEATURES)
    frame = load_ohlcv(SP500).frame
    bars, ends = _bars_and_ends(frame, load_bundle(tiny_export.bundle).window_rows)
    cut = datetime.fromisoformat(tiny_run.metadata["split"]["validation_start"])
    train = ends[(frame.get_column("timestamp").gather(ends) < cut).to_numpy()]
    assert ref["windows"] == len(train)
    vol = drift_values(bars, train, ["vol_20"])["vol_20"]
    assert ref["features"]["vol_20"]["edges"] == [float(x) for x in np.quantile(vol, np.arange(1, 10) / 10)]


def test_training_writes_the_reference_that_export_would_compute(tiny_run):
    """The run directory's drift_reference.json (training) equals export's own computation from the
    embedded training file: the same rows, the same code."""
    from signalpack.export.drift_reference import drift_reference
    from signalpack.train.rundir import DRIFT_REFERENCE

    stored = json.loads((tiny_run.run_dir / DRIFT_REFERENCE).read_text())
    assert stored["segment"] == "train"
    assert drift_reference(tiny_run.run_dir, tiny_run.metadata, 59) == stored
    assert drift_reference(tiny_run.run_dir, tiny_run.metadata, 59, training_data=SP500) == stored


def test_export_falls_back_to_the_test_windows_and_checks_a_given_file(tiny_run, tmp_path):
    import shutil

    from signalpack.export.drift_reference import drift_reference
    from signalpack.train.rundir import DRIFT_REFERENCE, TEST_BARS, read_npy

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run_dir)
    (run_dir / DRIFT_REFERENCE).unlink()  # a run directory without the training-time reference
    meta = json.loads(json.dumps(tiny_run.metadata))
    meta["data"]["sha256"] = "0" * 64  # the recorded file is nowhere to be found
    ref = drift_reference(run_dir, meta, 59)
    assert ref["segment"] == "test" and ref["windows"] == len(read_npy(run_dir / TEST_BARS))
    other = tmp_path / "goog.csv"
    other.write_bytes(GOOG.read_bytes())
    with pytest.raises(RunDirError, match="is not the run's training data"):
        drift_reference(run_dir, tiny_run.metadata, 59, training_data=other)
    given = drift_reference(run_dir, tiny_run.metadata, 59, training_data=SP500)
    assert given == drift_reference(run_dir, tiny_run.metadata, 59)  # the embedded file, found by sha256
    (run_dir / DRIFT_REFERENCE).write_text('{"features": 3}')
    with pytest.raises(RunDirError, match="drift_reference.json: drift_reference"):
        drift_reference(run_dir, tiny_run.metadata, 59)


@pytest.mark.parametrize(("change", "needle"), [
    (lambda r: r["features"]["ret_1"]["shares"].__setitem__(0, 0.5), "drift_reference.features.ret_1.shares: sum to"),
    (lambda r: r["features"]["gap"]["edges"].reverse(), "drift_reference.features.gap.edges: must be non-decreasing"),
    (lambda r: r["features"].clear(), "drift_reference.features: names no feature"),
    (lambda r: r["features"].__setitem__("close", r["features"]["ret_1"]), "does not match its schema"),
    (lambda r: r["features"]["body"]["edges"].append(1.0), "does not match its schema"),
    (lambda r: r["features"]["body"]["edges"].pop(), "drift_reference.features.body: holds 8 edges and 10 shares"),
    (lambda r: r["features"]["body"]["shares"].pop(), "drift_reference.features.body: holds 9 edges and 9 shares"),
    (lambda r: r.__setitem__("bins", 20), "does not match its schema"),
])
def test_a_broken_reference_refuses_the_bundle(tiny_export, tmp_path, change, needle):
    def edit(manifest):
        change(manifest["drift_reference"])

    path = rewrite_manifest(tiny_export.bundle, tmp_path / "b.onnx", edit)
    with pytest.raises(BundleError, match="b.onnx: ") as info:
        load_bundle(path)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_a_feature_that_reads_past_the_window_is_refused(tiny_export, tmp_path):
    """window_rows cannot shrink without the golden vectors changing, so shrink what a feature may read: the check
    is look-back <= window_rows - 1, stated on the real bundle by pretending vol_20 reads 59 rows back."""
    from signalpack.score import drift

    real = drift.DRIFT_FEATURES["vol_20"]
    drift.DRIFT_FEATURES["vol_20"] = drift.DriftFeature("vol_20", 59, real.formula, real.build)
    try:
        with pytest.raises(BundleError, match="vol_20: reads 59 rows back, more than a window of 59 rows"):
            load_bundle(tiny_export.bundle)
    finally:
        drift.DRIFT_FEATURES["vol_20"] = real


# ---- score run: the summary, the warning and the exit code


@pytest.fixture(scope="module")
def sp500_files(tmp_path_factory, tiny_run):
    """The training segment alone, the whole file, and the whole file with its volatility doubled (CSV)."""
    folder = tmp_path_factory.mktemp("drift")
    frame = load_ohlcv(SP500).frame
    cut = datetime.fromisoformat(tiny_run.metadata["split"]["validation_start"])
    return {
        "train": _write_csv(frame.filter(pl.col("timestamp") < cut), folder / "train.csv"),
        "whole": _write_csv(frame, folder / "whole.csv"),
        "doubled": _write_csv(_doubled_volatility(frame), folder / "doubled.csv"),
    }


@pytest.mark.slow
def test_psi_is_zero_on_the_training_data_and_fires_on_doubled_volatility(tiny_export, sp500_files, tmp_path):
    model = str(tiny_export.bundle)
    # the training segment itself: the very rows the reference was cut from
    r = _score_cli("run", str(sp500_files["train"]), "--model", model, "-o", str(tmp_path / "t.parquet"),
                   "--summary", str(tmp_path / "t.json"), "--fail-on-drift")
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    drift = json.loads((tmp_path / "t.json").read_text())["drift"]
    assert drift["available"] and drift["judged"] and drift["reference_segment"] == "train"
    assert {n: f["psi"] for n, f in drift["features"].items()} == dict.fromkeys(DRIFT_FEATURES, 0.0)
    assert drift["drifted"] == []

    # the whole file (validation and test segments too): no alarm on the model's own market
    r = _score_cli("run", str(sp500_files["whole"]), "--model", model, "-o", str(tmp_path / "w.parquet"),
                   "--summary", str(tmp_path / "w.json"), "--fail-on-drift")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    whole = json.loads((tmp_path / "w.json").read_text())["drift"]
    assert max(f["psi"] for f in whole["features"].values()) < PSI_DRIFT

    # volatility doubled: one warning line naming the drifted features, exit 0 without --fail-on-drift ...
    r = _score_cli("run", str(sp500_files["doubled"]), "--model", model, "-o", str(tmp_path / "d.parquet"),
                   "--summary", str(tmp_path / "d.json"))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("scored "), r.stderr
    assert lines[0].startswith("score: warning: drift: psi ") and "(> 0.25)" in lines[0]
    doubled = json.loads((tmp_path / "d.json").read_text())["drift"]
    assert {"vol_20", "bar_range"} <= set(doubled["drifted"])
    assert doubled["features"]["vol_20"]["psi"] > 4 * PSI_DRIFT
    for name in doubled["drifted"]:
        assert f"on {name}" in lines[0]
    assert doubled["features"]["volume_z_20"]["level"] == "ok"  # volume was not touched

    # ... and exit 3 with it, the output and the summary still written, the same as without
    out = tmp_path / "d3.parquet"
    r = _score_cli("run", str(sp500_files["doubled"]), "--model", model, "-o", str(out),
                   "--summary", str(tmp_path / "d3.json"), "--fail-on-drift")
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines()[0] == lines[0]
    assert pl.read_parquet(out).equals(pl.read_parquet(tmp_path / "d.parquet"))
    assert json.loads((tmp_path / "d3.json").read_text())["drift"] == doubled


def test_drift_counts_do_not_depend_on_the_chunk_size(tiny_export, sp500_files, tmp_path):
    bundle = load_bundle(tiny_export.bundle, threads=1)
    whole = score_file(sp500_files["doubled"], bundle, tmp_path / "a.parquet", chunk_rows=100_000)
    chunked = score_file(sp500_files["doubled"], bundle, tmp_path / "b.parquet", chunk_rows=1000)
    assert whole.drift["rows"] == whole.rows_scored == chunked.drift["rows"]
    assert whole.drift == chunked.drift and whole.drift["drifted"]


def test_few_scored_rows_are_reported_but_not_judged(tiny_export, sp500_files, tmp_path):
    frame = load_ohlcv(sp500_files["doubled"]).frame.head(58 + MIN_ROWS - 1)
    small = _write_csv(frame, tmp_path / "small.csv")
    result = score_file(small, load_bundle(tiny_export.bundle, threads=1), tmp_path / "s.parquet")
    assert result.drift["rows"] == MIN_ROWS - 1 and not result.drift["judged"]
    assert result.drift["features"]["vol_20"]["psi"] > PSI_DRIFT  # the shift is there, too few rows to judge it
    assert {f["level"] for f in result.drift["features"].values()} == {"not judged"}
    assert result.drift["drifted"] == [] and result.drift_warning is None


def test_a_bundle_without_reference_scores_and_says_drift_is_not_available(tmp_path, tiny_export):
    src = tmp_path / "goog.csv"
    src.write_bytes(GOOG.read_bytes())
    old = rewrite_manifest(tiny_export.bundle, tmp_path / "old.onnx", lambda m: m.pop("drift_reference"))
    assert load_bundle(old).drift_reference is None  # as exported before drift statistics
    r = _score_cli("run", str(src), "--model", str(old), "--summary", str(tmp_path / "s.json"), "--fail-on-drift")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("scored 2,090 of 2,148 rows")
    assert lines[0] == (f"score: warning: drift: not available ({NOT_AVAILABLE}); --fail-on-drift had nothing "
                        "to check")
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["drift"] == {"available": False, "reason": "bundle exported before drift statistics"}


def test_the_default_bundle_carries_its_training_reference():
    ref = load_bundle(DEFAULT_BUNDLE).drift_reference
    assert ref is not None and ref["segment"] == "train" and ref["windows"] > 3000


def test_fail_on_drift_is_refused_with_the_spark_engine(tmp_path):
    src = tmp_path / "goog.csv"
    src.write_bytes(GOOG.read_bytes())
    r = _score_cli("run", str(src), "--engine", "spark", "--fail-on-drift")
    assert r.returncode == 2 and r.stderr.startswith("score: error: --fail-on-drift needs --engine local"), r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["goog.csv"]


# ---- data quality


def test_data_quality_reports_short_and_stale_symbols_and_each_range(tmp_path):
    frame = load_ohlcv(GOOG).frame
    parts = [frame.with_columns(pl.lit("FULL").alias("symbol")),
             frame.head(300).with_columns(pl.lit("STALE").alias("symbol")),  # delisted early
             frame.tail(30).with_columns(pl.lit("SHORT").alias("symbol"))]   # too short to score, but current
    src = tmp_path / "panel.parquet"
    pl.concat(parts).write_parquet(src)
    result = score_file(src, load_bundle(DEFAULT_BUNDLE, threads=1), tmp_path / "o.parquet", chunk_rows=1000)
    dq = result.to_dict()["data_quality"]
    ts = frame.get_column("timestamp")
    newest = ts.max().isoformat()
    assert dq["symbols_seen"] == 3 and dq["short_symbols"] == 1 and dq["short_share"] == pytest.approx(1 / 3, abs=1e-6)
    assert dq["newest_bar"] == newest
    assert dq["stale_symbols"] == {"STALE": ts[299].isoformat()}
    assert dq["stale_share"] == pytest.approx(1 / 3, abs=1e-6)
    assert dq["symbol_ranges"] == {
        "FULL": {"first": ts[0].isoformat(), "last": newest, "rows": frame.height, "scored": frame.height - 58},
        "STALE": {"first": ts[0].isoformat(), "last": ts[299].isoformat(), "rows": 300, "scored": 300 - 58},
        "SHORT": {"first": ts[-30].isoformat(), "last": newest, "rows": 30, "scored": 0},
    }
    assert f"1 ending before {newest}" in result.line()

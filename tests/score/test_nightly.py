"""The worked nightly job (docs/examples/nightly_score.sh, docs/nightly.md) run for real: incremental,
idempotent, and its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from signalpack.score.io import load_ohlcv
from tests.conftest import GOOG, ROOT, SP500

SCRIPT = ROOT / "docs" / "examples" / "nightly_score.sh"
SCORE = Path(sys.executable).with_name("score")

pytestmark = pytest.mark.slow  # several scorer processes


def _hive(frame: pl.DataFrame, root: Path) -> Path:
    """The bars as a hive dataset, one partition per year (every file keeps its timestamp column)."""
    for (year,), part in frame.with_columns(pl.col("timestamp").dt.year().alias("y")).partition_by(
            "y", as_dict=True).items():
        folder = root / f"year={year}"
        folder.mkdir(parents=True)
        part.drop("y").write_parquet(folder / "part-0.parquet")
    return root


def _nightly(prices: Path, out: Path, day: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCORE_BIN": str(SCORE)}
    return subprocess.run(["bash", str(SCRIPT), str(prices), str(out), day], capture_output=True, text=True,
                          env=env, timeout=300)


def _frame(path: Path, symbol: str) -> pl.DataFrame:
    return load_ohlcv(path).frame.select(
        pl.lit(symbol).alias("symbol"), "timestamp", "open", "high", "low", "close", "volume")


def test_the_nightly_script_scores_one_day_and_a_rerun_is_identical(tmp_path):
    bars = _frame(SP500, "SPX")  # the default bundle's own training data: no drift
    prices = _hive(bars, tmp_path / "prices")
    full = tmp_path / "full.parquet"
    bars.write_parquet(tmp_path / "all.parquet")
    r = subprocess.run([str(SCORE), "run", str(tmp_path / "all.parquet"), "--output", str(full)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    day = "2018-12-31"
    out = tmp_path / "signals"
    r = _nightly(prices, out, day)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"signals for {day}: {out}/signals-{day}.parquet"
    night = out / f"signals-{day}.parquet"
    want = pl.read_parquet(full).filter(pl.col("timestamp") >= pl.datetime(2018, 12, 31))
    assert want.height == 1 and pl.read_parquet(night).equals(want)  # the matching tail of the full run
    summary = json.loads((out / f"summary-{day}.json").read_text())
    assert summary["rows_scored"] == 1
    first = night.read_bytes()
    r = _nightly(prices, out, day)  # the same night again: idempotent
    assert r.returncode == 0, r.stderr
    assert night.read_bytes() == first
    events = [json.loads(line) for line in (out / "score.log").read_text().splitlines()]
    assert [e["event"] for e in events].count("summary") == 2  # the log keeps both runs, one JSON object per line


def test_drift_exits_3_with_the_output_written_and_bad_input_exits_2_with_nothing(tmp_path):
    prices = _hive(_frame(GOOG, "GOOG"), tmp_path / "goog")  # one stock against a bundle trained on the index
    out = tmp_path / "signals"
    day = "2012-01-03"  # about 290 scored rows: enough to judge drift
    r = _nightly(prices, out, day)
    assert r.returncode == 3, r.stderr
    assert "drifted from training" in r.stderr
    assert (out / f"signals-{day}.parquet").is_file()
    assert json.loads((out / f"summary-{day}.json").read_text())["drift"]["drifted"]

    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close,volume\n2020-01-02,1,2,0.5,oops,10\n")
    day = date(2020, 1, 2).isoformat()
    r = _nightly(bad, out, day)
    assert r.returncode == 2 and f"scoring {day} failed (exit 2)" in r.stderr
    assert not (out / f"signals-{day}.parquet").exists() and not (out / f"summary-{day}.json").exists()
    last = json.loads((out / "score.log").read_text().splitlines()[-1])
    assert last["event"] == "error" and last["exit_code"] == 2 and "oops" in last["message"]

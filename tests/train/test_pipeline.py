"""End to end on real data: `train_run` on the embedded S&P 500 file writes a complete, honest run directory."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import numpy as np
import polars as pl
import pytest

from signalpack.evaluation.summary import summary_table
from signalpack.schemas import load_schema
from signalpack.train.rundir import REQUIRED_FILES, check_run_dir
from tests.conftest import GOOG, TINY_EPOCHS

EXPECTED = {
    *REQUIRED_FILES, "member_0.keras", "member_1.keras", "member_2.keras",
    "predictions.csv", "trades.csv", "equity.csv", "history.csv", "train.log", "random_returns.csv",
    "drift_reference.json",
}


def test_run_directory_is_complete(tiny_run):
    names = {p.name for p in tiny_run.run_dir.iterdir()}
    traded = tiny_run.metadata["simulation"]["strategy"]["n_trades"] > 0
    assert names == EXPECTED | ({"nulls.csv"} if traded else set())
    assert not any(n.endswith((".pkl", ".pickle", ".joblib")) for n in names)
    assert not list(tiny_run.run_dir.parent.glob(".*partial*"))
    meta = check_run_dir(tiny_run.run_dir)
    assert meta == tiny_run.metadata


def test_metadata_and_config_match_their_schemas(tiny_run):
    meta = json.loads((tiny_run.run_dir / "metadata.json").read_text())
    jsonschema.validate(meta, load_schema("metadata"))
    jsonschema.validate(json.loads((tiny_run.run_dir / "config.json").read_text()), load_schema("config"))
    assert meta["data"]["rows_read"] == 5031 and meta["data"]["sha256"]
    assert abs(sum(meta["ensemble"]["weights"]) - 1) < 1e-9
    assert [m["learning_rate"] for m in meta["ensemble"]["members"]] == [1e-3, 5e-4, 2e-3]
    assert all(m["epochs_trained"] == TINY_EPOCHS for m in meta["ensemble"]["members"])
    seg = meta["split"]["segments"]
    assert seg["train"]["end"] < meta["split"]["validation_start"] <= seg["validation"]["start"]
    assert seg["validation"]["end"] < meta["split"]["test_start"] <= seg["test"]["start"]


def test_predictions_and_metrics_agree(tiny_run):
    pred = pl.read_csv(tiny_run.run_dir / "predictions.csv")
    assert pred.columns == ["symbol", "timestamp", "label", "prob_sell", "prob_hold", "prob_buy", "signal", "confidence",
                            "close"]
    probs = pred.select("prob_sell", "prob_hold", "prob_buy").to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    names = np.array(["SELL", "HOLD", "BUY"])
    assert (pred["signal"].to_numpy() == names[probs.argmax(axis=1)]).all()
    labelled = pred.filter(pl.col("label").is_not_null())
    acc = (labelled["label"] == labelled["signal"]).mean()
    m = tiny_run.metadata["metrics"]
    assert m["ensemble"]["n"] == labelled.height
    assert abs(acc - m["ensemble"]["accuracy"]) < 1e-9
    assert pred["timestamp"].min() >= tiny_run.metadata["split"]["test_start"]


def test_summary_shows_every_figure_beside_baselines(tiny_run):
    text = summary_table(tiny_run.metadata)
    assert text.splitlines()[0].startswith("verdict")  # the verdict comes first
    header = next(line for line in text.splitlines() if "ensemble" in line and "majority" in line)
    for col in ("ensemble", "member 0", "majority", "random"):
        assert col in header
    assert "buy & hold" in text and "not financial advice" in text


def test_history_and_log(tiny_run):
    hist = pl.read_csv(tiny_run.run_dir / "history.csv")
    assert hist.height == 3 * TINY_EPOCHS
    assert {"member", "epoch", "loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"} <= set(hist.columns)
    log = (tiny_run.run_dir / "train.log").read_text()
    assert log.count("epoch") >= 3 * TINY_EPOCHS and "ensemble weights" in log


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from signalpack.cli import main; main()", *args],
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_cli_train_on_real_file(tmp_path):
    out = tmp_path / "run"
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nmax_epochs = 1\nlearning_rates = [0.001]\n[simulation]\nrandom_runs = 5\n")
    r = _cli("train", str(GOOG), "--config", str(cfg), "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "ensemble" in r.stdout and "majority" in r.stdout and "buy & hold" in r.stdout
    assert (out / "member_0.keras").is_file() and not (out / "member_1.keras").exists()
    assert (out / "report" / "report.html").is_file() and f"report: {out / 'report' / 'report.html'}" in r.stdout


def test_cli_refuses_existing_run_dir_and_bad_config(tmp_path, tiny_run):
    r = _cli("train", "--out", str(tiny_run.run_dir))
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nlstm_units = 0\n")
    r = _cli("train", "--config", str(bad), "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    assert r.stderr.strip() == "signalpack: error: bad.toml: 'model.lstm_units' = 0 is out of range; must be 1..1024"
    assert not (tmp_path / "x").exists()


def test_ordinals_read_as_english():
    from signalpack.evaluation.summary import ordinal

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 82, 100, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "82nd", "100th", "101st", "111th"]

"""Faults survived, determinism, security and end-to-end causality."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalpack.atomic import TMP_MARK
from signalpack.score.bundle import load_bundle
from signalpack.score.io import load_ohlcv
from signalpack.score.runner import score_frame
from tests.conftest import EURUSD, GOOG, SP500, rewrite_manifest

KILL_TRIALS = 24


def _scale_file(path: Path, symbols: int, bars: int = 3000, seed: int = 0) -> None:
    """Synthetic scale-test input: block-bootstrapped real S&P 500 daily bars, one series per symbol."""
    src = load_ohlcv(SP500).frame
    c = src["close"].to_numpy()
    ret = np.diff(np.log(c))
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(symbols):
        starts = rng.integers(1, len(ret) - 20, size=bars // 20 + 1)
        idx = (starts[:, None] + np.arange(20)).ravel()[:bars]
        close = 100 * np.exp(np.cumsum(ret[idx - 1]))
        parts.append(pl.DataFrame({
            "symbol": f"S{s:04d}",
            "timestamp": np.datetime64("2001-01-01") + np.arange(bars).astype("timedelta64[D]"),
            "open": close * src["open"].to_numpy()[idx] / c[idx],
            "high": close * src["high"].to_numpy()[idx] / c[idx],
            "low": close * src["low"].to_numpy()[idx] / c[idx],
            "close": close, "volume": src["volume"].to_numpy()[idx],
        }))
    frame = pl.concat(parts).with_columns(  # ratios of real bars, re-clamped against rounding
        pl.max_horizontal("high", "open", "close").alias("high"), pl.min_horizontal("low", "open", "close").alias("low"))
    frame.write_parquet(path)


def _score_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from signalpack.score.cli import main; main()", *args]


@pytest.mark.slow
def test_sigkill_while_writing_never_leaves_a_partial_file(tmp_path, tiny_export):
    """SIGKILL `score run` at random moments: the destination is absent, the old file, or complete."""
    src = tmp_path / "prices.parquet"
    _scale_file(src, symbols=60)
    out = tmp_path / "signals.parquet"
    argv = _score_argv("run", str(src), "--model", str(tiny_export.bundle), "--output", str(out),
                       "--chunk-rows", "20000", "--overwrite")
    t = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True)
    duration = time.monotonic() - t
    complete = out.read_bytes()
    reference = pl.read_parquet(out)
    old = b"PAR1 an older output that must survive intact"
    rng = random.Random(7)
    outcomes = {"absent": 0, "old": 0, "complete": 0}
    killed_mid_run = 0
    for trial in range(KILL_TRIALS):
        if trial % 2:
            out.write_bytes(old)
        else:
            out.unlink(missing_ok=True)
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, duration * 1.1))
        if p.poll() is None:
            killed_mid_run += 1
        p.send_signal(signal.SIGKILL)
        p.wait()
        if not out.exists():
            assert trial % 2 == 0, "the old file vanished"
            outcomes["absent"] += 1
        elif out.read_bytes() == old:
            outcomes["old"] += 1
        else:
            assert out.read_bytes() == complete, "a partial or different file at the destination"
            assert pl.read_parquet(out).equals(reference)
            outcomes["complete"] += 1
    assert sum(outcomes.values()) == KILL_TRIALS >= 20
    assert killed_mid_run >= KILL_TRIALS // 2, outcomes
    # leftovers of killed runs are removed by the next run, which completes normally
    subprocess.run(argv, check=True, capture_output=True)
    assert out.read_bytes() == complete
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(TMP_MARK)]
    print(f"\nkill trials: {KILL_TRIALS}, killed mid-run {killed_mid_run}, outcomes {outcomes}")


@pytest.mark.slow
def test_two_trainings_give_byte_identical_bundles(tmp_path):
    """Each training runs in its own fresh process (train, then export, as the CLI does them)."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    driver = (
        "import sys\nfrom signalpack.cli import app\n"
        "for argv in (['train', sys.argv[1], '--epochs', '1', '--seed', '11', '--out', sys.argv[2], '-q', '--no-report'],\n"
        "             ['export', sys.argv[2]]):\n"
        "    app(argv, standalone_mode=False)\n"
    )
    digests = []
    for k in range(2):
        run = tmp_path / f"run{k}"
        subprocess.run([sys.executable, "-c", driver, str(GOOG), str(run)], check=True, capture_output=True,
                       env=env, timeout=600)
        digests.append(hashlib.sha256((run / "bundle.onnx").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    manifest = load_bundle(tmp_path / "run0" / "bundle.onnx").manifest
    assert manifest["created_at"] == "2023-11-14T22:13:20Z"


DRIVER = r'''
import builtins, json, pickle, socket, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and args and isinstance(args[0], (str, bytes)) else None)
def refuse(*a, **k):
    raise RuntimeError("blocked: " + repr(a[:1]))
for name in ("load", "loads"):
    setattr(pickle, name, refuse)
pickle.Unpickler = refuse
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from signalpack.score.cli import main
codes = []
for argv in json.loads(sys.argv[1]):
    sys.argv = ["score", *argv]
    try:
        main()
    except SystemExit as e:
        codes.append(e.code)
print(json.dumps({"codes": codes, "opened": opened}))
'''


def test_scoring_path_loads_no_pickle_opens_no_socket_and_no_manifest_path(tmp_path, tiny_export):
    sentinel = tmp_path / "sentinel_never_open.txt"
    sentinel.write_text("secret")
    def plant(manifest: dict) -> None:
        manifest["training_data"]["file"] = str(sentinel)
        manifest["model"] = f"see {sentinel}"

    bundle = rewrite_manifest(tiny_export.bundle, tmp_path / "planted.onnx", plant)
    data = tmp_path / "eurusd.csv"
    data.write_bytes(EURUSD.read_bytes())
    commands = [["run", str(data), "--model", str(bundle)], ["verify", str(bundle)], ["inspect", str(bundle)]]
    r = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["codes"] == [0, 0, 0], r.stderr
    assert (tmp_path / "eurusd.signals.parquet").is_file()
    assert str(sentinel) not in result["opened"]
    ours = {p for p in result["opened"] if p.startswith(str(tmp_path))}
    assert ours <= {str(bundle), str(data), str(tmp_path / "eurusd.signals.parquet")} | {
        p for p in ours if Path(p).name.startswith(TMP_MARK)
    }, ours


@pytest.mark.slow
def test_keras_members_load_in_safe_mode(tmp_path, tiny_run):
    """A member carrying a Lambda layer (arbitrary Python) is refused, not executed."""
    import shutil

    import keras

    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    inp = keras.Input((10, 23))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    x = keras.layers.LSTM(4)(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    keras.Model(inp, out).save(run / "member_0.keras")
    r = subprocess.run([sys.executable, "-c", "from signalpack.cli import main; main()", "export", str(run)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "member_0.keras: not a loadable Keras model" in r.stderr and "Traceback" not in r.stderr
    assert not (run / "bundle.onnx").exists()


@pytest.fixture(scope="module")
def goog_frame() -> pl.DataFrame:
    return load_ohlcv(GOOG).frame


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=60, max_value=2148))
def test_scoring_a_prefix_equals_scoring_the_whole_series(tiny_export, goog_frame, cut):
    bundle = load_bundle(tiny_export.bundle)
    whole = score_frame(goog_frame, bundle)
    prefix = score_frame(goog_frame.head(cut), bundle)
    assert prefix.height == cut - 58
    assert prefix.equals(whole.head(prefix.height))

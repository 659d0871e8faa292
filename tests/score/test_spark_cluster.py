"""The docs' Spark recipe, run for real: a standalone master and two workers on 127.0.0.1 (started
with the `spark-class` launcher that ships inside pyspark), the packed environment built exactly as
docs/scoring.md says (venv-pack), the docs' `spark-submit` command run against the cluster, and its
output compared row for row with the local engine; then the docs' ``s3://`` variant, against a moto
S3 server on 127.0.0.1 (``test_s3``'s fixture)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from signalpack.score.bundle import DEFAULT_BUNDLE
from signalpack.score.io import load_ohlcv
from tests.conftest import EURUSD, GOOG, ROOT
from tests.score.spark_cluster import leftover_processes, standalone_cluster
from tests.score.test_s3 import BUCKET, client, s3_env  # noqa: F401  (s3_env: fixture)
from tests.score.test_spark_engine import _java_runs

DOC = ROOT / "docs" / "scoring.md"
MARKER = "<!-- spark standalone recipe: run verbatim by tests/score/test_spark_cluster.py -->"
S3_MARKER = "<!-- spark standalone s3 recipe: run by tests/score/test_spark_cluster.py -->"
DOC_BUCKET = "s3://my-bucket/"
DOC_MASTER = "spark://127.0.0.1:7077"
DOC_SOURCE = "'signalpack[spark]'"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("CI") and not _java_runs(),
        reason="needs Java 17 for Spark: apt-get install openjdk-17-jre-headless (.ci/run installs it)",
    ),
]


def recipe(marker: str = MARKER) -> list[str]:
    """The fenced bash block after the marker in docs/scoring.md, as its commands (one per logical line)."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    i = next(n for n, line in enumerate(lines) if line.strip() == marker) + 1
    assert lines[i].strip() == "```bash", "the marker must be followed directly by a ```bash block"
    end = next(n for n in range(i + 1, len(lines)) if lines[n].strip() == "```")
    commands, current = [], ""
    for line in lines[i + 1:end]:
        current += line.strip()
        if current.endswith("\\"):
            current = current[:-1].rstrip() + " "
        else:
            commands.append(current)
            current = ""
    return commands


def _sh(command: str, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``bash -c command`` in its own process group, killed whole on timeout."""
    p = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        pytest.fail(f"timed out after {timeout:.0f} s: {command}\n{out[-3000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)  # nothing it started outlives it
    return subprocess.CompletedProcess(command, p.returncode, out, "")


def test_docs_recipe_on_standalone_cluster(tmp_path, s3_env):
    build, submit = recipe()[0], recipe()[1:]
    assert build.count(DOC_SOURCE) == 1 and DOC_MASTER in submit[-1], recipe()
    (s3_submit,) = recipe(S3_MARKER)
    assert DOC_MASTER in s3_submit and s3_submit.count(DOC_BUCKET) == 2, s3_submit
    job = tmp_path / "job"
    job.mkdir()
    # input: a folder of parquet; two real series and one symbol too short for a window
    goog = load_ohlcv(GOOG).frame
    (job / "prices").mkdir()
    pl.concat([
        goog.with_columns(pl.lit("GOOG").alias("symbol")),
        load_ohlcv(EURUSD).frame.head(1500).with_columns(pl.lit("EURUSD").alias("symbol")),
        goog.head(30).with_columns(pl.lit("TINY").alias("symbol")),
    ]).write_parquet(job / "prices" / "part-0.parquet")
    shutil.copyfile(DEFAULT_BUNDLE, job / "bundle.onnx")

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "SPARK_HOME", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    # `python` is this interpreter; the driver and executors bind to loopback
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
               SPARK_LOCAL_IP="127.0.0.1")
    times = {}
    try:
        t0 = time.monotonic()
        # the only change to the docs' commands: pip installs this checkout (non-editable) instead of PyPI's
        r = _sh(build.replace(DOC_SOURCE, f"'{ROOT}[spark]'"), job, env, timeout=900)
        assert r.returncode == 0, r.stdout[-3000:]
        assert (job / "env.tar.gz").is_file()
        times["venv build + venv-pack"] = time.monotonic() - t0

        t0 = time.monotonic()
        # the launcher that ships inside pyspark, from the packed env itself (the same Spark as its spark-submit)
        spark_class = next((job / "env" / "lib").glob("python3*/site-packages/pyspark/bin/spark-class"))
        with standalone_cluster(spark_class, tmp_path, workers=2) as cluster:
            times["cluster start (2 ALIVE workers)"] = time.monotonic() - t0
            t0 = time.monotonic()
            for command in submit:
                r = _sh(command.replace(DOC_MASTER, cluster.url), job, env, timeout=600)
                assert r.returncode == 0, f"{command}\n{r.stdout[-4000:]}\n{cluster.log_tail()}"
            times["spark-submit job"] = time.monotonic() - t0
            # the s3:// variant: input object in, one output object back, through the moto server
            t0 = time.monotonic()
            client(s3_env).upload_file(str(job / "prices" / "part-0.parquet"), BUCKET, "prices/2026-11-27.parquet")
            aws = {k: v for k, v in s3_env.items() if k.startswith("AWS_")}
            r3 = _sh(s3_submit.replace(DOC_MASTER, cluster.url).replace(DOC_BUCKET, f"s3://{BUCKET}/"), job,
                     {**env, **aws}, timeout=600)
            assert r3.returncode == 0, f"{s3_submit}\n{r3.stdout[-4000:]}\n{cluster.log_tail()}"
            client(s3_env).download_file(BUCKET, "signals/2026-11-27.parquet", str(tmp_path / "s3_out.parquet"))
            times["spark-submit s3 job"] = time.monotonic() - t0
            state = cluster.state()
            apps = state["completedapps"] + state["activeapps"]
            assert len(apps) == 2 and {a["name"] for a in apps} == {"signalpack-score"}, apps
            # both workers ran an executor of the job (each unpacked env.tar.gz in its own folder)
            assert all(list((tmp_path / "work" / w).glob("app-*/*/env/bin/python")) for w in ("w0", "w1"))
        assert leftover_processes(cluster, tmp_path) == [], "JVMs or Python workers outlived the cluster"
        assert "(2 symbols, 1 too short to score)" in r.stdout, r.stdout[-2000:]

        local = tmp_path / "local.parquet"
        rl = subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", "run",
                             str(job / "prices" / "part-0.parquet"), "--model", str(job / "bundle.onnx"),
                             "-o", str(local)], check=False, capture_output=True, text=True, timeout=300)
        assert rl.returncode == 0, rl.stderr
        got = pl.read_parquet(job / "signals" / "*.parquet").sort("symbol", "timestamp")
        want = pl.read_parquet(local).with_columns(pl.col("signal").cast(pl.String)).sort("symbol", "timestamp")
        assert got.columns == want.columns and got.schema == want.schema
        assert got.equals(want)
        assert set(got["symbol"]) == {"GOOG", "EURUSD"}  # TINY has too few rows for one window
        from_s3 = pl.read_parquet(tmp_path / "s3_out.parquet").sort("symbol", "timestamp")
        assert from_s3.schema == want.schema and from_s3.equals(want)
        assert "testing-secret-xyzzy" not in r3.stdout
        print("\n" + ", ".join(f"{k}: {v:.0f} s" for k, v in times.items()))
    finally:
        # the env (1.2 GB), its archive and the executors' unpacked copies: not kept in pytest's tmp
        for big in (job / "env", job / "env.tar.gz", tmp_path / "work"):
            if big.is_dir():
                shutil.rmtree(big, ignore_errors=True)
            else:
                big.unlink(missing_ok=True)

"""`score run --engine spark` with ``s3://`` input and output, through the local moto server of
``test_s3`` and a local Spark session: the same rows as the local engine, ``--since`` as the tail of
the full output, and a failed job leaves no object."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from signalpack.errors import DataError, OutputError
from signalpack.score.bundle import load_bundle
from signalpack.score.runner import score_file
from signalpack.score.spark_engine import score_spark
from tests.score.cli_inprocess import score_cli
from tests.score.test_s3 import BUCKET, client, keys, s3_env  # noqa: F401  (s3_env: fixture)
from tests.score.test_spark_engine import multi, pytestmark  # noqa: F401  (fixture; slow, needs Java)


@pytest.fixture
def aws(s3_env, monkeypatch):
    """The driver's environment pointed at the moto server (executors get the settings with the task)."""
    for k in [k for k in list(__import__("os").environ) if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    for k, v in s3_env.items():
        if k.startswith("AWS_"):
            monkeypatch.setenv(k, v)
    return s3_env


def _download(env, key: str, dest) -> pl.DataFrame:
    client(env).download_file(BUCKET, key, str(dest))
    return pl.read_parquet(dest)


def test_spark_s3_round_trip_equals_local_engine(spark, multi, aws, tmp_path, tiny_export):
    client(aws).upload_file(str(multi), BUCKET, "spark/multi.parquet")
    local = tmp_path / "local.parquet"
    score_file(multi, load_bundle(tiny_export.bundle), local)
    want = pl.read_parquet(local).with_columns(pl.col("signal").cast(pl.String)).sort("symbol", "timestamp")

    out = f"s3://{BUCKET}/spark/out/multi.signals.parquet"
    summary = score_spark(f"s3://{BUCKET}/spark/multi.parquet", tiny_export.bundle, out, spark=spark)
    got = _download(aws, "spark/out/multi.signals.parquet", tmp_path / "got.parquet")
    assert got.schema == want.schema
    assert got.sort("symbol", "timestamp").equals(want)
    assert summary.rows_scored == want.height and summary.short_symbols == {"TINY": 30}
    assert [k for k in keys(aws) if k.startswith("spark/out/")] == ["spark/out/multi.signals.parquet"]

    # --since: exactly the tail of the full output, through the CLI (the same Spark session)
    code, err = score_cli("run", f"s3://{BUCKET}/spark/multi.parquet", "--engine", "spark", "--model",
                         str(tiny_export.bundle), "--since", "2016-03-01", "--output", out, "--overwrite", env=aws)
    assert code == 0, err
    tail = _download(aws, "spark/out/multi.signals.parquet", tmp_path / "tail.parquet")
    assert tail.height > 0
    assert tail.sort("symbol", "timestamp").equals(want.filter(pl.col("timestamp") >= datetime(2016, 3, 1)))

    # no clobbering without --overwrite, refused before any job
    code, err = score_cli("run", f"s3://{BUCKET}/spark/multi.parquet", "--engine", "spark", "--model",
                         str(tiny_export.bundle), "--output", out, env=aws)
    assert code == 2 and "already exists; pass --overwrite" in err and err.count("\n") == 1


def test_failed_spark_s3_job_leaves_no_object(spark, multi, aws, tmp_path, tiny_export):
    bad = tmp_path / "bad.parquet"
    frame = pl.read_parquet(multi)
    # one bad price in one symbol: the job fails in its executor
    frame.with_columns(pl.when(pl.int_range(pl.len()) == 100).then(-1.0).otherwise(pl.col("close"))
                       .alias("close")).write_parquet(bad)
    client(aws).upload_file(str(bad), BUCKET, "fail/bad.parquet")
    with pytest.raises(DataError, match="column 'close'.*prices must be positive"):
        score_spark(f"s3://{BUCKET}/fail/bad.parquet", tiny_export.bundle, f"s3://{BUCKET}/fail/out.parquet",
                    spark=spark)
    assert keys(aws) and not [k for k in keys(aws) if k.startswith("fail/") and k != "fail/bad.parquet"]


def test_spark_since_equals_the_tail_on_a_local_dataset(spark, multi, tmp_path, tiny_export):
    full = tmp_path / "full"
    score_spark(str(multi), tiny_export.bundle, str(full), spark=spark)
    whole = pl.read_parquet(full / "*.parquet").sort("symbol", "timestamp")
    for when in (datetime(2009, 1, 2), datetime(2017, 6, 30, 12)):
        out = tmp_path / f"since-{when:%Y%m%d}"
        s = score_spark(str(multi), tiny_export.bundle, str(out), spark=spark, since=when)
        got = pl.read_parquet(out / "*.parquet").sort("symbol", "timestamp")
        assert got.equals(whole.filter(pl.col("timestamp") >= when)) and got.height > 0
        assert s.since == when.isoformat() and s.short_symbols == {"TINY": 30}
    with pytest.raises(DataError, match="no window ends at or after --since"):
        score_spark(str(multi), tiny_export.bundle, str(tmp_path / "none"), spark=spark, since=datetime(2030, 1, 1))
    assert not (tmp_path / "none").exists()


def test_spark_s3_hive_dataset_equals_the_single_file(spark, aws, tmp_path):
    """An s3:// prefix holding a date= partitioned dataset (every symbol in every partition), read by
    the executors one object per task: the single file's rows, to one output object."""
    from signalpack.score.bundle import DEFAULT_BUNDLE
    from tests.score.test_datasets import BARS, LAYOUTS, _as_file
    from tests.score.test_s3 import _upload_tree

    _as_file(BARS, tmp_path / "all.parquet")
    score_file(tmp_path / "all.parquet", load_bundle(DEFAULT_BUNDLE), tmp_path / "want.parquet")
    want = pl.read_parquet(tmp_path / "want.parquet").with_columns(pl.col("signal").cast(pl.String))
    LAYOUTS["hive date=, files unsorted"][0](tmp_path / "prices", ".parquet")
    _upload_tree(aws, tmp_path / "prices", "sparkds")
    summary = score_spark(f"s3://{BUCKET}/sparkds/", DEFAULT_BUNDLE, f"s3://{BUCKET}/sparkout/ds.parquet", spark=spark)
    got = _download(aws, "sparkout/ds.parquet", tmp_path / "got.parquet")
    assert got.sort("symbol", "timestamp").equals(want.sort("symbol", "timestamp"))
    assert summary.rows_read == BARS.height
    with pytest.raises(OutputError, match="is inside the input dataset"):
        score_spark(f"s3://{BUCKET}/sparkds/", DEFAULT_BUNDLE, f"s3://{BUCKET}/sparkds/o.parquet", spark=spark)

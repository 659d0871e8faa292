"""Scale-out on Apache Spark: `score run INPUT --engine spark`.

The input (a parquet file or directory) is read by Spark and grouped by symbol;
each group goes through ``groupBy(...).applyInArrow`` to the *local engine's*
code — ``clean_ohlcv`` (the same data checks) and ``score_frame`` (the same
scoring core) — inside the executors. The bundle reaches executors with
``SparkContext.addFile``; each executor Python process opens one onnxruntime
session per bundle and reuses it for every group it scores (Spark reuses Python
workers by default).

Output: a parquet dataset (a folder of part files, not partitioned; one row per
scored bar, the local engine's columns). For a local destination it is written
to a temporary folder beside it and renamed into place; a URI destination
(``hdfs://``, ``s3a://`` …) is written by Spark's own committer.

PySpark itself serializes the per-group function to ship it to executors (its
standard mechanism); the bundle is shipped as a plain file and never pickled.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signalpack.atomic import atomic_dir, check_destination
from signalpack.errors import DataError, InputError, SignalpackError, first_line
from signalpack.score.contract import OUTPUT_COLUMNS, PROB_COLUMNS

__all__ = ["SPARK_OUTPUT_SCHEMA", "SparkSummary", "score_spark"]

_SPARK_TYPES = {
    "symbol": "string", "timestamp": "timestamp_ntz", **dict.fromkeys(PROB_COLUMNS, "float"),
    "signal": "string", "confidence": "float", "actionable": "boolean", "model_id": "string",
}
SPARK_OUTPUT_SCHEMA = ", ".join(f"{c} {_SPARK_TYPES[c]}" for c in OUTPUT_COLUMNS)
"""The output columns (``contract.OUTPUT_COLUMNS``) as Spark DDL; ``signal`` is a plain string."""
_MARK = "<<signalpack-error>>"
_SESSIONS: dict[str, Any] = {}  # per executor process: bundle sha256 -> Bundle


@dataclass
class SparkSummary:
    input: str
    output: str
    bundle_id: str
    master: str
    rows_read: int = 0
    rows_scored: int = 0
    symbols: int = 0
    short_symbols: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": "spark", "master": self.master, "input": self.input, "output": self.output,
            "bundle_id": self.bundle_id, "rows_read": self.rows_read, "rows_scored": self.rows_scored,
            "symbols": self.symbols, "short_symbols": self.short_symbols, "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_read / self.seconds, 1) if self.seconds else 0.0,
        }

    def line(self) -> str:
        short = f", {len(self.short_symbols)} too short to score" if self.short_symbols else ""
        return (
            f"spark ({self.master}): scored {self.rows_scored:,} of {self.rows_read:,} rows ({self.symbols} symbols"
            f"{short}) with {self.bundle_id} in {self.seconds:.1f} s → {self.output}"
        )


def _worker_bundle(file_name: str, sha256: str, threads: int) -> Any:
    """The executor process's session for this bundle, opened once and reused."""
    bundle = _SESSIONS.get(sha256)
    if bundle is None:
        from pyspark import SparkFiles

        from signalpack.score.bundle import load_bundle

        bundle = load_bundle(SparkFiles.get(file_name), threads=threads)
        if bundle.sha256 != sha256:
            raise DataError(f"{file_name}: the executor received a different bundle than the driver checked")
        _SESSIONS[sha256] = bundle
    return bundle


def score_arrow_group(table: Any, file_name: str, sha256: str, input_name: str, threads: int,
                      batch_size: int, has_symbol: bool = True) -> Any:
    """One symbol's rows (Arrow) → its scores (Arrow, ``SPARK_OUTPUT_SCHEMA``), with the local code."""
    import polars as pl
    import pyarrow as pa

    from signalpack.score.io import clean_ohlcv
    from signalpack.score.runner import score_frame

    try:
        bundle = _worker_bundle(file_name, sha256, threads)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if not has_symbol:
            frame = frame.drop("symbol")  # clean_ohlcv marks a file without symbols itself
        if frame.height < bundle.window_rows:
            scores = None
        else:
            data = clean_ohlcv(frame, Path(input_name))
            scores = score_frame(data.frame, bundle, batch_size).with_columns(pl.col("signal").cast(pl.String))
    except SignalpackError as exc:
        raise RuntimeError(f"{_MARK}{exc}{_MARK}") from None
    schema = _arrow_schema()
    if scores is None or scores.height == 0:
        return pa.Table.from_pylist([], schema=schema)
    return scores.to_arrow().cast(schema)


def _arrow_schema() -> Any:
    import pyarrow as pa

    arrow = {"string": pa.string(), "timestamp_ntz": pa.timestamp("us"), "float": pa.float32(), "boolean": pa.bool_()}
    return pa.schema([(c, arrow[_SPARK_TYPES[c]]) for c in OUTPUT_COLUMNS])


def _session(master: str) -> Any:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError("--engine spark needs the spark extra: pip install 'signalpack[spark]' "
                         "(and Java 17)") from exc
    spark = (
        SparkSession.builder.master(master).appName("signalpack-score")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def score_spark(
    input_path: str, bundle_path: str | os.PathLike[str], output: str, *, master: str = "local[*]",
    overwrite: bool = False, threads: int = 1, batch_size: int = 512, spark: Any = None,
    trusted_key: bytes | None = None, expect_sha256: str | None = None,
) -> SparkSummary:
    """Score a parquet file or dataset on Spark; see the module docstring.

    threads : onnxruntime threads per executor task (1: let Spark's task slots use the cores).
    trusted_key, expect_sha256 : the bundle's pins (``load_bundle``), checked on the driver; the
        executors then require the driver's sha256.
    """
    from signalpack.score.bundle import load_bundle

    started = time.monotonic()
    # a bad (or unpinned) bundle is refused on the driver, before any job starts
    bundle = load_bundle(bundle_path, trusted_key=trusted_key, expect_sha256=expect_sha256)
    is_uri = "://" in output
    if not is_uri:
        check_destination(Path(output), overwrite, folder=True)
    if "://" not in input_path and not Path(input_path).exists():
        raise InputError(f"{input_path}: no such file or folder")
    # a URI destination is written by Spark's own committer; a local one through atomic_dir
    target = contextlib.nullcontext(output) if is_uri else atomic_dir(Path(output), overwrite, create=False)
    with target as dest:
        summary = _score(input_path, bundle, bundle_path, str(dest), output, master, overwrite and is_uri,
                         threads, batch_size, spark)
    summary.seconds = time.monotonic() - started
    return summary


def _score(
    input_path: str, bundle: Any, bundle_path: str | Path, target: str, output: str, master: str,
    replace_uri: bool, threads: int, batch_size: int, spark: Any,
) -> SparkSummary:
    """Run the job, writing the dataset to ``target``; a failure leaves whatever it wrote for the caller to remove."""
    from signalpack.score.io import map_columns

    spark = spark or _session(master)
    from pyspark.sql import functions as F

    name = Path(input_path).name
    try:
        raw = spark.read.parquet(input_path)
    except Exception as exc:  # Spark's AnalysisException and friends
        raise InputError(f"{name}: Spark cannot read it as parquet ({first_line(exc)})") from exc
    mapping = map_columns(raw.columns, name)
    has_symbol = "symbol" in mapping
    frame = raw.select([F.col(f"`{src}`").alias(dst) for dst, src in mapping.items()])
    if not has_symbol:
        frame = frame.withColumn("symbol", F.lit(""))

    spark.sparkContext.addFile(str(Path(bundle_path).resolve()))
    file_name, sha = Path(bundle_path).name, bundle.sha256

    def score_group(table: Any) -> Any:
        from signalpack.score.spark_engine import score_arrow_group

        return score_arrow_group(table, file_name, sha, name, threads, batch_size, has_symbol)

    scored = frame.groupBy("symbol").applyInArrow(score_group, SPARK_OUTPUT_SCHEMA)
    if not has_symbol:
        scored = scored.drop("symbol")
    try:
        scored.write.mode("overwrite" if replace_uri else "errorifexists").parquet(target)
    except Exception as exc:
        text = str(exc)
        if _MARK in text:
            raise DataError(text.split(_MARK)[1]) from None
        raise
    summary = SparkSummary(input_path, output, bundle.model_id, master)
    counts = {r["symbol"]: r["count"] for r in frame.groupBy("symbol").count().collect()}
    written = spark.read.parquet(target)
    if has_symbol:
        done = {r["symbol"]: r["count"] for r in written.groupBy("symbol").count().collect()}
    else:
        done = {"": written.count()}
    summary.rows_read = sum(counts.values())
    summary.rows_scored = sum(done.values())
    summary.symbols = sum(1 for s in counts if done.get(s))
    summary.short_symbols = {s: n for s, n in sorted(counts.items()) if not done.get(s)}
    if summary.rows_scored == 0:
        raise DataError(f"{name}: no symbol has enough rows for one window")
    return summary

"""Scale-out on Apache Spark: `score run INPUT --engine spark`.

The input (a parquet file or directory) is read by Spark and grouped by symbol;
each group goes through ``groupBy(...).applyInArrow`` to the *local engine's*
code — ``clean_ohlcv`` (the same data checks) and ``score_frame`` (the same
scoring core) — inside the executors. The bundle reaches executors with
``SparkContext.addFile``; each executor Python process opens one onnxruntime
session per bundle and reuses it for every group it scores (Spark reuses Python
workers by default).

``s3://`` objects (``score.objstore``: one parquet object in, one out) need no Hadoop
S3 connector. The executors read row ranges of the input object with polars' own
object store, using the driver's AWS settings (sent with the task, as Spark sends
``fs.s3a`` keys in its Hadoop configuration). For an ``s3://`` destination each task
encodes its scores as one parquet part; the driver fetches the parts one partition
at a time into a private temporary folder and uploads them as one object, as the
local engine does (a multipart upload completed last: complete or absent).

Output: a parquet dataset (a folder of part files, not partitioned; one row per
scored bar, the local engine's columns), or one object for an ``s3://`` destination.
For a local destination it is written to a temporary folder beside it and renamed
into place; another URI destination (``hdfs://``, ``s3a://`` …) is written by
Spark's own committer.

``since`` keeps only windows ending at or after it, as the local engine's ``--since``;
each executor scores its symbol's rows from W - 1 rows before it (no read push-down).

PySpark itself serializes the per-group function to ship it to executors (its
standard mechanism); the bundle is shipped as a plain file and never pickled.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from signalpack.atomic import atomic_dir, check_destination
from signalpack.errors import DataError, InputError, OutputError, SignalpackError, first_line, printable
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
    since: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": "spark", "master": self.master, "input": self.input, "output": self.output,
            "bundle_id": self.bundle_id, "rows_read": self.rows_read, "rows_scored": self.rows_scored,
            "symbols": self.symbols, "short_symbols": self.short_symbols, "since": self.since, "seconds": round(self.seconds, 3),
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
                      batch_size: int, has_symbol: bool = True, since: datetime | None = None) -> Any:
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
            data = clean_ohlcv(frame, Path(input_name)).frame
            if since is not None:  # the W - 1 warm-up rows before `since`, and the rows from it
                first = int(data.get_column("timestamp").search_sorted(since, "left"))
                data = data.slice(max(0, first - bundle.window_rows + 1))
            scores = score_frame(data, bundle, batch_size, since).with_columns(pl.col("signal").cast(pl.String))
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


def read_object_slices(batches: Any, uri: str, opts: dict[str, str], mapping: dict[str, str], schema: Any) -> Any:
    """Executor side of an ``s3://`` input: each (offset, length) row → those rows of the object, mapped."""
    import polars as pl

    for spec in batches:
        for offset, length in zip(spec.column("offset").to_pylist(), spec.column("length").to_pylist(), strict=True):
            lf = pl.scan_parquet(uri, storage_options=opts, credential_provider=None, glob=False)
            part = lf.select([pl.col(src).alias(dst) for dst, src in mapping.items()]).slice(offset, length).collect()
            yield from part.to_arrow().cast(schema).to_batches()


def encode_part(batches: Any) -> Any:
    """Executor side of an ``s3://`` output: this task's scores → one parquet part, as bytes, with
    its rows per symbol (JSON); the driver fetches the parts one partition at a time."""
    import io
    import json

    import polars as pl
    import pyarrow as pa
    from pyspark import TaskContext

    tables = [pa.Table.from_batches([b]) for b in batches if b.num_rows]
    if not tables:
        return
    frame = pl.from_arrow(pa.concat_tables(tables))
    assert isinstance(frame, pl.DataFrame)
    buf = io.BytesIO()
    frame.write_parquet(buf, statistics=False)
    sym = frame.get_column("symbol") if "symbol" in frame.columns else pl.Series("symbol", [""] * frame.height)
    counts = dict(sym.value_counts(sort=True).iter_rows())
    yield pa.RecordBatch.from_pydict(
        {"part": [TaskContext.get().partitionId()], "rows": [json.dumps(counts)], "data": [buf.getvalue()]},
        schema=pa.schema([("part", pa.int64()), ("rows", pa.string()), ("data", pa.binary())]))


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
    trusted_key: bytes | None = None, expect_sha256: str | None = None, since: datetime | None = None,
) -> SparkSummary:
    """Score a parquet file or dataset (or one ``s3://`` parquet object) on Spark; see the module docstring.

    threads : onnxruntime threads per executor task (1: let Spark's task slots use the cores).
    trusted_key, expect_sha256 : the bundle's pins (``load_bundle``), checked on the driver; the
        executors then require the driver's sha256.
    since : output only windows ending at or after it (``score run --since``).
    """
    from signalpack.score import objstore
    from signalpack.score.bundle import load_bundle

    started = time.monotonic()
    # a bad (or unpinned) bundle is refused on the driver, before any job starts
    bundle = load_bundle(bundle_path, trusted_key=trusted_key, expect_sha256=expect_sha256)
    to_object = _is_s3(output)
    is_uri = "://" in output
    if to_object:
        objstore.check_destination(output, overwrite)
    elif not is_uri:
        check_destination(Path(output), overwrite, folder=True)
    if _is_s3(input_path):
        objstore.check_uri(input_path, dataset=True)
        if to_object and objstore.is_dataset_uri(input_path):
            from signalpack.score.datasets import Dataset

            kind = "folder" if input_path.endswith("/") else "glob"
            if Dataset(input_path, kind, ()).contains(output):
                raise OutputError(f"{output}: is inside the input dataset {input_path}; choose an --output outside it")
    elif "://" not in input_path:
        from signalpack.score.datasets import resolve_input

        dataset = resolve_input(input_path)  # a file, folder, glob or hive dataset (score.datasets)
        if dataset.kind == "file" and not Path(input_path).exists():
            raise InputError(f"{input_path}: no such file or folder")
        if not is_uri and dataset.contains(output):
            raise OutputError(f"{output}: is inside the input dataset {dataset.spec}; choose an --output outside it")
    # a local destination through atomic_dir; an s3:// object through the driver (_write_object);
    # another URI by Spark's own committer
    if to_object:
        target: Any = contextlib.nullcontext(output)
    elif is_uri:
        target = contextlib.nullcontext(output)
    else:
        target = atomic_dir(Path(output), overwrite, create=False)
    with target as dest:
        summary = _score(input_path, bundle, bundle_path, str(dest), output, master, overwrite and is_uri,
                         threads, batch_size, spark, since)
    summary.seconds = time.monotonic() - started
    return summary


def _is_s3(location: str) -> bool:
    return location[:5].lower() == "s3://"


def _read(spark: Any, input_path: str, name: str) -> tuple[Any, bool]:
    """The input as a Spark frame with the contract's column names (and ``symbol``), and whether it had symbols."""
    from pyspark.sql import functions as F

    from signalpack.score.io import map_columns

    if _is_s3(input_path):
        from signalpack.score import objstore
        from signalpack.score.datasets import resolve_input

        if objstore.is_dataset_uri(input_path):  # a prefix or glob: one task per object
            return _read_files(spark, resolve_input(input_path), objstore.storage_options(input_path))
        return _read_object(spark, input_path, name)
    if "://" not in input_path:
        from signalpack.score.datasets import resolve_input

        dataset = resolve_input(input_path)
        if not (dataset.kind == "file" and Path(input_path).suffix.lower() in (".parquet", ".pq")) \
                and not (dataset.kind == "folder" and dataset.fmt == "parquet"
                         and not any(f.partitions for f in dataset.files)):
            return _read_files(spark, dataset)
    try:
        raw = spark.read.parquet(input_path)
    except Exception as exc:  # Spark's AnalysisException and friends
        raise InputError(f"{name}: Spark cannot read it as parquet ({first_line(exc)})") from exc
    mapping = map_columns(raw.columns, name)
    frame = raw.select([F.col(f"`{src}`").alias(dst) for dst, src in mapping.items()])
    has_symbol = "symbol" in mapping
    return (frame if has_symbol else frame.withColumn("symbol", F.lit(""))), has_symbol


OBJECT_SLICE_ROWS = 500_000
"""Rows of an ``s3://`` input object that one Spark task reads."""


def _read_object(spark: Any, uri: str, name: str) -> tuple[Any, bool]:
    """An ``s3://`` parquet object read by the executors in row ranges (polars' object store)."""
    import polars as pl
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from signalpack.score import objstore
    from signalpack.score.io import map_columns

    opts = objstore.storage_options(uri)
    lf = objstore.scan(uri, opts)
    mapping = map_columns(list(lf.collect_schema().names()), name)
    mapped = lf.select([pl.col(src).alias(dst) for dst, src in mapping.items()])
    try:
        rows = int(lf.select(pl.len()).collect().item())
        empty = mapped.head(0).collect().to_arrow()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{printable(uri, 200)}: cannot be read as a parquet object ({first_line(exc)})") from exc
    schema = _plain_arrow_schema(empty.schema)
    slices = [(o, min(OBJECT_SLICE_ROWS, rows - o)) for o in range(0, max(rows, 1), OBJECT_SLICE_ROWS)]
    specs = spark.createDataFrame(slices, "offset long, length long").repartition(len(slices))

    def read(batches: Any) -> Any:
        from signalpack.score.spark_engine import read_object_slices

        return read_object_slices(batches, uri, opts, mapping, schema)

    frame = specs.mapInArrow(read, from_arrow_schema(schema))
    has_symbol = "symbol" in mapping
    return (frame if has_symbol else frame.withColumn("symbol", F.lit(""))), has_symbol


def _read_files(spark: Any, dataset: Any, opts: dict[str, str] | None = None) -> tuple[Any, bool]:
    """A glob, hive dataset or CSV files (``score.datasets``, the local engine's resolution and
    checks), read by the executors, one task per file, with the local engine's reader
    (``OhlcvReader``: the same parsing, column names, checks and ``symbol=`` partitions).
    Like Spark's own reader of a local path, the files must be where the executors run; ``s3://``
    objects (``opts``: the driver's AWS settings) are read by the executors from the store."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    from signalpack.score.io import OHLCV_COLUMNS

    with_symbol = [f for f in dataset.files if f.symbol is not None or "symbol" in _file_columns(f, opts)]
    if with_symbol and len(with_symbol) != len(dataset.files):
        without = next(f for f in dataset.files if f not in with_symbol)
        raise DataError(
            f"{without.name}: has no symbol column, but {with_symbol[0].name} has one; give every file of the "
            "dataset a symbol column (or a symbol= partition), or none"
        )
    files = [(f.uri or str(f.path), f.name, f.symbol) for f in dataset.files]
    schema = pa.schema([("symbol", pa.string()), ("timestamp", pa.timestamp("us")),
                        *((c, pa.float64()) for c in OHLCV_COLUMNS)])
    specs = spark.createDataFrame([(i,) for i in range(len(files))], "file long").repartition(len(files))

    def read(batches: Any) -> Any:
        from signalpack.score.spark_engine import read_dataset_files

        return read_dataset_files(batches, files, schema, opts)

    return specs.mapInArrow(read, from_arrow_schema(schema)), bool(with_symbol)


def _file_columns(f: Any, opts: dict[str, str] | None) -> list[str]:
    """The canonical columns (``map_columns``) of one dataset file, from its schema or CSV header."""
    import polars as pl

    from signalpack.score.io import OhlcvReader, map_columns

    # checks it exists, is regular, and a CSV's head (an object: that it is parquet)
    reader = OhlcvReader(f.uri or f.path, name=f.name, symbol=f.symbol, storage_options=opts)
    try:
        names = (reader._scan().collect_schema() if reader.uri is not None
                 else pl.read_parquet_schema(f.path) if reader.is_parquet
                 else pl.scan_csv(f.path, infer_schema=False, n_rows=1).collect_schema()).keys()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{f.name}: cannot read its columns ({first_line(exc)})") from exc
    return list(map_columns(list(names), f.name))


def read_dataset_files(batches: Any, files: list[tuple[str, str, str | None]], schema: Any,
                       opts: dict[str, str] | None = None) -> Any:
    """Executor side of ``_read_files``: each file index → the file's checked rows, in batches."""
    import polars as pl

    from signalpack.score.io import OhlcvReader

    try:
        for spec in batches:
            for index in spec.column("file").to_pylist():
                path, name, symbol = files[index]
                for frame in OhlcvReader(path, 250_000, name=name, symbol=symbol, ordered=False,
                                         storage_options=opts):
                    frame = frame.select(schema.names).with_columns(pl.col("symbol").fill_null(""))
                    yield from frame.to_arrow().cast(schema).to_batches()
    except SignalpackError as exc:
        raise RuntimeError(f"{_MARK}{exc}{_MARK}") from None


def _plain_arrow_schema(schema: Any) -> Any:
    """``schema`` with polars' view and large types as the plain Arrow types Spark converts."""
    import pyarrow as pa

    def plain(t: Any) -> Any:
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            return pa.binary()
        if pa.types.is_timestamp(t) and t.unit == "ns":
            return pa.timestamp("us", t.tz)
        return t

    return pa.schema([(f.name, plain(f.type)) for f in schema])


def _score(
    input_path: str, bundle: Any, bundle_path: str | Path, target: str, output: str, master: str,
    replace_uri: bool, threads: int, batch_size: int, spark: Any, since: datetime | None = None,
) -> SparkSummary:
    """Run the job, writing the dataset to ``target``; a failure leaves whatever it wrote for the caller to remove."""
    spark = spark or _session(master)
    name = input_path if _is_s3(input_path) else Path(input_path).name
    frame, has_symbol = _read(spark, input_path, name)

    spark.sparkContext.addFile(str(Path(bundle_path).resolve()))
    file_name, sha = Path(bundle_path).name, bundle.sha256

    def score_group(table: Any) -> Any:
        from signalpack.score.spark_engine import score_arrow_group

        return score_arrow_group(table, file_name, sha, name, threads, batch_size, has_symbol, since)

    scored = frame.groupBy("symbol").applyInArrow(score_group, SPARK_OUTPUT_SCHEMA)
    if not has_symbol:
        scored = scored.drop("symbol")
    try:
        if _is_s3(output):
            done = _write_object(scored, output)
        else:
            scored.write.mode("overwrite" if replace_uri else "errorifexists").parquet(target)
            written = spark.read.parquet(target)
            if has_symbol:
                done = {r["symbol"]: r["count"] for r in written.groupBy("symbol").count().collect()}
            else:
                done = {"": written.count()}
    except Exception as exc:
        text = str(exc)
        if _MARK in text:
            raise DataError(text.split(_MARK)[1]) from None
        raise
    summary = SparkSummary(input_path, output, bundle.model_id, master)
    counts = {r["symbol"]: r["count"] for r in frame.groupBy("symbol").count().collect()}
    summary.rows_read = sum(counts.values())
    summary.rows_scored = sum(done.values())
    summary.symbols = sum(1 for s in counts if done.get(s))
    summary.short_symbols = {s: n for s, n in sorted(counts.items()) if n < bundle.window_rows}
    summary.since = since.isoformat() if since is not None else None
    if summary.rows_scored == 0:
        if since is not None:
            raise DataError(f"{name}: no window ends at or after --since {since}: nothing to score")
        raise DataError(f"{name}: no symbol has enough rows for one window")
    return summary


def _write_object(scored: Any, output: str) -> dict[str, int]:
    """The scores as one ``s3://`` object: each partition's part is fetched to the driver in turn
    (``toLocalIterator``: one partition in memory at a time) into a private temporary folder, then
    uploaded as one object, completed last; returns rows written per symbol."""
    import json

    from signalpack.score import objstore

    encoded = scored.mapInArrow(encode_part, "part long, rows string, data binary")
    done: dict[str, int] = {}
    with objstore.temporary_target() as work:
        files: list[Path] = []
        for row in encoded.toLocalIterator(prefetchPartitions=True):
            path = work.parent / f"part-{len(files):05d}.parquet"
            path.write_bytes(row["data"])
            files.append(path)
            for sym, n in json.loads(row["rows"]).items():
                done[sym] = done.get(sym, 0) + int(n)
        if files:
            objstore.write_parts(files, output)
    return done

"""Resolve a `score run` INPUT into an ordered list of files, and read them as one stream.

INPUT is one of:

- **a file** (CSV, gzipped CSV or parquet): read as it always was, nothing else changes;
- **an ``s3://bucket/key.parquet`` object**: one parquet object, read through polars' object
  store (``score.objstore``: URI checks, AWS credentials); or **an s3:// prefix or glob**
  (``s3://b/prices/``, ``s3://b/prices/*/*.parquet``): its parquet objects, listed and sorted
  by key, taken as a folder or glob below (``key=value`` segments are partitions; keys with a
  ``.`` or ``_`` segment are skipped); no CSV on s3;
- **a folder**: every data file in it, sorted by path. Files must be all parquet
  (``.parquet``/``.pq``) or all CSV (``.csv``, ``.csv.gz``, ``.gz``); names starting with
  ``.`` or ``_`` are skipped (``_SUCCESS``, ``.crc`` files, ``_temporary`` folders);
  any other file, a plain (not ``key=value``) sub-folder, or a symlink to a folder is
  refused, as is a folder with no data file;
- **a glob pattern** (when no file of that name exists; quote it from the shell):
  the files it matches, sorted by path, of one kind as above; a pattern matching
  nothing, or matching a folder, is refused;
- either of the last two **hive-partitioned** (``prices/symbol=XYZ/date=2026-11-27/part-0.parquet``):
  ``key=value`` folders below the folder (or below the pattern's wildcard-free start) are
  partitions. A ``symbol=`` (or ``ticker=``) partition supplies the symbol of every row
  of the files under it; a file that has a symbol column too must hold that symbol in
  every row. Any other key (``date=``, ``year=``, ``exchange=``) is informational: it is
  not read, and each file must carry its own timestamp column. Every file must lie
  under the same partition keys, in the same order.

Every file of a dataset gets the checks a single file gets, before any file is read
(regular files only: a FIFO or device is refused before it is opened), and messages
name the file by its path inside the dataset and its own row. ``DatasetReader`` then
streams the files one after another through ``OhlcvReader`` (memory bounded by the
batch, never the dataset), with one (symbol, timestamp) order check across all of
them: a dataset split by symbol in sorted order streams; any other split (by date,
say) raises ``UnsortedInput`` and the runner sorts it out of core, exactly as it
sorts one unsorted file. Either way the rows, and so the output, are the same as
those of the one file holding all of them.

``since_filters`` pushes ``score run --since`` into the parquet reads: per symbol only
the warm-up rows before DATE and the rows from DATE on are read.
"""

from __future__ import annotations

import bisect
import fnmatch
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl

from signalpack.errors import ConfigError, DataError, InputError, SignalpackError
from signalpack.score import objstore
from signalpack.score.io import (
    ROW_COLUMN,
    SYMBOL_NAMES,
    OhlcvReader,
    OrderCheck,
    duplicate_error,
    duplicate_error_between,
    map_columns,
)

__all__ = ["Dataset", "DatasetFile", "DatasetReader", "default_output", "is_glob", "resolve_input", "since_filters"]

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv.gz", ".csv", ".gz")
_GLOB_MAGIC = frozenset("*?[")
_NO_VALUE = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset. name : how messages name it (its path inside the dataset);
    partitions : its hive ``key=value`` folders, keys lower-cased, values percent-decoded, in path order."""

    path: Path
    name: str
    partitions: tuple[tuple[str, str], ...] = ()
    uri: str | None = None
    """An ``s3://`` object instead of a local file (``score.objstore``; ``path`` is then unused)."""

    @property
    def symbol(self) -> str | None:
        """The symbol its ``symbol=``/``ticker=`` partition gives every row, if any."""
        return next((v for k, v in self.partitions if k in SYMBOL_NAMES), None)


@dataclass(frozen=True)
class Dataset:
    """An INPUT resolved: ``kind`` is file, folder or glob; ``files`` sorted by path."""

    spec: str
    kind: str
    files: tuple[DatasetFile, ...]
    root: Path | None = None
    """The folder of a folder input (outputs may not go inside it)."""
    fmt: str = field(default="")
    """parquet or csv."""

    @property
    def name(self) -> str:
        """The INPUT as messages name it: a file's name, else the folder or pattern as given."""
        return self.files[0].name if self.kind == "file" else self.spec

    def contains(self, out: str | os.PathLike[str]) -> bool:
        """Whether ``out`` would be read as part of this dataset (inside the folder, or matched by the pattern)."""
        target = Path(out)
        if self.kind == "folder" and self.root is not None:
            try:
                target.resolve().relative_to(self.root.resolve())
                return True
            except (ValueError, OSError, RuntimeError):
                return False
        if objstore.is_uri(self.spec):
            out_uri = os.fspath(out)
            if self.kind == "folder":
                return out_uri.startswith(self.spec)
            return fnmatch.fnmatchcase(out_uri, self.spec)
        if self.kind == "glob":
            pattern = os.path.abspath(self.spec)
            return fnmatch.fnmatchcase(os.path.abspath(target), pattern)
        return False


def is_glob(spec: str | os.PathLike[str]) -> bool:
    """A pattern, not a name: it holds a glob character and no file of that name exists."""
    text = os.fspath(spec)
    return bool(_GLOB_MAGIC & set(text)) and not os.path.lexists(text)


def default_output(spec: str | os.PathLike[str]) -> Path | None:
    """The default output for a folder (``<folder>.signals.parquet`` beside it); raises for a glob; None for a file."""
    text = os.fspath(spec)
    if is_glob(text):
        raise ConfigError(f"{text}: a glob input needs --output (there is no one place beside it to write to)")
    p = Path(text)
    if p.is_dir():
        base = p.resolve() if p.name in ("", ".", "..") else p
        if not base.name:
            raise ConfigError(f"{text}: a folder input without a name needs --output")
        return base.with_name(f"{base.name}.signals.parquet")
    return None


def resolve_input(spec: str | os.PathLike[str]) -> Dataset:
    """The files of INPUT, checked and sorted by path (see the module docstring)."""
    text = os.fspath(spec)
    if objstore.is_uri(text):  # s3:// only: one parquet object, or a prefix or glob of them
        objstore.check_uri(text, dataset=True)
        if not objstore.is_dataset_uri(text):
            return Dataset(text, "file", (DatasetFile(Path(text), text, uri=text),), fmt="parquet")
        return _finish(Dataset(text, "folder" if text.endswith("/") else "glob", _object_files(text)))
    p = Path(text)
    if is_glob(text):
        files = _glob_files(text)
        return _finish(Dataset(text, "glob", files))
    if p.is_dir():
        found: list[DatasetFile] = []
        _walk(p, (), found)
        if not found:
            raise InputError(f"{text}: the folder holds no parquet or CSV file")
        return _finish(Dataset(text, "folder", tuple(found), root=p))
    # one file: exactly as before (OhlcvReader checks existence, kind and permissions)
    return Dataset(text, "file", (DatasetFile(p, p.name),))


def _kind(name: str) -> str | None:
    low = name.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _partition(component: str) -> tuple[str, str] | None:
    key, sep, value = component.partition("=")
    if not sep or not key.strip():
        return None
    return key.strip().lower(), unquote(value)


def _walk(folder: Path, rel: tuple[str, ...], found: list[DatasetFile]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except PermissionError as exc:
        raise InputError(f"{folder}: folder is not readable (permission denied)") from exc
    except OSError as exc:
        raise InputError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from exc
    for entry in entries:
        if entry.name.startswith((".", "_")):
            continue
        path = Path(entry.path)
        shown = "/".join((*rel, entry.name))
        try:
            is_link = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
            links_to_dir = is_link and entry.is_dir(follow_symlinks=True)
        except OSError as exc:
            raise InputError(f"{path}: cannot be examined ({exc.strerror or exc})") from exc
        if links_to_dir:
            raise InputError(f"{path}: is a symlink to a folder; folders inside a dataset are not followed through symlinks")
        if is_dir:
            if _partition(entry.name) is None:
                raise InputError(
                    f"{path}: a sub-folder that is not a hive partition (key=value); a dataset folder holds "
                    "data files or key=value folders"
                )
            _walk(path, (*rel, entry.name), found)
            continue
        if _kind(entry.name) is None:
            raise InputError(
                f"{path}: not a parquet (.parquet, .pq) or CSV (.csv, .csv.gz, .gz) file; remove it from the "
                "dataset folder or name the files with a glob"
            )
        found.append(DatasetFile(path, shown, tuple(p for p in map(_partition, rel) if p is not None)))


def _glob_files(pattern: str) -> tuple[DatasetFile, ...]:
    matches = sorted(glob.glob(pattern, recursive=True), key=lambda m: Path(m).parts)
    if not matches:
        raise InputError(f"{pattern}: the pattern matches no file")
    # partitions are the key=value folders below the pattern's fixed start (as below a folder input),
    # never the folders above it: /mnt/ticker=old/prices/*.csv names no symbol
    parts = Path(pattern).parts
    static = next((i for i, part in enumerate(parts) if _GLOB_MAGIC & set(part)), len(parts))
    out = []
    for m in matches:
        path = Path(m)
        if path.is_dir():
            raise InputError(f"{m}: the pattern matches a folder; end it with a file pattern, e.g. '*.parquet'")
        if _kind(path.name) is None:
            raise InputError(f"{m}: not a parquet (.parquet, .pq) or CSV (.csv, .csv.gz, .gz) file")
        parts = tuple(p for p in map(_partition, path.parts[static:-1]) if p is not None)
        out.append(DatasetFile(path, m, parts))
    return tuple(out)


def _object_files(spec: str) -> tuple[DatasetFile, ...]:
    """The objects of an s3:// prefix or glob; partitions are the key=value segments below its fixed start."""
    static = spec[: min([spec.index(c) for c in "*?" if c in spec] or [len(spec)])]
    static = static[: static.rfind("/") + 1]
    out = []
    for uri in objstore.list_objects(spec):
        rel = uri[len(static):] if uri.startswith(static) else uri.rsplit("/", 1)[-1]
        parts = tuple(p for p in map(_partition, rel.split("/")[:-1]) if p is not None)
        out.append(DatasetFile(Path(rel), rel, parts, uri=uri))
    return tuple(out)


def _finish(ds: Dataset) -> Dataset:
    """Check the files agree (one kind, the same partition keys, one symbol key), before reading any."""
    first = ds.files[0]
    fmt = _kind(first.path.name)
    keys = tuple(k for k, _ in first.partitions)
    for f in ds.files:
        kind = _kind(f.path.name)
        if kind != fmt:
            raise InputError(
                f"{ds.spec}: mixes {fmt} and {kind} files ({first.name}, {f.name}); a dataset is all parquet or all CSV"
            )
        fkeys = tuple(k for k, _ in f.partitions)
        if fkeys != keys:
            raise InputError(
                f"{f.name}: partition keys ({', '.join(fkeys) or 'none'}) differ from {first.name}'s "
                f"({', '.join(keys) or 'none'}); every file of a dataset lies under the same key=value folders"
            )
        if len(set(fkeys)) != len(fkeys):
            raise InputError(f"{f.name}: a partition key appears twice in the path")
        sym_keys = [k for k in fkeys if k in SYMBOL_NAMES]
        if len(sym_keys) > 1:
            raise InputError(f"{f.name}: both symbol= and ticker= partitions; use one")
        sym = f.symbol
        if sym_keys and (sym is None or not sym.strip() or sym == _NO_VALUE):
            raise DataError(f"{f.name}: empty {sym_keys[0]}= partition; every row needs a symbol")
        if sym is not None and sym != sym.strip():
            raise DataError(f"{f.name}: the {sym_keys[0]}= partition value {sym!r} has leading or trailing spaces")
    return Dataset(ds.spec, ds.kind, ds.files, ds.root, fmt or "")


def since_filters(dataset: Dataset, since: datetime, warmup: int) -> list[pl.Expr] | None:
    """Per file, the filter that keeps what ``score run --since`` needs: every row at or after ``since``
    and, per symbol, the ``warmup`` rows just before it (``None``: no push-down, read everything).

    Parquet only, and only when every file's timestamp column is a parquet date or datetime: a
    first pass reads just the symbol and timestamp columns (file by file, so memory follows a file)
    and finds, per symbol, the ``warmup``-th timestamp before ``since``; the filter then keeps
    rows at or after it (and rows with a null key, so the reader still reports them). Anything the
    pass cannot read (a corrupt file, text timestamps) means no push-down: the reader then reports it.
    """
    if any(f.uri is not None for f in dataset.files):
        return None  # an s3:// object: --since filters the windows after scoring, no push-down
    if dataset.fmt != "parquet" and not (dataset.kind == "file" and dataset.files[0].path.suffix.lower()
                                         in (".parquet", ".pq")):
        return None
    keys: list[tuple[pl.Expr, pl.Expr]] = []
    found: list[pl.DataFrame] = []
    try:
        for f in dataset.files:
            exprs = _key_exprs(f)
            if exprs is None:
                return None
            sym, ts = exprs
            keys.append(exprs)
            if warmup > 0:
                found.append(
                    pl.scan_parquet(f.path).select(sym.alias("s"), ts.alias("t"))
                    .filter(pl.col("t") < since).group_by("s").agg(pl.col("t").top_k(warmup)).collect()
                )
    except (pl.exceptions.PolarsError, OSError, SignalpackError):
        return None
    cutoffs: dict[str, datetime] = {}
    if found:
        table = (pl.concat(found).explode("t").group_by("s")
                 .agg(pl.col("t").top_k(warmup).min()).drop_nulls())
        cutoffs = dict(zip(table["s"].to_list(), table["t"].to_list(), strict=True))
    low = min(cutoffs.values(), default=since)
    filters = []
    for sym, ts in keys:
        need = sym.replace_strict(cutoffs, default=pl.lit(since), return_dtype=pl.Datetime("us")) if cutoffs \
            else pl.lit(since)
        filters.append(ts.is_null() | sym.is_null() | ((ts >= low) & (ts >= need)))
    return filters


def _key_exprs(f: DatasetFile) -> tuple[pl.Expr, pl.Expr] | None:
    """A parquet file's symbol and timestamp as the reader will parse them, on its own columns."""
    schema = pl.read_parquet_schema(f.path)
    mapping = map_columns(list(schema), f.name)
    src = mapping["timestamp"]
    dtype = schema[src]
    ts = pl.col(src)
    if dtype == pl.Date:
        ts = ts.cast(pl.Datetime("us"))
    elif isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            ts = ts.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        ts = ts.cast(pl.Datetime("us"))
    else:
        return None
    if "symbol" in mapping:
        sym = pl.col(mapping["symbol"]).cast(pl.String).str.strip_chars()
    else:
        sym = pl.lit(f.symbol or "", dtype=pl.String)
    return sym, ts


class DatasetReader:
    """A dataset's files as one stream of checked batches (``OhlcvReader``'s interface, see the module docstring).

    ordered=True : one (symbol, timestamp) order check runs across all files (``UnsortedInput``
        when they are not in order). ordered=False : batches carry ``ROW_COLUMN`` as a row index
        global to the dataset (file after file), which ``duplicate_error`` maps back to a file and its row.
    """

    def __init__(self, dataset: Dataset, batch_rows: int = 250_000, *, ordered: bool = True,
                 since: datetime | None = None, warmup: int = 0) -> None:
        self.dataset = dataset
        self.ordered = ordered
        order = OrderCheck() if ordered else None
        # every file is checked (exists, regular, readable, CSV head) before any is read
        self.readers = [
            OhlcvReader(f.uri or f.path, batch_rows, ordered=ordered, name=f.name, symbol=f.symbol, order=order)
            for f in dataset.files
        ]
        self.pushed_down = False
        """Whether ``since`` was pushed into the parquet reads (``since_filters``)."""
        if since is not None:
            filters = since_filters(dataset, since, warmup)
            if filters is not None:
                self.pushed_down = True
                for reader, keep in zip(self.readers, filters, strict=True):
                    reader.keep = keep
        self._bases: list[int] = []
        self.rows_read = 0
        self.has_symbol = False
        self._first: OhlcvReader | None = None

    def __iter__(self) -> Iterator[pl.DataFrame]:
        base = 0
        for reader in self.readers:
            self._bases.append(base)
            started = False
            end = base
            for batch in reader:
                if not started:
                    started = True
                    self._check_symbol_column(reader)
                if not self.ordered:
                    if base:
                        batch = batch.with_columns(pl.col(ROW_COLUMN) + base)
                    end = int(batch.get_column(ROW_COLUMN)[-1]) + 1  # file rows: a keep filter skips some
                yield batch
            self.rows_read += reader.rows_read
            base = max(end, base + reader.rows_read)

    def _check_symbol_column(self, reader: OhlcvReader) -> None:
        first = self._first
        if first is None:
            self._first, self.has_symbol = reader, reader.has_symbol
        elif reader.has_symbol != first.has_symbol:
            with_, without = (reader, first) if reader.has_symbol else (first, reader)
            raise DataError(
                f"{without.name}: has no symbol column, but {with_.name} has one; give every file of the "
                "dataset a symbol column (or a symbol= partition), or none"
            )

    def duplicate_error(self, symbol: str, ts: Any, row_a: int, row_b: int) -> DataError:
        """The duplicate message for dataset-global rows ``row_a`` < ``row_b`` (unordered reading)."""
        (ra, la), (rb, lb) = self._locate(row_a), self._locate(row_b)
        assert ra.where is not None and rb.where is not None
        if ra is rb:
            return duplicate_error(rb.where, self.has_symbol, symbol, ts, la, lb)
        return duplicate_error_between(ra.where, la, rb.where, lb, self.has_symbol, symbol, ts)

    def _locate(self, row: int) -> tuple[OhlcvReader, int]:
        k = bisect.bisect_right(self._bases, row) - 1
        return self.readers[k], row - self._bases[k]

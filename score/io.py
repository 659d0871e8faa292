"""Read OHLCV files (CSV, gzipped CSV, parquet), map their columns and check the data.

This is the one boundary where price data enters signalpack, for training and
scoring alike. Everything is validated here, with one clear message per fault
naming the file, the column, the first offending row and its value; code after
this module trusts the frame it returns.

Row numbers in messages count data rows from 1 in file order; for CSV the
line number (header = line 1) is given too, so the row can be found in an editor.
Values quoted from the file are escaped and cut (``_show``): a message never
carries raw control characters, and never more than a few dozen of the file's
characters.

Supported values (refused outside, one line naming file, column, row and value):
timestamps from 1678-01-01 to 2261-12-31 (``TIMESTAMP_RANGE``), four-digit years
in text; prices in [1e-30, 1e30] and volume in [0, 1e30] (``PRICE_RANGE``,
``VOLUME_MAX``). Input must be a regular file: FIFOs, devices and sockets are
refused before anything opens them.
"""

from __future__ import annotations

import csv
import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from signalpack.errors import DataError, InputError, first_line
from signalpack.score import objstore

__all__ = [
    "OHLCV_COLUMNS",
    "PRICE_COLUMNS",
    "PRICE_RANGE",
    "ROW_COLUMN",
    "TIMESTAMP_RANGE",
    "VOLUME_MAX",
    "OhlcvData",
    "OhlcvReader",
    "OrderCheck",
    "UnsortedInput",
    "clean_ohlcv",
    "duplicate_error",
    "duplicate_error_between",
    "load_ohlcv",
    "map_columns",
    "too_short_message",
]

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
OHLCV_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
TIMESTAMP_NAMES: tuple[str, ...] = ("timestamp", "datetime", "date", "time")
SYMBOL_NAMES: tuple[str, ...] = ("symbol", "ticker")

# Accepted textual timestamp formats, tried in this order on the first value.
_TIMESTAMP_FORMATS: tuple[tuple[str, str], ...] = (
    ("%Y-%m-%d %H:%M:%S%.f", "YYYY-MM-DD HH:MM:SS"),
    ("%Y-%m-%dT%H:%M:%S%.f", "YYYY-MM-DDTHH:MM:SS"),
    ("%Y-%m-%d %H:%M", "YYYY-MM-DD HH:MM"),
    ("%Y-%m-%dT%H:%M", "YYYY-MM-DDTHH:MM"),
    ("%Y-%m-%d", "YYYY-MM-DD"),
    ("%m/%d/%Y %H:%M:%S", "M/D/YYYY HH:MM:SS"),
    ("%m/%d/%Y %H:%M", "M/D/YYYY HH:MM"),
    ("%m/%d/%Y", "M/D/YYYY"),
)

_ROW = "__row"
ROW_COLUMN = _ROW
"""The 0-based file row index an unordered ``OhlcvReader`` keeps beside the data (for the out-of-core sort)."""
_FILE_ROW = "__file_row"  # the file's own row index, kept through a ``keep`` filter (OhlcvReader)

TIMESTAMP_RANGE: tuple[str, str] = ("1678-01-01", "2261-12-31")
"""First and last supported day. Whole years inside numpy/pandas ``datetime64[ns]`` (1677-09-21 to
2262-04-11), which is also inside Python's ``datetime`` (years 1-9999), pyarrow, Spark and JavaScript
``Date``: every timestamp in the output parquet then reads back in any of them. Outside it, polars parses
values (year 0, year 10000) that Python cannot represent and ns readers overflow on."""
_DAY0, _DAY1 = -106_650, 106_651  # 1678-01-01 and 2262-01-01 as days since 1970-01-01 (end exclusive)
_PER_DAY = {"ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}

PRICE_RANGE: tuple[float, float] = (1e-30, 1e30)
"""Prices the in-graph float64 features compute exactly. The features are scale-free (log returns,
ratios, z-scores), but the graph squares price deviations for rolling standard deviations: measured on
goog_daily.csv with the default bundle, scores equal the unscaled ones bit for bit for prices scaled
from 1e-150 to 1e150 (prices ~1e-148 to ~1e153), and differ beyond (squares overflow to inf, or
underflow to 0 and zero a feature). The bounds keep ~100 orders of magnitude of margin on both sides
and are far outside real prices (tiny crypto tokens ~1e-11, hyperinflation quotes ~1e15)."""
VOLUME_MAX = 1e30
"""Volume enters the features as ln(1 + volume), exact for any finite value; the bound only refuses
absurd values (1e30 is ~1e17 times any real daily volume)."""


@dataclass(frozen=True)
class OhlcvData:
    """A checked OHLCV frame, sorted by (symbol, timestamp).

    frame : columns ``symbol`` (str; "" when the file has no symbol column),
        ``timestamp`` (datetime[us]), ``open``, ``high``, ``low``, ``close``,
        ``volume`` (float64).
    has_symbol : whether the file carried a symbol column.
    rows_read : data rows in the file.
    skipped_short : symbols dropped because they hold fewer rows than one
        window needs, with their row counts.
    """

    path: Path
    frame: pl.DataFrame
    has_symbol: bool
    rows_read: int
    skipped_short: dict[str, int] = field(default_factory=dict)

    @property
    def symbols(self) -> list[str]:
        return self.frame.get_column("symbol").unique(maintain_order=True).to_list()


def load_ohlcv(path: str | os.PathLike[str], min_rows: int = 1) -> OhlcvData:
    """Read and check an OHLCV file.

    Parameters
    ----------
    path : CSV (``.csv``, ``.csv.gz``/``.gz``) or parquet (``.parquet``/``.pq``) file.
    min_rows : rows one symbol needs to yield at least one window (feature
        look-back + sequence length). Shorter symbols are skipped and reported
        in ``skipped_short``; if no symbol is long enough, a DataError is raised.
    """
    p = Path(path)
    raw, is_csv = _read_raw(p)
    return clean_ohlcv(raw, p, min_rows=min_rows, is_csv=is_csv)


def clean_ohlcv(
    raw: pl.DataFrame, path: Path, min_rows: int = 1, is_csv: bool = False
) -> OhlcvData:
    """Map columns, parse, check and sort an already-read frame (see ``load_ohlcv``)."""
    name = path.name
    if raw.width == 0:
        raise DataError(f"{name}: the file is empty")
    if raw.height == 0:
        raise DataError(f"{name}: the file has a header but no data rows")
    mapping = _map_columns(raw, name)
    has_symbol = "symbol" in mapping
    where = _Where(name, is_csv, mapping)
    frame, _ = _parse_checked(raw, where, row_offset=0, ts_format=None)
    _check_duplicates(frame, where, has_symbol)

    frame = frame.sort(["symbol", "timestamp"], maintain_order=True).select(
        "symbol", "timestamp", *OHLCV_COLUMNS
    )
    counts = frame.group_by("symbol", maintain_order=True).len()
    short = counts.filter(pl.col("len") < min_rows)
    skipped = dict(zip(short["symbol"].to_list(), short["len"].to_list(), strict=True))
    if len(skipped) == counts.height:
        raise DataError(too_short_message(name, has_symbol, int(counts["len"].max()), min_rows))  # type: ignore[arg-type]
    if skipped:
        frame = frame.filter(~pl.col("symbol").is_in(list(skipped)))
    return OhlcvData(
        path=path, frame=frame, has_symbol=has_symbol, rows_read=raw.height, skipped_short=skipped
    )


def too_short_message(name: str, has_symbol: bool, longest: int, min_rows: int) -> str:
    if has_symbol:
        what = f"every symbol has fewer rows (longest: {longest})"
    else:
        what = f"{longest} rows are fewer"
    return f"{name}: {what} than one window needs ({min_rows} rows)"


def _parse_checked(
    raw: pl.DataFrame, where: _Where, row_offset: int, ts_format: tuple[str, str] | None
) -> tuple[pl.DataFrame, tuple[str, str] | None]:
    """Rename, parse and value-check rows in file order (``__row`` = global row index; the file's
    row index ``__file_row`` when a ``keep`` filter left rows out)."""
    cols = [pl.col(src).alias(dst) for dst, src in where.mapping.items()]
    if _FILE_ROW in raw.columns:
        frame = raw.select(*cols, pl.col(_FILE_ROW).cast(pl.Int64).alias(_ROW))
    else:
        frame = raw.select(cols).with_row_index(_ROW, offset=row_offset)
    ts_expr, ts_format = _parse_timestamp(frame, where, ts_format)
    frame = frame.with_columns(ts_expr)
    frame = frame.with_columns(_parse_numbers(frame, where))
    if "symbol" in where.mapping:
        frame = frame.with_columns(pl.col("symbol").cast(pl.String).str.strip_chars())
        bad = frame.filter(pl.col("symbol").is_null() | (pl.col("symbol") == ""))
        if bad.height:
            raise DataError(f"{where.at('symbol', bad)}: empty symbol")
        if where.symbol is not None:
            bad = frame.filter(pl.col("symbol") != where.symbol)
            if bad.height:
                raise DataError(
                    f"{where.at('symbol', bad)}: differs from the folder's partition symbol {_show(where.symbol)}"
                )
    else:
        frame = frame.with_columns(pl.lit(where.symbol or "", dtype=pl.String).alias("symbol"))
    _check_values(frame, where)
    return frame, ts_format


class UnsortedInput(Exception):
    """Raised by ``OhlcvReader`` when rows are not in (symbol, timestamp) order."""


class OrderCheck:
    """The (symbol, timestamp) order check across batches: of one file, or of several files read one after
    another (one ``OrderCheck`` shared by their readers, ``score.datasets``).

    Each symbol must come in one contiguous run with strictly increasing timestamps, symbols in
    increasing order. A duplicate (symbol, timestamp) raises DataError naming both rows (and both files
    when they differ); any other disorder raises ``UnsortedInput``.
    """

    def __init__(self) -> None:
        self.last_sym: str | None = None
        self.last_ts: Any = None
        self.last_row = -1
        self.last_where: _Where | None = None
        self.seen: set[str] = set()

    def check(self, frame: pl.DataFrame, where: _Where, has_symbol: bool) -> None:
        """Check one parsed batch (``__row`` = its file rows) against itself and everything before it."""
        sym = frame.get_column("symbol")
        ts = frame.get_column("timestamp")
        try:
            last_sym, last_ts = self.last_sym, self.last_ts
            prev_sym = sym.shift(1, fill_value=last_sym)
            prev_ts = ts.shift(1, fill_value=last_ts) if last_ts is not None else ts.shift(1)
            same = sym == prev_sym
            dup = same & (ts == prev_ts)
            if dup.any():
                i = int(dup.arg_true()[0])
                row = int(frame[_ROW][i])
                if i or self.last_where is where:
                    raise duplicate_error(where, has_symbol, sym[i], ts[i], row - 1 if i else self.last_row, row)
                assert self.last_where is not None
                raise duplicate_error_between(self.last_where, self.last_row, where, row, has_symbol, sym[i], ts[i])
            if (same & (ts < prev_ts)).any():
                raise UnsortedInput(where.name)
            starts = sym.filter(~same.fill_null(False)).to_list()
            if any(s in self.seen for s in starts) or len(set(starts)) != len(starts):
                raise UnsortedInput(where.name)
            if starts and last_sym is not None and starts[0] < last_sym:
                raise UnsortedInput(where.name)
            if (sym.shift(1) > sym).any():
                raise UnsortedInput(where.name)
            self.seen.update(starts)
            self.last_sym, self.last_ts, self.last_where = sym[-1], ts[-1], where
            self.last_row = int(frame[_ROW][-1])
        finally:
            # an UnsortedInput traceback keeps this frame alive while the caller sorts: let go of the batch
            frame = sym = ts = prev_sym = prev_ts = same = dup = None  # type: ignore[assignment]


class OhlcvReader:
    """Stream an OHLCV file as checked batches in file order, in memory bounded by the batch size.

    Each batch gets the same checks as ``load_ohlcv`` (row numbers global to the
    file); across batches the reader requires (symbol, timestamp) order, each
    symbol in one contiguous run with strictly increasing timestamps. A
    duplicate (symbol, timestamp) raises DataError; any other disorder raises
    ``UnsortedInput`` so the caller can sort instead (``score.external_sort``).

    ordered=False : no order or duplicate checks across rows; batches keep the
        file row index in column ``ROW_COLUMN`` (for a sort, whose merge then
        finds duplicates: ``duplicate_error`` words them like the ordered reader).
    name : how messages name the file (default: its file name); a dataset names
        its files by their path inside it (``score.datasets``).
    symbol : the symbol of a hive ``symbol=`` partition: the symbol of every row
        when the file has no symbol column; a symbol column must then hold it in every row.
    order : the order check to continue (shared by the readers of a dataset's files).
    storage_options : for an ``s3://`` object, the settings to use instead of this process's AWS ones
        (``objstore.storage_options``; a Spark executor gets the driver's).
    keep : a filter on the parquet file's own columns (``score run --since``): only the rows it
        keeps are read and checked; messages still give file rows; a file it empties yields nothing.
    """

    def __init__(
        self, path: str | os.PathLike[str], batch_rows: int = 250_000, *, ordered: bool = True,
        name: str | None = None, symbol: str | None = None, order: OrderCheck | None = None,
        keep: pl.Expr | None = None, storage_options: dict[str, str] | None = None,
    ) -> None:
        self.uri = os.fspath(path) if objstore.is_uri(os.fspath(path)) else None
        """An ``s3://`` parquet object (``score.objstore``), read through polars' object store."""
        self.path = Path(path)
        self.name = name if name is not None else (self.uri or self.path.name)
        self.batch_rows = batch_rows
        self.ordered = ordered
        self.symbol = symbol
        self.order = order
        self.keep = keep
        self.where: _Where | None = None
        self._remote: pl.LazyFrame | None = None
        if self.uri is not None:
            objstore.check_uri(self.uri)
            self._remote = objstore.scan(self.uri, storage_options)  # checked to exist and be parquet before any reading
            self.is_parquet = True
        else:
            self.is_parquet = _check_readable(self.path)
        self.rows_read = 0
        self.has_symbol = False
        if not self.is_parquet:
            # batches of about BATCH_BYTES of text: rows may carry wide columns the scorer never reads
            line = _precheck_csv(self.path, self.name)
            self.batch_rows = max(64, min(batch_rows, BATCH_BYTES // line))

    def _scan(self) -> pl.LazyFrame:
        if self.is_parquet:
            scan = self._remote if self._remote is not None else pl.scan_parquet(self.path)
            return scan if self.keep is None else scan.with_row_index(_FILE_ROW).filter(self.keep)
        if self.keep is not None:
            raise ValueError("keep filters parquet files only")
        return pl.scan_csv(self.path, infer_schema=False)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        name = self.name
        where: _Where | None = None
        ts_format: tuple[str, str] | None = None
        order = self.order if self.order is not None else OrderCheck()
        try:
            batches = self._scan().collect_batches(chunk_size=self.batch_rows)
            for raw in _polars_errors(batches, name, self.is_parquet):
                if raw.height == 0:
                    continue
                if where is None:
                    mapping = map_columns([c for c in raw.columns if c != _FILE_ROW], name)
                    where = self.where = _Where(name, not self.is_parquet, mapping, self.symbol)
                    self.has_symbol = "symbol" in mapping or self.symbol is not None
                frame, ts_format = _parse_checked(raw, where, self.rows_read, ts_format)
                self.rows_read += raw.height
                if not self.ordered:
                    yield frame.select("symbol", "timestamp", *OHLCV_COLUMNS, _ROW)
                    continue
                order.check(frame, where, self.has_symbol)
                yield frame.select("symbol", "timestamp", *OHLCV_COLUMNS)
        except PermissionError as exc:
            raise InputError(f"{self.uri or self.path}: file is not readable (permission denied)") from exc
        finally:
            # An exception (UnsortedInput above all) keeps this frame alive in its traceback while the
            # caller handles it, e.g. for the whole out-of-core sort: let go of the polars query (an
            # unfinished one holds its read-ahead buffers) and of the last batch now.
            batches = raw = frame = None
        if self.rows_read == 0 and self.keep is None:
            raise DataError(f"{name}: the file has a header but no data rows")


def duplicate_error(where: _Where, has_symbol: bool, symbol: str, ts: Any, row_a: int, row_b: int) -> DataError:
    """The one wording of a duplicate (symbol, timestamp) at 0-based file rows ``row_a`` and ``row_b``."""
    who = f"symbol {_show(symbol)} " if has_symbol else ""
    return DataError(
        f"{where.name}: column {where.col('timestamp')}: duplicate {who}timestamp {ts} at "
        f"{where.row(row_a)} and {where.row(row_b)}"
    )


def duplicate_error_between(
    where_a: _Where, row_a: int, where_b: _Where, row_b: int, has_symbol: bool, symbol: str, ts: Any
) -> DataError:
    """A duplicate (symbol, timestamp) in two files of a dataset: file b's row, then where file a has it."""
    who = f"symbol {_show(symbol)} " if has_symbol else ""
    return DataError(
        f"{where_b.name}: column {where_b.col('timestamp')}: duplicate {who}timestamp {ts} at "
        f"{where_b.row(row_b)}, already in {where_a.name} at {where_a.row(row_a)}"
    )


def _polars_errors(batches: Iterator[pl.DataFrame], name: str, is_parquet: bool) -> Iterator[pl.DataFrame]:
    """Re-raise polars read errors as one-line input errors."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except pl.exceptions.NoDataError as exc:
            raise DataError(f"{name}: the file is empty") from exc
        except (pl.exceptions.PolarsError, OSError) as exc:
            kind = "parquet" if is_parquet else "CSV"
            cls = InputError if is_parquet else DataError
            raise cls(f"{name}: not a readable {kind} file ({first_line(exc)})") from exc
        yield batch


# --------------------------------------------------------------------------- reading


def _check_readable(p: Path) -> bool:
    """Existence and permission checks; returns whether the file is parquet (by suffix)."""
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a CSV or parquet file")
    mode = p.stat().st_mode
    if not stat.S_ISREG(mode):  # checked on stat, before any open: opening a FIFO blocks until a writer comes
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise InputError(
            f"{p}: is {kind}, not a regular file; the input is read more than once (checks, then data), "
            "so write it to a file first (a .csv.gz is read as a stream)"
        )
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: file is not readable (permission denied)")
    suffixes = [s.lower() for s in p.suffixes]
    return bool(suffixes) and suffixes[-1] in (".parquet", ".pq")


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip inside gzip"),
    (b"PAR1", "a parquet file: name it .parquet"),
    (b"PK\x03\x04", "a zip archive"),
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"


BATCH_BYTES = 32 << 20
"""About this much CSV text per batch the reader hands to polars (``OhlcvReader``)."""
_SAMPLE = 256 << 10


def _precheck_csv(p: Path, name: str | None = None) -> int:
    """Cheap checks on the first bytes: empty file, fake gzip, binary data, line endings, header, delimiter.

    Never echoes bytes of the file: a binary file gets a description, quoted header text is escaped and cut.
    Returns the mean line length in bytes (of text, after decompression) over the first 256 kB.
    """
    name = p.name if name is None else name
    with open(p, "rb") as fh:
        sample = fh.read(_SAMPLE)
    if not sample:
        raise DataError(f"{name}: the file is empty")
    gz = p.suffix.lower() == ".gz"
    if gz and sample[:2] != b"\x1f\x8b":
        raise InputError(f"{name}: has a .gz name but is not gzip-compressed")
    if sample[:2] == b"\x1f\x8b":
        try:
            with gzip.open(p, "rb") as fh:
                sample = fh.read(_SAMPLE)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{name}: cannot be decompressed ({first_line(exc)})") from exc
        if not sample.strip():
            raise DataError(f"{name}: the file is empty")
    head = sample[:4096]
    what = next((label for magic, label in _MAGIC if head.startswith(magic)), None)
    if what is None and (b"\x00" in head or sum(head.count(bytes([c])) for c in _CONTROL) * 100 > len(head)):
        what = "binary data"
    if what is not None:
        raise DataError(f"{name}: not a text CSV file ({what})")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut by the 4096-byte read
            line = head.count(b"\n", 0, exc.start) + 1
            raise DataError(
                f"{name}: not a readable CSV file (invalid utf-8 at line {line}); save it as UTF-8 text"
            ) from exc
    if b"\n" not in head and b"\r" in head.rstrip(b"\r"):  # lines, but none ends in LF
        raise DataError(
            f"{name}: CR-only line endings (classic Mac); convert the file to LF or CRLF line endings"
        )
    header = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
    if "," not in header:
        for sep, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in header:
                raise DataError(
                    f"{name}: the header looks {label}-delimited ({_show(header.strip())}); "
                    "signalpack reads comma-separated CSV"
                )
    if b"\n" in head or len(head) < 4096:
        names = next(csv.reader([header]), [])
        _check_unique_names(names, name)
    return max(1, len(sample) // max(1, sample.count(b"\n")))


def _check_unique_names(columns: list[str], name: str) -> None:
    """Refuse two columns whose names match case-insensitively (polars would rename one silently)."""
    seen: dict[str, int] = {}
    for i, col in enumerate(columns):
        key = col.strip().lower()
        if not key:
            continue  # unnamed columns (an index, a trailing comma) are never read by name
        if key in seen:
            j = seen[key]
            first = columns[j]
            if first == col:
                raise DataError(f"{name}: columns {j + 1} and {i + 1} are both named {_show(col)}; rename or drop one")
            raise DataError(
                f"{name}: columns {_show(first)} and {_show(col)} differ only in case (columns {j + 1} and {i + 1})"
            )
        seen[key] = i


def _read_raw(p: Path) -> tuple[pl.DataFrame, bool]:
    is_parquet = _check_readable(p)
    try:
        if is_parquet:
            return _read_parquet(p), False
        return _read_csv(p), True
    except PermissionError as exc:
        raise InputError(f"{p}: file is not readable (permission denied)") from exc


def _read_parquet(p: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(p)
    except Exception as exc:  # polars raises several types for corrupt files
        raise InputError(f"{p.name}: not a readable parquet file ({first_line(exc)})") from exc


def _read_csv(p: Path) -> pl.DataFrame:
    _precheck_csv(p)
    with open(p, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    source: Path | bytes = p
    if gzipped:
        try:
            with gzip.open(p, "rb") as fh:
                source = fh.read()
        except (OSError, EOFError) as exc:  # BadGzipFile is an OSError
            raise InputError(f"{p.name}: cannot be decompressed ({first_line(exc)})") from exc
    try:
        return pl.read_csv(source, infer_schema=False)
    except OSError as exc:
        raise InputError(f"{p.name}: cannot be read ({first_line(exc)})") from exc
    except pl.exceptions.NoDataError as exc:
        raise DataError(f"{p.name}: the file is empty") from exc
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{p.name}: not a readable CSV file ({first_line(exc)})") from exc


# --------------------------------------------------------------------------- columns


def _map_columns(raw: pl.DataFrame, name: str) -> dict[str, str]:
    return map_columns(raw.columns, name)


def map_columns(columns: list[str], name: str) -> dict[str, str]:
    """Target name -> source column, matching names case-insensitively (also used by the Spark engine)."""
    _check_unique_names(columns, name)
    lower: dict[str, str] = {}
    for col in columns:
        lower.setdefault(col.strip().lower(), col)
    mapping: dict[str, str] = {}
    missing = [c for c in OHLCV_COLUMNS if c not in lower]
    ts = next((lower[n] for n in TIMESTAMP_NAMES if n in lower), None)
    if ts is None:
        first = columns[0]
        if first.strip() == "" or first.startswith("__UNNAMED__") or first.lower() == "index":
            ts = first
    if ts is None:
        missing.append("timestamp")
    if missing:
        found = ", ".join(_show(c) for c in columns[:20]) + (", …" if len(columns) > 20 else "")
        raise DataError(
            f"{name}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"found [{found}]; need open, high, low, close, volume and a date/timestamp "
            "column (names matched case-insensitively)"
        )
    mapping["timestamp"] = ts
    for c in OHLCV_COLUMNS:
        mapping[c] = lower[c]
    sym = next((lower[n] for n in SYMBOL_NAMES if n in lower), None)
    if sym is not None:
        mapping["symbol"] = sym
    return mapping


class _Where:
    """Formats 'file: column 'X' row N (line M): value' locations for messages."""

    def __init__(self, name: str, is_csv: bool, mapping: dict[str, str], symbol: str | None = None) -> None:
        self.name, self.is_csv, self.mapping = name, is_csv, mapping
        self.symbol = symbol  # a hive ``symbol=`` partition's value, for every row (OhlcvReader)

    def row(self, idx: int) -> str:
        return f"row {idx + 1} (line {idx + 2})" if self.is_csv else f"row {idx + 1}"

    def col(self, target: str) -> str:
        return _show(self.mapping.get(target, target) or "<unnamed first column>")

    def at(self, target: str, bad: pl.DataFrame, value_col: str | None = None) -> str:
        first = bad.row(0, named=True)
        idx = int(first[_ROW])
        value = first.get(value_col) if value_col else first.get(target)
        shown = "" if value is None else f" value {_show(value)}"
        return f"{self.name}: column {self.col(target)} {self.row(idx)}{shown}"


def _show(value: Any, limit: int = 60) -> str:
    """``repr`` of a value from the file, cut to ``limit`` characters: control and other unprintable
    characters come out escaped (``'\\x1b'``), so a message stays one harmless line."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit] + "…"
    return repr(value)


# --------------------------------------------------------------------------- parsing


def _parse_timestamp(
    frame: pl.DataFrame, where: _Where, chosen: tuple[str, str] | None = None
) -> tuple[pl.Expr, tuple[str, str] | None]:
    """The parsed timestamp column and the text format used (fixed by the file's first row).

    Values stay in polars until they are known to lie in ``TIMESTAMP_RANGE``: polars holds
    years Python's ``datetime`` cannot (0, 10000), and turning one into a Python value raises.
    """
    col = frame.get_column("timestamp")
    nulls = frame.filter(pl.col("timestamp").is_null())
    if nulls.height:
        raise DataError(f"{where.at('timestamp', nulls)}: missing timestamp")
    if col.dtype == pl.Date:
        _check_range(frame, where, col.to_physical(), 1, lambda i: _temporal_text(col, i, "days"))
        return pl.col("timestamp").cast(pl.Datetime("us")), None
    if isinstance(col.dtype, pl.Datetime):
        # the physical value is UTC-based for time-zone-aware columns too: check it before any conversion
        unit = col.dtype.time_unit or "us"  # type: ignore[union-attr]
        _check_range(frame, where, col.to_physical(), _PER_DAY[unit], lambda i: _temporal_text(col, i, unit))
        expr = pl.col("timestamp")
        if col.dtype.time_zone is not None:  # type: ignore[union-attr]
            expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return expr.cast(pl.Datetime("us")), None
    if col.dtype != pl.String:
        raise DataError(
            f"{where.name}: column {where.col('timestamp')} has type {col.dtype}; "
            "expected dates or timestamps"
        )
    text = col.str.strip_chars()
    first = text[0]
    first_row = int(frame[_ROW][0])
    for fmt, label in () if chosen else _TIMESTAMP_FORMATS:
        if pl.Series([first]).str.to_datetime(fmt, strict=False, time_unit="us").is_not_null()[0]:
            chosen = (fmt, label)
            break
    if chosen is None:
        raise DataError(
            f"{where.name}: column {where.col('timestamp')} {where.row(first_row)}: "
            f"cannot parse {_show(first)} as a date; accepted forms are YYYY-MM-DD and M/D/YYYY, "
            "optionally followed by HH:MM[:SS]"
        )
    fmt, label = chosen
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    # %Y reads "99" as the year 99: a two-digit year names no century, so it is refused, never guessed
    short_year = text.str.contains(_SHORT_YEAR_MDY) | text.str.contains(_SHORT_YEAR_YMD)
    bad = parsed.is_null() | short_year
    if bad.any():
        i = int(bad.arg_true()[0])
        idx = int(frame[_ROW][i])
        if short_year[i]:
            raise DataError(
                f"{where.name}: column {where.col('timestamp')} {where.row(idx)} value {_show(text[i])}: "
                "two-digit years are ambiguous (19xx or 20xx?); write years with four digits"
            )
        other = next(
            (
                lab
                for f, lab in _TIMESTAMP_FORMATS
                if pl.Series([text[i]]).str.to_datetime(f, strict=False).is_not_null()[0]
            ),
            None,
        )
        why = (
            f"mixed timestamp formats: it is {other} but row 1 is {label}"
            if other
            else f"cannot parse it as a date ({label}, like row 1)"
        )
        raise DataError(
            f"{where.name}: column {where.col('timestamp')} {where.row(idx)} "
            f"value {_show(text[i])}: {why}"
        )
    _check_range(frame, where, parsed.cast(pl.Int64), _PER_DAY["us"], lambda i: text[i])
    return pl.lit(parsed).alias("timestamp"), chosen


_SHORT_YEAR_YMD = r"^\d{1,2}-"
_SHORT_YEAR_MDY = r"^\d{1,2}/\d{1,2}/\d{1,2}(?:\D|$)"


def _temporal_text(col: pl.Series, i: int, unit: str) -> str:
    """Value i of a date/datetime column as text, in UTC; as a count of units since 1970 where
    polars cannot format it (beyond year 262143 it panics)."""
    one = col.slice(i, 1)
    if isinstance(one.dtype, pl.Datetime) and one.dtype.time_zone is not None:  # type: ignore[union-attr]
        one = one.to_physical().cast(pl.Datetime(one.dtype.time_unit or "us"))  # type: ignore[union-attr]
    if one.dt.year().is_null()[0]:
        return f"{one.to_physical()[0]} {unit} since 1970-01-01"
    return str(one.cast(pl.String)[0])


def _check_range(frame: pl.DataFrame, where: _Where, ticks: pl.Series, per_day: int, shown: Any) -> None:
    """Refuse the first timestamp outside ``TIMESTAMP_RANGE``. ticks : the physical values (days for a
    date, units since 1970-01-01 otherwise); shown(i) : the i-th value as text for the message."""
    out = (ticks < _DAY0 * per_day) | (ticks >= _DAY1 * per_day)
    if out.any():
        i = int(out.arg_true()[0])
        raise DataError(
            f"{where.name}: column {where.col('timestamp')} {where.row(int(frame[_ROW][i]))} "
            f"value {_show(shown(i))}: outside the supported dates {TIMESTAMP_RANGE[0]} to {TIMESTAMP_RANGE[1]}"
        )


def _parse_numbers(frame: pl.DataFrame, where: _Where) -> list[pl.Expr]:
    out: list[pl.Expr] = []
    for c in OHLCV_COLUMNS:
        dtype = frame.schema[c]
        if dtype == pl.String:
            s = frame.get_column(c).str.strip_chars()
            empty = s.is_null() | (s == "")
            if empty.any():
                idx = int(empty.arg_true()[0])
                raise DataError(
                    f"{where.name}: column {where.col(c)} {where.row(int(frame[_ROW][idx]))}: empty value"
                )
            num = s.cast(pl.Float64, strict=False)
            bad = num.is_null()
            if bad.any():
                idx = int(bad.arg_true()[0])
                raise DataError(
                    f"{where.name}: column {where.col(c)} {where.row(int(frame[_ROW][idx]))} value {_show(s[idx])}: "
                    "not a number"
                )
            out.append(pl.lit(num).alias(c))
        elif dtype.is_numeric():
            nulls = frame.get_column(c).is_null()
            if nulls.any():
                idx = int(nulls.arg_true()[0])
                raise DataError(
                    f"{where.name}: column {where.col(c)} {where.row(int(frame[_ROW][idx]))}: empty value"
                )
            out.append(pl.col(c).cast(pl.Float64))
        else:
            raise DataError(
                f"{where.name}: column {where.col(c)} has type {dtype}; expected numbers"
            )
    return out


# --------------------------------------------------------------------------- checks


def _check_values(frame: pl.DataFrame, where: _Where) -> None:
    for c in OHLCV_COLUMNS:
        v = pl.col(c)
        for cond, what in (
            (v.is_nan(), "NaN is not a valid value"),
            (v.is_infinite(), "infinite values are not valid"),
        ):
            _raise_first(frame, cond, c, where, what)
    lo, hi = PRICE_RANGE
    for c in PRICE_COLUMNS:
        _raise_first(frame, pl.col(c) <= 0, c, where, "prices must be positive")
        _raise_first(frame, (pl.col(c) < lo) | (pl.col(c) > hi), c, where,
                     f"outside the supported price range [{lo:g}, {hi:g}], where the features are exact")
    _raise_first(frame, pl.col("volume") < 0, "volume", where, "volume must not be negative")
    _raise_first(frame, pl.col("volume") > VOLUME_MAX, "volume", where,
                 f"volume above the supported maximum {VOLUME_MAX:g}")
    bad = frame.filter(pl.col("high") < pl.col("low"))
    if bad.height:
        r = bad.row(0, named=True)
        raise DataError(
            f"{where.name}: column {where.col('high')} {where.row(int(r[_ROW]))}: "
            f"high {r['high']!r} is below low {r['low']!r}"
        )
    for c in ("open", "close"):
        bad = frame.filter((pl.col(c) < pl.col("low")) | (pl.col(c) > pl.col("high")))
        if bad.height:
            r = bad.row(0, named=True)
            raise DataError(
                f"{where.name}: column {where.col(c)} {where.row(int(r[_ROW]))}: "
                f"{c} {r[c]!r} is outside [low {r['low']!r}, high {r['high']!r}]"
            )


def _raise_first(frame: pl.DataFrame, cond: pl.Expr, col: str, where: _Where, what: str) -> None:
    bad = frame.filter(cond)
    if bad.height:
        r = bad.row(0, named=True)
        raise DataError(
            f"{where.name}: column {where.col(col)} {where.row(int(r[_ROW]))} "
            f"value {r[col]!r}: {what}"
        )


def _check_duplicates(frame: pl.DataFrame, where: _Where, has_symbol: bool) -> None:
    keys = ["symbol", "timestamp"]
    dup = frame.filter(pl.len().over(keys) > 1)
    if not dup.height:
        return
    first = dup.row(0, named=True)
    same = dup.filter(
        (pl.col("symbol") == first["symbol"]) & (pl.col("timestamp") == first["timestamp"])
    )
    rows = [where.row(int(i)) for i in same[_ROW].to_list()[:2]]
    who = f"symbol {_show(first['symbol'])} " if has_symbol else ""
    raise DataError(
        f"{where.name}: column {where.col('timestamp')}: duplicate {who}timestamp "
        f"{first['timestamp']} at {rows[0]} and {rows[1]}"
    )

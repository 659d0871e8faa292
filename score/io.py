"""Read OHLCV files (CSV, gzipped CSV, parquet), map their columns and check the data.

This is the one boundary where price data enters signalpack, for training and
scoring alike. Everything is validated here, with one clear message per fault
naming the file, the column, the first offending row and its value; code after
this module trusts the frame it returns.

Row numbers in messages count data rows from 1 in file order; for CSV the
line number (header = line 1) is given too, so the row can be found in an editor.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from signalpack.errors import DataError, InputError, first_line

__all__ = [
    "OhlcvData", "OhlcvReader", "UnsortedInput", "load_ohlcv", "clean_ohlcv", "too_short_message", "map_columns",
    "PRICE_COLUMNS", "OHLCV_COLUMNS",
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
    """Rename, parse and value-check rows in file order (``__row`` = global row index)."""
    frame = raw.select(
        [pl.col(src).alias(dst) for dst, src in where.mapping.items()]
    ).with_row_index(_ROW, offset=row_offset)
    ts_expr, ts_format = _parse_timestamp(frame, where, ts_format)
    frame = frame.with_columns(ts_expr)
    frame = frame.with_columns(_parse_numbers(frame, where))
    if "symbol" in where.mapping:
        frame = frame.with_columns(pl.col("symbol").cast(pl.String).str.strip_chars())
        bad = frame.filter(pl.col("symbol").is_null() | (pl.col("symbol") == ""))
        if bad.height:
            raise DataError(f"{where.at('symbol', bad)}: empty symbol")
    else:
        frame = frame.with_columns(pl.lit("", dtype=pl.String).alias("symbol"))
    _check_values(frame, where)
    return frame, ts_format


class UnsortedInput(Exception):
    """Raised by ``OhlcvReader`` when rows are not in (symbol, timestamp) order."""


class OhlcvReader:
    """Stream an OHLCV file as checked batches in file order, in memory bounded by the batch size.

    Each batch gets the same checks as ``load_ohlcv`` (row numbers global to the
    file); across batches the reader requires (symbol, timestamp) order, each
    symbol in one contiguous run with strictly increasing timestamps. A
    duplicate (symbol, timestamp) raises DataError; any other disorder raises
    ``UnsortedInput`` so the caller can fall back to ``load_ohlcv``, which sorts
    in memory.
    """

    def __init__(self, path: str | os.PathLike[str], batch_rows: int = 250_000) -> None:
        self.path = Path(path)
        self.batch_rows = batch_rows
        self.is_parquet = _check_readable(self.path)
        self.rows_read = 0
        self.has_symbol = False
        if not self.is_parquet:
            _precheck_csv(self.path)

    def _scan(self) -> pl.LazyFrame:
        if self.is_parquet:
            return pl.scan_parquet(self.path)
        return pl.scan_csv(self.path, infer_schema=False)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        name = self.path.name
        where: _Where | None = None
        ts_format: tuple[str, str] | None = None
        last_sym: str | None = None
        last_ts: Any = None
        last_row = -1
        seen: set[str] = set()
        try:
            batches = self._scan().collect_batches(chunk_size=self.batch_rows)
            for raw in _polars_errors(batches, name, self.is_parquet):
                if raw.height == 0:
                    continue
                if where is None:
                    mapping = _map_columns(raw, name)
                    where = _Where(name, not self.is_parquet, mapping)
                    self.has_symbol = "symbol" in mapping
                frame, ts_format = _parse_checked(raw, where, self.rows_read, ts_format)
                self.rows_read += raw.height
                sym = frame.get_column("symbol")
                ts = frame.get_column("timestamp")
                prev_sym = sym.shift(1, fill_value=last_sym)
                prev_ts = ts.shift(1, fill_value=last_ts) if last_ts is not None else ts.shift(1)
                same = sym == prev_sym
                dup = same & (ts == prev_ts)
                if dup.any():
                    i = int(dup.arg_true()[0])
                    row = int(frame[_ROW][i])
                    who = f"symbol {sym[i]!r} " if self.has_symbol else ""
                    raise DataError(
                        f"{name}: column {where.col('timestamp')}: duplicate {who}timestamp {ts[i]} at "
                        f"{where.row(row - 1 if i else last_row)} and {where.row(row)}"
                    )
                if (same & (ts < prev_ts)).any():
                    raise UnsortedInput(name)
                starts = sym.filter(~same.fill_null(False)).to_list()
                if any(s in seen for s in starts) or len(set(starts)) != len(starts):
                    raise UnsortedInput(name)
                if starts and last_sym is not None and starts[0] < last_sym:
                    raise UnsortedInput(name)
                if (sym.shift(1) > sym).any():
                    raise UnsortedInput(name)
                seen.update(starts)
                last_sym, last_ts, last_row = sym[-1], ts[-1], int(frame[_ROW][-1])
                yield frame.select("symbol", "timestamp", *OHLCV_COLUMNS)
        except PermissionError as exc:
            raise InputError(f"{self.path}: file is not readable (permission denied)") from exc
        if self.rows_read == 0:
            raise DataError(f"{name}: the file has a header but no data rows")


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
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: file is not readable (permission denied)")
    suffixes = [s.lower() for s in p.suffixes]
    return bool(suffixes) and suffixes[-1] in (".parquet", ".pq")


def _precheck_csv(p: Path) -> None:
    """Cheap checks on the first bytes: empty file, fake gzip, another delimiter."""
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if not head:
        raise DataError(f"{p.name}: the file is empty")
    gz = p.suffix.lower() == ".gz"
    if gz and head[:2] != b"\x1f\x8b":
        raise InputError(f"{p.name}: has a .gz name but is not gzip-compressed")
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(p, "rb") as fh:
                head = fh.read(4096)
        except (OSError, EOFError) as exc:
            raise InputError(f"{p.name}: cannot be decompressed ({first_line(exc)})") from exc
        if not head.strip():
            raise DataError(f"{p.name}: the file is empty")
    header = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff")
    if "," not in header:
        for sep, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in header:
                raise DataError(
                    f"{p.name}: the header looks {label}-delimited ({header.strip()!r}); "
                    "signalpack reads comma-separated CSV"
                )


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
    lower: dict[str, str] = {}
    for col in columns:
        key = col.strip().lower()
        if key in lower:
            raise DataError(f"{name}: columns {lower[key]!r} and {col!r} differ only in case")
        lower[key] = col
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
        raise DataError(
            f"{name}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"found {list(columns)}; need open, high, low, close, volume and a date/timestamp "
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

    def __init__(self, name: str, is_csv: bool, mapping: dict[str, str]) -> None:
        self.name, self.is_csv, self.mapping = name, is_csv, mapping

    def row(self, idx: int) -> str:
        return f"row {idx + 1} (line {idx + 2})" if self.is_csv else f"row {idx + 1}"

    def col(self, target: str) -> str:
        return repr(self.mapping.get(target, target) or "<unnamed first column>")

    def at(self, target: str, bad: pl.DataFrame, value_col: str | None = None) -> str:
        first = bad.row(0, named=True)
        idx = int(first[_ROW])
        value = first.get(value_col) if value_col else first.get(target)
        shown = "" if value is None else f" value {value!r}"
        return f"{self.name}: column {self.col(target)} {self.row(idx)}{shown}"


# --------------------------------------------------------------------------- parsing


def _parse_timestamp(
    frame: pl.DataFrame, where: _Where, chosen: tuple[str, str] | None = None
) -> tuple[pl.Expr, tuple[str, str] | None]:
    """The parsed timestamp column and the text format used (fixed by the file's first row)."""
    col = frame.get_column("timestamp")
    nulls = frame.filter(pl.col("timestamp").is_null())
    if nulls.height:
        raise DataError(f"{where.at('timestamp', nulls)}: missing timestamp")
    if col.dtype == pl.Date:
        return pl.col("timestamp").cast(pl.Datetime("us")), None
    if isinstance(col.dtype, pl.Datetime):
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
        if pl.Series([first]).str.to_datetime(fmt, strict=False, time_unit="us")[0] is not None:
            chosen = (fmt, label)
            break
    if chosen is None:
        raise DataError(
            f"{where.name}: column {where.col('timestamp')} {where.row(first_row)}: "
            f"cannot parse {first!r} as a date; accepted forms are YYYY-MM-DD and M/D/YYYY, "
            "optionally followed by HH:MM[:SS]"
        )
    fmt, label = chosen
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    if parsed.null_count():
        i = int(parsed.is_null().arg_true()[0])
        idx = int(frame[_ROW][i])
        other = next(
            (
                lab
                for f, lab in _TIMESTAMP_FORMATS
                if pl.Series([text[i]]).str.to_datetime(f, strict=False)[0] is not None
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
            f"value {text[i]!r}: {why}"
        )
    return pl.lit(parsed).alias("timestamp"), chosen


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
                    f"{where.name}: column {where.col(c)} {where.row(int(frame[_ROW][idx]))} value {s[idx]!r}: "
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
    for c in PRICE_COLUMNS:
        _raise_first(frame, pl.col(c) <= 0, c, where, "prices must be positive")
    _raise_first(frame, pl.col("volume") < 0, "volume", where, "volume must not be negative")
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
    who = f"symbol {first['symbol']!r} " if has_symbol else ""
    raise DataError(
        f"{where.name}: column {where.col('timestamp')}: duplicate {who}timestamp "
        f"{first['timestamp']} at {rows[0]} and {rows[1]}"
    )

"""Tests for score.io.load_ohlcv: real files, accepted variants, bad files and the CLI path.

Every bad file is a real file (mostly tests/data/goog_daily.csv) with one cell,
line or byte range changed, so each case checks exactly one fault.
"""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from signalpack.errors import DataError, InputError, SignalpackError
from signalpack.score.io import OHLCV_COLUMNS, load_ohlcv

ROOT = Path(__file__).resolve().parents[2]
SP500 = ROOT / "train" / "data" / "sp500_daily.csv.gz"
GOOG = ROOT / "tests" / "data" / "goog_daily.csv"
EURUSD = ROOT / "tests" / "data" / "eurusd_hourly.csv"

FRAME_SCHEMA = {
    "symbol": pl.String,
    "timestamp": pl.Datetime("us"),
    **{c: pl.Float64 for c in OHLCV_COLUMNS},
}

GOOG_LINES = GOOG.read_text().splitlines()  # [header, data row 1, data row 2, ...]
GOOG_HEADER = GOOG_LINES[0].split(",")  # ['', 'Open', 'High', 'Low', 'Close', 'Volume']
EURUSD_LINES = EURUSD.read_text().splitlines()


# --------------------------------------------------------------------------- helpers


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode()


def _reference(path: Path, date_col: str, fmt: str) -> pl.DataFrame:
    """The frame load_ohlcv should return, built independently with explicit formats."""
    raw = pl.read_csv(_read_text(path).encode(), infer_schema=False)
    return raw.select(
        pl.lit("", dtype=pl.String).alias("symbol"),
        pl.col(date_col).str.strptime(pl.Datetime("us"), fmt).alias("timestamp"),
        *[pl.col(c.capitalize()).cast(pl.Float64).alias(c) for c in OHLCV_COLUMNS],
    )


GOOG_REF = _reference(GOOG, "", "%Y-%m-%d")
EURUSD_REF = _reference(EURUSD, "", "%Y-%m-%d %H:%M:%S")


def _cell(row: int, col: str) -> str:
    """Text of goog data row ``row`` (1-based), column ``col`` ('' is the date column)."""
    return GOOG_LINES[row].split(",")[GOOG_HEADER.index(col)]


def _goog_with(row: int, col: str, value: str) -> list[str]:
    lines = list(GOOG_LINES)
    cells = lines[row].split(",")
    cells[GOOG_HEADER.index(col)] = value
    lines[row] = ",".join(cells)
    return lines


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _drop_column(lines: list[str], col: str) -> list[str]:
    i = lines[0].split(",").index(col)
    return [",".join(c for j, c in enumerate(line.split(",")) if j != i) for line in lines]


def _iso_to_mdy(iso: str) -> str:
    d = datetime.strptime(iso, "%Y-%m-%d")
    return f"{d.month}/{d.day}/{d.year}"


def _symbol_file_lines(
    groups: list[tuple[str, list[str]]], sym_col: str = "Symbol", ts_col: str = "Date"
) -> list[str]:
    """Header + rows 'SYM,<original row>' for each (symbol, rows) group, in the given order."""
    header = f"{sym_col},{ts_col}," + ",".join(GOOG_HEADER[1:])
    return [header] + [f"{sym},{row}" for sym, rows in groups for row in rows]


def _assert_one_line(msg: str) -> None:
    assert msg.strip(), "empty message"
    assert "\n" not in msg and "\r" not in msg, f"message is not one line: {msg!r}"


# --------------------------------------------------------------------------- 1. real files


@pytest.mark.parametrize(
    ("path", "rows", "first", "last", "last_close", "reference"),
    [
        pytest.param(
            SP500, 5031, datetime(1999, 1, 4), datetime(2018, 12, 31), 2506.850098,
            lambda: _reference(SP500, "Date", "%m/%d/%Y"), id="sp500_daily_csv_gz",
        ),
        pytest.param(
            GOOG, 2148, datetime(2004, 8, 19), datetime(2013, 3, 1), 806.19,
            lambda: GOOG_REF, id="goog_daily_csv",
        ),
        pytest.param(
            EURUSD, 5000, datetime(2017, 4, 19, 9), datetime(2018, 2, 7, 15), 1.22904,
            lambda: EURUSD_REF, id="eurusd_hourly_csv",
        ),
    ],
)
def test_real_file_loads(path, rows, first, last, last_close, reference):
    data = load_ohlcv(path)
    frame = data.frame
    assert data.path == path
    assert data.has_symbol is False
    assert data.rows_read == rows
    assert data.skipped_short == {}
    assert data.symbols == [""]
    assert frame.columns == list(FRAME_SCHEMA)
    assert dict(frame.schema) == FRAME_SCHEMA
    assert frame.height == rows
    ts = frame.get_column("timestamp")
    assert ts[0] == first
    assert ts[-1] == last
    assert ts.is_sorted()
    assert ts.n_unique() == rows
    assert frame.get_column("close")[-1] == pytest.approx(last_close)
    assert frame.null_count().sum_horizontal().item() == 0
    assert_frame_equal(frame, reference())


def test_sp500_adj_close_is_ignored():
    header = _read_text(SP500).splitlines()[0].split(",")
    assert "Adj Close" in header
    assert "adj close" not in [c.lower() for c in load_ohlcv(SP500).frame.columns]


@pytest.mark.parametrize(("path", "rows"), [(GOOG, 2148), (EURUSD, 5000)], ids=["goog", "eurusd"])
def test_min_rows_equal_to_length_is_enough(path, rows):
    assert load_ohlcv(path, min_rows=rows).frame.height == rows
    with pytest.raises(DataError) as ei:
        load_ohlcv(path, min_rows=rows + 1)
    msg = str(ei.value)
    _assert_one_line(msg)
    assert path.name in msg
    assert f"{rows} rows are fewer than one window needs ({rows + 1} rows)" in msg


# --------------------------------------------------------------------------- 2. accepted variants


def _gz_copy(src: Path, d: Path) -> Path:
    p = d / f"{src.stem}.csv.gz"
    p.write_bytes(gzip.compress(src.read_bytes()))
    return p


def _gz_copy_without_gz_name(src: Path, d: Path) -> Path:
    p = d / f"{src.stem}_compressed.csv"  # gzip detected by its magic bytes
    p.write_bytes(gzip.compress(src.read_bytes()))
    return p


def _parquet_strings(src: Path, d: Path) -> Path:
    p = d / f"{src.stem}.parquet"  # same columns as the CSV, all strings, unnamed date column
    pl.read_csv(src, infer_schema=False).write_parquet(p)
    return p


def _parquet_typed(src: Path, d: Path) -> Path:
    p = d / f"{src.stem}_typed.pq"  # Date / Datetime column, float prices, int volume
    raw = pl.read_csv(src, try_parse_dates=True).rename({"": "Date"})
    assert raw.schema["Date"] in (pl.Date, pl.Datetime("us"))
    assert raw.schema["Volume"] == pl.Int64
    raw.write_parquet(p)
    return p


def _parquet_ns_utc(src: Path, d: Path) -> Path:
    p = d / f"{src.stem}_ns_utc.parquet"
    raw = pl.read_csv(src, try_parse_dates=True).rename({"": "timestamp"})
    raw.with_columns(pl.col("timestamp").cast(pl.Datetime("ns", "UTC"))).write_parquet(p)
    return p


@pytest.mark.parametrize("src", [GOOG, EURUSD], ids=["goog", "eurusd"])
@pytest.mark.parametrize(
    "make",
    [_gz_copy, _gz_copy_without_gz_name, _parquet_strings, _parquet_typed, _parquet_ns_utc],
    ids=["csv_gz", "gzip_bytes_csv_name", "parquet_strings", "parquet_typed", "parquet_ns_utc"],
)
def test_copies_load_identically(tmp_path, src, make):
    copy = make(src, tmp_path)
    expected = load_ohlcv(src)
    got = load_ohlcv(copy)
    assert got.path == copy
    assert got.rows_read == expected.rows_read
    assert got.has_symbol is False
    assert_frame_equal(got.frame, expected.frame)


def test_timezone_aware_parquet_is_converted_to_utc(tmp_path):
    p = tmp_path / "eurusd_berlin.parquet"
    raw = pl.read_csv(EURUSD, try_parse_dates=True).rename({"": "Datetime"})
    raw.with_columns(
        pl.col("Datetime").dt.replace_time_zone("Europe/Berlin", ambiguous="earliest")
    ).write_parquet(p)
    frame = load_ohlcv(p).frame
    assert frame.schema["timestamp"] == pl.Datetime("us")  # naive UTC
    assert frame.get_column("timestamp")[0] == datetime(2017, 4, 19, 7)  # 09:00 CEST
    assert frame.height == 5000
    assert frame.get_column("timestamp").is_sorted()


@pytest.mark.parametrize(
    "header",
    [
        "DATE,OPEN,HIGH,LOW,CLOSE,VOLUME",
        "date,open,high,low,close,volume",
        "Timestamp,oPeN,High,low,CLOSE,Volume",
        "datetime,Open,High,Low,Close,Volume",
        "TIME,Open,High,Low,Close,Volume",
        ",open,HIGH,Low,cLOSE,VOLUME",
        " Date , Open , High , Low , Close , Volume ",
    ],
)
def test_column_names_match_case_insensitively(tmp_path, header):
    p = _write(tmp_path / "goog_renamed.csv", [header, *GOOG_LINES[1:]])
    assert_frame_equal(load_ohlcv(p).frame, GOOG_REF)


def _eurusd_ts(fn: Callable[[str], str]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        lines = [EURUSD_LINES[0]]
        for line in EURUSD_LINES[1:]:
            ts, rest = line.split(",", 1)
            lines.append(f"{fn(ts)},{rest}")
        return _write(d / "eurusd_ts.csv", lines)

    return build


def _mdy_time(ts: str, seconds: bool) -> str:
    t = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S")
    return f"{t.month}/{t.day}/{t.year} {t:%H:%M}" + (f":{t:%S}" if seconds else "")


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(_eurusd_ts(lambda s: s), id="YYYY-MM-DD HH:MM:SS"),
        pytest.param(_eurusd_ts(lambda s: s.replace(" ", "T")), id="YYYY-MM-DDTHH:MM:SS"),
        pytest.param(_eurusd_ts(lambda s: s[:16]), id="YYYY-MM-DD HH:MM"),
        pytest.param(_eurusd_ts(lambda s: s[:16].replace(" ", "T")), id="YYYY-MM-DDTHH:MM"),
        pytest.param(_eurusd_ts(lambda s: s + ".000"), id="YYYY-MM-DD HH:MM:SS.fff"),
        pytest.param(_eurusd_ts(lambda s: _mdy_time(s, True)), id="M/D/YYYY HH:MM:SS"),
        pytest.param(_eurusd_ts(lambda s: _mdy_time(s, False)), id="M/D/YYYY HH:MM"),
        pytest.param(_eurusd_ts(lambda s: f" {s} "), id="surrounding spaces"),
    ],
)
def test_timestamp_formats_with_times(tmp_path, build):
    assert_frame_equal(load_ohlcv(build(tmp_path)).frame, EURUSD_REF)


@pytest.mark.parametrize(
    "fmt",
    [
        pytest.param(_iso_to_mdy, id="M/D/YYYY"),
        pytest.param(lambda s: datetime.strptime(s, "%Y-%m-%d").strftime("%m/%d/%Y"), id="MM/DD/YYYY"),
        pytest.param(lambda s: s + " 00:00:00", id="YYYY-MM-DD 00:00:00"),
        pytest.param(lambda s: s + "T00:00", id="YYYY-MM-DDT00:00"),
    ],
)
def test_date_formats(tmp_path, fmt):
    lines = [GOOG_LINES[0]] + [
        f"{fmt(line.split(',', 1)[0])},{line.split(',', 1)[1]}" for line in GOOG_LINES[1:]
    ]
    assert_frame_equal(load_ohlcv(_write(tmp_path / "goog_dates.csv", lines)).frame, GOOG_REF)


def _set_ref(ref: pl.DataFrame, row: int, **values: float) -> pl.DataFrame:
    """Reference frame with data row ``row`` (1-based) changed."""
    idx = pl.int_range(pl.len()) == row - 1
    return ref.with_columns(
        pl.when(idx).then(pl.lit(v, dtype=pl.Float64)).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    )


def _zero_range(lines: list[str]) -> list[str]:
    lines = list(lines)
    lines[6] = f"{_cell(6, '')},250.5,250.5,250.5,250.5,1000"
    return lines


def _extra_columns(lines: list[str]) -> list[str]:
    out = [lines[0] + ",Adj Close,Note,Dividends"]
    for i, line in enumerate(lines[1:], 1):
        close = float(line.split(",")[4])
        note = "" if i % 3 else "split-adjusted? n/a"
        out.append(f"{line},{close / 2},{note},{'abc' if i == 5 else ''}")
    return out


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        pytest.param(
            lambda ls: _goog_with(5, "Volume", "0"), lambda r: _set_ref(r, 5, volume=0.0),
            id="zero_volume_row",
        ),
        pytest.param(
            lambda ls: [ls[0]] + [",".join(x.split(",")[:5] + ["0"]) for x in ls[1:]],
            lambda r: r.with_columns(volume=pl.lit(0.0)), id="zero_volume_everywhere",
        ),
        pytest.param(
            _zero_range,
            lambda r: _set_ref(r, 6, open=250.5, high=250.5, low=250.5, close=250.5, volume=1000.0),
            id="zero_range_bar",
        ),
        pytest.param(_extra_columns, lambda r: r, id="extra_columns_ignored"),
        pytest.param(
            lambda ls: [ls[0]] + [",".join(f'"{c}"' for c in x.split(",")) for x in ls[1:]],
            lambda r: r, id="quoted_values",
        ),
        pytest.param(
            lambda ls: [x.replace(",", " , ") for x in ls],
            lambda r: r, id="spaces_around_cells",
        ),
        pytest.param(lambda ls: [x + "\r" for x in ls], lambda r: r, id="crlf_line_endings"),
        pytest.param(lambda ls: ["\ufeff" + ls[0], *ls[1:]], lambda r: r, id="utf8_bom"),
        pytest.param(
            lambda ls: [ls[0], *reversed(ls[1:])], lambda r: r, id="reverse_chronological",
        ),
    ],
)
def test_valid_edits(tmp_path, edit, expect):
    p = _write(tmp_path / "goog_edit.csv", edit(GOOG_LINES))
    data = load_ohlcv(p)
    assert data.rows_read == 2148
    assert_frame_equal(data.frame, expect(GOOG_REF))


def test_no_trailing_newline(tmp_path):
    p = tmp_path / "goog_no_newline.csv"
    p.write_text("\n".join(GOOG_LINES))
    assert_frame_equal(load_ohlcv(p).frame, GOOG_REF)


# ----- symbol files


@pytest.mark.parametrize(
    ("sym_col", "suffix"),
    [("Symbol", "csv"), ("ticker", "csv"), ("SYMBOL", "csv.gz"), ("Symbol", "parquet")],
)
def test_unsorted_multi_symbol_file_is_sorted(tmp_path, sym_col, suffix):
    goog_rows = [f"{r.split(',', 1)[0]} 00:00:00,{r.split(',', 1)[1]}" for r in GOOG_LINES[1:301]]
    eur_rows = EURUSD_LINES[1:401]
    lines = _symbol_file_lines([("GOOG", goog_rows), ("EURUSD", eur_rows)], sym_col, "Timestamp")
    body = lines[1:]
    random.Random(7).shuffle(body)
    text = "\n".join([lines[0], *body]) + "\n"
    p = tmp_path / f"mixed.{suffix}"
    if suffix == "csv":
        p.write_text(text)
    elif suffix == "csv.gz":
        p.write_bytes(gzip.compress(text.encode()))
    else:
        pl.read_csv(text.encode(), infer_schema=False).write_parquet(p)

    data = load_ohlcv(p)
    frame = data.frame
    assert data.has_symbol is True
    assert data.rows_read == 700
    assert data.skipped_short == {}
    assert data.symbols == ["EURUSD", "GOOG"]
    assert dict(frame.schema) == FRAME_SCHEMA
    assert_frame_equal(frame, frame.sort("symbol", "timestamp"))
    goog = frame.filter(pl.col("symbol") == "GOOG").drop("symbol")
    eur = frame.filter(pl.col("symbol") == "EURUSD").drop("symbol")
    assert_frame_equal(goog, GOOG_REF.head(300).drop("symbol"))
    assert_frame_equal(eur, EURUSD_REF.head(400).drop("symbol"))


def _long_and_short(d: Path) -> Path:
    # the same timestamps in two symbols are not duplicates
    lines = _symbol_file_lines([("SHORT", GOOG_LINES[1:21]), ("LONG", GOOG_LINES[1:301])])
    return _write(d / "long_short.csv", lines)


@pytest.mark.parametrize(
    ("min_rows", "skipped", "symbols"),
    [
        (1, {}, ["LONG", "SHORT"]),
        (20, {}, ["LONG", "SHORT"]),
        (21, {"SHORT": 20}, ["LONG"]),
        (300, {"SHORT": 20}, ["LONG"]),
    ],
)
def test_short_symbol_is_skipped(tmp_path, min_rows, skipped, symbols):
    data = load_ohlcv(_long_and_short(tmp_path), min_rows=min_rows)
    assert data.skipped_short == skipped
    assert data.symbols == symbols
    assert data.rows_read == 320
    assert data.frame.height == 300 + (0 if skipped else 20)
    long = data.frame.filter(pl.col("symbol") == "LONG").drop("symbol")
    assert_frame_equal(long, GOOG_REF.head(300).drop("symbol"))


@pytest.mark.parametrize("min_rows", [301, 5000])
def test_all_symbols_too_short_is_an_error(tmp_path, min_rows):
    p = _long_and_short(tmp_path)
    with pytest.raises(DataError) as ei:
        load_ohlcv(p, min_rows=min_rows)
    msg = str(ei.value)
    _assert_one_line(msg)
    assert msg == (
        f"long_short.csv: every symbol has fewer rows (longest: 300) "
        f"than one window needs ({min_rows} rows)"
    )


# --------------------------------------------------------------------------- 3. bad files


@dataclass(frozen=True)
class Bad:
    id: str
    build: Callable[[Path], Path]  # tmp dir -> bad file (or path that is not a file)
    exc: type[SignalpackError]
    parts: tuple[str, ...]  # substrings the message must contain (besides the file name)
    csv_rows: bool = True  # whether row locations carry "(line N)"
    full_path: bool = False  # message starts with the whole path, not just the file name

    def param(self):
        return pytest.param(self, id=self.id)


def _f(name: str, lines: list[str]) -> Callable[[Path], Path]:
    return lambda d: _write(d / name, lines)


def _bytes(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.write_bytes(data() if callable(data) else data)
        return p

    return build


def _truncated_parquet(d: Path) -> Path:
    p = d / "truncated.parquet"
    pl.read_csv(GOOG).rename({"": "Date"}).write_parquet(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _parquet_from(name: str, fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        fn(pl.read_csv(GOOG, try_parse_dates=True).rename({"": "Date"})).write_parquet(p)
        return p

    return build


def _null_at(col: str, row: int) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1).then(None).otherwise(pl.col(col)).alias(col)
    )


def _mkdir(d: Path) -> Path:
    p = d / "prices.csv"
    p.mkdir()
    return p


def _gz_trunc() -> bytes:
    data = gzip.compress(GOOG.read_bytes())
    return data[: len(data) // 2]


def _swap_high_low(row: int) -> list[str]:
    lines = _goog_with(row, "High", _cell(row, "Low"))
    cells = lines[row].split(",")
    cells[GOOG_HEADER.index("Low")] = _cell(row, "High")
    lines[row] = ",".join(cells)
    return lines


def _row_fmt(row: int) -> str:
    return f"row {row} (line {row + 1})"


_D24, _D30_MDY = _cell(24, ""), _iso_to_mdy(_cell(30, ""))
_L19, _H19 = float(_cell(19, "Low")), float(_cell(19, "High"))
_L21, _H21 = float(_cell(21, "Low")), float(_cell(21, "High"))
_L23, _H23 = float(_cell(23, "Low")), float(_cell(23, "High"))
_SYM_A, _SYM_B = GOOG_LINES[1:41], list(GOOG_LINES[1:41])
_SYM_B[9] = _cell(9, "") + "," + _SYM_B[9].split(",", 1)[1]  # B's row 10 gets row 9's date

BAD = [
    # ---- columns
    Bad("missing_volume", _f("missing_volume.csv", _drop_column(GOOG_LINES, "Volume")), DataError,
        ("missing column volume;", "found ['', 'Open', 'High', 'Low', 'Close']")),
    Bad("missing_high_low", _f("missing_hl.csv", _drop_column(_drop_column(GOOG_LINES, "High"), "Low")),
        DataError, ("missing columns high, low;",)),
    Bad("close_renamed_last", _f("renamed.csv", [GOOG_LINES[0].replace("Close", "Last"), *GOOG_LINES[1:]]),
        DataError, ("missing column close;", "'Last'")),
    Bad("no_timestamp_column", _f("no_ts.csv", ["Day" + GOOG_LINES[0], *GOOG_LINES[1:]]),
        DataError, ("missing column timestamp;", "'Day'")),
    Bad("columns_differ_in_case",
        _f("case_dup.csv", [GOOG_LINES[0] + ",close", *(x + "," + x.split(",")[4] for x in GOOG_LINES[1:])]),
        DataError, ("columns 'Close' and 'close' differ only in case",)),
    # ---- numbers
    Bad("string_price", _f("string_price.csv", _goog_with(5, "Close", "abc")), DataError,
        ("column 'Close'", _row_fmt(5), "value 'abc'", "not a number")),
    Bad("empty_cell", _f("empty_cell.csv", _goog_with(7, "Open", "")), DataError,
        ("column 'Open'", _row_fmt(7), "empty value")),
    Bad("nan_price", _f("nan_price.csv", _goog_with(9, "High", "NaN")), DataError,
        ("column 'High'", _row_fmt(9), "value nan", "NaN is not a valid value")),
    Bad("inf_price", _f("inf_price.csv", _goog_with(11, "Low", "inf")), DataError,
        ("column 'Low'", _row_fmt(11), "value inf", "infinite values are not valid")),
    Bad("nan_volume", _f("nan_volume.csv", _goog_with(12, "Volume", "nan")), DataError,
        ("column 'Volume'", _row_fmt(12), "value nan", "NaN is not a valid value")),
    Bad("zero_price", _f("zero_price.csv", _goog_with(13, "Open", "0")), DataError,
        ("column 'Open'", _row_fmt(13), "value 0.0", "prices must be positive")),
    Bad("negative_price", _f("negative_price.csv", _goog_with(15, "Close", "-101.5")), DataError,
        ("column 'Close'", _row_fmt(15), "value -101.5", "prices must be positive")),
    Bad("negative_volume", _f("negative_volume.csv", _goog_with(17, "Volume", "-100")), DataError,
        ("column 'Volume'", _row_fmt(17), "value -100.0", "volume must not be negative")),
    Bad("high_below_low", _f("high_below_low.csv", _swap_high_low(19)), DataError,
        ("column 'High'", _row_fmt(19), f"high {_L19!r} is below low {_H19!r}")),
    Bad("close_above_high", _f("close_outside.csv", _goog_with(21, "Close", "999.5")), DataError,
        ("column 'Close'", _row_fmt(21), f"close 999.5 is outside [low {_L21!r}, high {_H21!r}]")),
    Bad("open_below_low", _f("open_outside.csv", _goog_with(23, "Open", "1.5")), DataError,
        ("column 'Open'", _row_fmt(23), f"open 1.5 is outside [low {_L23!r}, high {_H23!r}]")),
    # ---- timestamps
    Bad("duplicate_timestamp", _f("duplicate.csv", _goog_with(25, "", _D24)), DataError,
        ("column '<unnamed first column>'", f"duplicate timestamp {_D24} 00:00:00",
         f"at {_row_fmt(24)} and {_row_fmt(25)}")),
    Bad("duplicate_symbol_timestamp",
        _f("duplicate_symbol.csv", _symbol_file_lines([("A", _SYM_A), ("B", _SYM_B)])), DataError,
        ("column 'Date'", f"duplicate symbol 'B' timestamp {_cell(9, '')} 00:00:00",
         f"at {_row_fmt(49)} and {_row_fmt(50)}")),
    Bad("mixed_timestamp_formats", _f("mixed_formats.csv", _goog_with(30, "", _D30_MDY)), DataError,
        (_row_fmt(30), f"value {_D30_MDY!r}", "mixed timestamp formats",
         "it is M/D/YYYY but row 1 is YYYY-MM-DD")),
    Bad("date_then_datetime", _f("date_datetime.csv", _goog_with(31, "", _cell(31, "") + " 09:30:00")),
        DataError, (_row_fmt(31), "mixed timestamp formats", "it is YYYY-MM-DD HH:MM:SS")),
    Bad("unparseable_date", _f("bad_date.csv", _goog_with(32, "", "2004-13-45")), DataError,
        (_row_fmt(32), "value '2004-13-45'", "cannot parse it as a date (YYYY-MM-DD, like row 1)")),
    Bad("unparseable_first_date", _f("bad_first_date.csv", _goog_with(1, "", "yesterday")), DataError,
        (_row_fmt(1), "cannot parse 'yesterday' as a date")),
    Bad("empty_timestamp", _f("empty_date.csv", _goog_with(33, "", "")), DataError,
        ("column '<unnamed first column>'", _row_fmt(33), "missing timestamp")),
    Bad("blank_line", _f("blank_line.csv", [*GOOG_LINES[:34], "", *GOOG_LINES[34:]]), DataError,
        (_row_fmt(34), "missing timestamp")),
    Bad("empty_symbol",
        _f("empty_symbol.csv", _symbol_file_lines([("A", _SYM_A), ("", _SYM_A[:3]), ("B", _SYM_A[3:])])),
        DataError, ("column 'Symbol'", _row_fmt(41), "empty symbol")),
    # ---- file shape
    Bad("empty_file", _bytes("empty.csv", b""), DataError, ("the file is empty",)),
    Bad("empty_file_gz_name", _bytes("empty.csv.gz", b""), DataError, ("the file is empty",)),
    Bad("gzip_of_nothing", _bytes("nothing.csv.gz", lambda: gzip.compress(b"")), DataError,
        ("the file is empty",)),
    Bad("blank_lines_only", _bytes("blank.csv", b"\n\n\n"), DataError, ("the file is empty",)),
    Bad("header_only", _f("header_only.csv", GOOG_LINES[:1]), DataError,
        ("the file has a header but no data rows",)),
    Bad("header_only_gz", _bytes("header_only.csv.gz", lambda: gzip.compress(GOOG_LINES[0].encode())),
        DataError, ("the file has a header but no data rows",)),
    Bad("semicolon_delimited", _f("semicolon.csv", [x.replace(",", ";") for x in GOOG_LINES]), DataError,
        ("the header looks semicolon-delimited", "';Open;High;Low;Close;Volume'")),
    Bad("tab_delimited", _f("tabs.csv", [x.replace(",", "\t") for x in GOOG_LINES]), DataError,
        ("the header looks tab-delimited",)),
    Bad("extra_field_in_row", _f("ragged.csv", [*GOOG_LINES[:5], GOOG_LINES[5] + ",7", *GOOG_LINES[6:]]),
        DataError, ("not a readable CSV file", "more fields")),
    Bad("invalid_utf8", _bytes("latin1.csv", lambda: GOOG.read_bytes().replace(b"2004-08-25", b"2004-08-25\xe9", 1)),
        DataError, ("not a readable CSV file", "utf-8")),
    # ---- files that cannot be read
    Bad("gz_name_not_gzip", _bytes("plain.csv.gz", GOOG.read_bytes()), InputError,
        ("has a .gz name but is not gzip-compressed",)),
    Bad("truncated_gzip", _bytes("truncated.csv.gz", _gz_trunc), InputError, ("cannot be decompressed",)),
    Bad("directory", _mkdir, InputError, ("is a directory, expected a CSV or parquet file",),
        full_path=True),
    Bad("missing_file", lambda d: d / "does_not_exist.csv", InputError, ("no such file",),
        full_path=True),
    Bad("truncated_parquet", _truncated_parquet, InputError, ("not a readable parquet file (",)),
    Bad("csv_named_parquet", _bytes("really_csv.parquet", GOOG.read_bytes()), InputError,
        ("not a readable parquet file (",)),
    # ---- parquet content (rows without line numbers)
    Bad("parquet_null_price", _parquet_from("null_close.parquet", _null_at("Close", 5)), DataError,
        ("column 'Close'", "row 5:", "empty value"), csv_rows=False),
    Bad("parquet_null_date", _parquet_from("null_date.parquet", _null_at("Date", 8)), DataError,
        ("column 'Date'", "row 8:", "missing timestamp"), csv_rows=False),
    Bad("parquet_integer_timestamps",
        _parquet_from("int_ts.parquet", lambda f: f.with_columns(pl.int_range(pl.len()).alias("Date"))),
        DataError, ("column 'Date' has type Int64; expected dates or timestamps",), csv_rows=False),
    Bad("parquet_boolean_volume",
        _parquet_from("bool_vol.parquet", lambda f: f.with_columns(pl.col("Volume") > 0)),
        DataError, ("column 'Volume' has type Boolean; expected numbers",), csv_rows=False),
    Bad("parquet_duplicate", _parquet_from("dup.parquet", lambda f: pl.concat([f, f.slice(10, 1)])),
        DataError, ("duplicate timestamp", "at row 11 and row 2149"), csv_rows=False),
]
BAD_BY_ID = {b.id: b for b in BAD}
assert len(BAD_BY_ID) == len(BAD)


@pytest.mark.parametrize("case", [b.param() for b in BAD])
def test_bad_file(tmp_path, case: Bad):
    path = case.build(tmp_path)
    with pytest.raises(SignalpackError) as ei:
        load_ohlcv(path)
    err = ei.value
    assert type(err) is case.exc, f"{type(err).__name__}: {err}"
    assert err.exit_code == 2
    msg = str(err)
    _assert_one_line(msg)
    assert msg.startswith(f"{path}: " if case.full_path else f"{path.name}: "), msg
    for part in case.parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    if not case.csv_rows:
        assert "(line " not in msg


def test_unreadable_file(tmp_path):
    p = tmp_path / "locked.csv"
    p.write_bytes(GOOG.read_bytes())
    p.chmod(0)
    try:
        if os.geteuid() == 0:
            # root ignores file permissions: the file is readable and loads normally
            assert os.access(p, os.R_OK)
            assert_frame_equal(load_ohlcv(p).frame, GOOG_REF)
        else:
            with pytest.raises(InputError) as ei:
                load_ohlcv(p)
            msg = str(ei.value)
            _assert_one_line(msg)
            assert p.name in msg and "file is not readable (permission denied)" in msg
    finally:
        p.chmod(0o644)


# --------------------------------------------------------------------------- 4. CLI

_CLI = (
    "import sys\n"
    "try:\n"
    "    from signalpack.cli import main\n"
    "    main()\n"
    "finally:\n"
    "    print('TF_LOADED' if 'tensorflow' in sys.modules else 'TF_NOT_LOADED')\n"
)

CLI_CASES = [
    "missing_volume", "string_price", "nan_price", "high_below_low", "duplicate_timestamp",
    "mixed_timestamp_formats", "empty_file", "semicolon_delimited", "gz_name_not_gzip",
    "directory", "missing_file", "truncated_parquet",
]


def _run_train(data: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLI, "train", str(data), "--out", str(out)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def _assert_cli_error(res: subprocess.CompletedProcess[str], data: Path, out: Path) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and res.stderr.endswith("\n"), res.stderr
    line = lines[0]
    assert line.startswith("signalpack: error: ") and len(line) > len("signalpack: error: ")
    assert data.name in line
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no run dir, no leftover .run.partial
    assert res.stdout.strip().splitlines()[-1] == "TF_NOT_LOADED"
    return line


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_cli_train_bad_file(tmp_path, case_id):
    case = BAD_BY_ID[case_id]
    data = case.build(tmp_path)
    with pytest.raises(case.exc) as ei:
        load_ohlcv(data)
    out_parent = tmp_path / "runs"
    out_parent.mkdir()
    out = out_parent / "run"
    res = _run_train(data, out, tmp_path)
    line = _assert_cli_error(res, data, out)
    assert line == f"signalpack: error: {ei.value}"


def test_cli_train_too_short_file(tmp_path):
    data = _write(tmp_path / "goog_30.csv", GOOG_LINES[:31])
    out_parent = tmp_path / "runs"
    out_parent.mkdir()
    out = out_parent / "run"
    line = _assert_cli_error(_run_train(data, out, tmp_path), data, out)
    assert "goog_30.csv: 30 rows are fewer than one window needs (" in line


def test_signalpack_console_script(tmp_path):
    script = Path(sys.executable).parent / "signalpack"
    if not script.exists():
        pytest.skip("signalpack console script not installed next to the interpreter")
    data = BAD_BY_ID["string_price"].build(tmp_path)
    out = tmp_path / "runs" / "run"
    out.parent.mkdir()
    res = subprocess.run(
        [str(script), "train", str(data), "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr == (
        "signalpack: error: string_price.csv: column 'Close' row 5 (line 6) "
        "value 'abc': not a number\n"
    )
    assert "Traceback" not in res.stdout
    assert not out.exists() and list(out.parent.iterdir()) == []

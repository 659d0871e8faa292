"""Builders for the bad-input table's "issue 13 · input side" cases (tests/test_bad_inputs.py).

Each returns the path of a real file (or FIFO) made in the case's work folder from
tests/data/goog_daily.csv, with exactly one thing wrong.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import polars as pl

from tests.conftest import GOOG

LINES = GOOG.read_text().splitlines()


def text(work: Path, name: str, lines: list[str], end: str = "\n") -> Path:
    p = work / name
    p.write_bytes((end.join(lines) + end).encode())
    return p


def blob(work: Path, name: str, data: bytes) -> Path:
    p = work / name
    p.write_bytes(data)
    return p


def cell(row: int, col: int, value: str) -> list[str]:
    out = list(LINES)
    cells = out[row].split(",")
    cells[col] = value
    out[row] = ",".join(cells)
    return out


def two_digit_years(work: Path) -> Path:
    """Every date written M/D/YY (8/19/04)."""
    body = [f"{int(x[5:7])}/{int(x[8:10])}/{x[2:4]}{x[10:]}" for x in LINES[1:]]
    return text(work, "mdy.csv", ["Date" + LINES[0], *body])


def far_parquet(work: Path) -> Path:
    """Row 10's date moved to the year 10004 (polars holds it; Python's datetime cannot)."""
    f = pl.read_csv(GOOG, try_parse_dates=True).rename({"": "Date"})
    f = f.with_columns(pl.when(pl.int_range(pl.len()) == 9).then(pl.col("Date").dt.offset_by("8000y"))
                       .otherwise(pl.col("Date")).alias("Date"))
    p = work / "far.parquet"
    f.write_parquet(p)
    return p


def scaled(work: Path, factor: float) -> Path:
    """Prices times ``factor``."""
    out = [LINES[0]]
    for x in LINES[1:]:
        d, *nums = x.split(",")
        out.append(",".join([d, *(repr(float(v) * factor) for v in nums[:4]), nums[4]]))
    return text(work, "scaled.csv", out)


def duplicate_close(work: Path) -> Path:
    """A second column named Close (polars would call it Close_duplicated_0 and read the first)."""
    return text(work, "dup.csv", [x + "," + x.split(",")[4] for x in LINES])


def double_gzip(work: Path) -> Path:
    return blob(work, "twice.csv.gz", gzip.compress(gzip.compress(GOOG.read_bytes())))


def binary(work: Path) -> Path:
    """Bytes 0-255 over and over: includes '|' (0x7c), which made it "pipe-delimited", and terminal escapes."""
    return blob(work, "blob.csv", bytes(range(256)) * 40)


def fifo(work: Path) -> Path:
    p = work / "pipe.csv"
    os.mkfifo(p)
    return p

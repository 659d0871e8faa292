"""Issue 15, item 2: `score run --since DATE` outputs exactly the tail (timestamp >= DATE) of the full output,
reading per symbol only the warm-up rows before DATE from parquet."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalpack.errors import ConfigError, DataError
from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle
from signalpack.score.io import load_ohlcv
from signalpack.score.runner import parse_since, score_file
from tests.conftest import EURUSD, GOOG, SP500
from tests.score.cli_inprocess import score_cli


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE, threads=1)


def _bars() -> pl.DataFrame:
    """Three real series overlapping in time, of different lengths and bar frequencies (daily and hourly)."""
    goog = load_ohlcv(GOOG).frame.with_columns(symbol=pl.lit("GOOG")).tail(900)
    spx = load_ohlcv(SP500).frame.filter(pl.col("timestamp").dt.year().is_between(2010, 2012))
    eur = load_ohlcv(EURUSD).frame.head(700)
    return pl.concat([goog, spx.with_columns(symbol=pl.lit("SPX")), eur.with_columns(symbol=pl.lit("EURUSD"))])


BARS = _bars()


def _write(frame: pl.DataFrame, path: Path) -> None:
    out = frame.rename({"timestamp": "Date"})
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        out.with_columns(pl.col("Date").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(path)
    else:
        out.write_parquet(path, row_group_size=200)


def _one_file(root: Path, suffix: str) -> str:
    _write(BARS.sort("symbol", "timestamp"), root / f"all{suffix}")
    return str(root / f"all{suffix}")


def _hive_date(root: Path, suffix: str) -> str:
    """date= partitions holding every symbol: the files are out of (symbol, timestamp) order (sorted out of core)."""
    for (year,), part in BARS.group_by(pl.col("timestamp").dt.year().alias("y")):
        _write(part, root / f"date={year}-01-01" / f"part-0{suffix}")
    return str(root)


def _hive_symbol(root: Path, suffix: str) -> str:
    for (sym,), part in BARS.group_by("symbol"):
        _write(part.sort("timestamp").drop("symbol"), root / f"symbol={sym}" / f"part-0{suffix}")
    return str(root / "symbol=*" / f"*{suffix}")


LAYOUTS = {"one parquet file": (_one_file, ".parquet"), "one CSV file": (_one_file, ".csv"),
           "hive date= parquet": (_hive_date, ".parquet"), "glob over hive symbol= CSV": (_hive_symbol, ".csv")}


@pytest.fixture(scope="module")
def full(bundle, tmp_path_factory):
    """Each layout's input and its full output (without --since)."""
    cases = {}
    for name, (write, suffix) in LAYOUTS.items():
        root = tmp_path_factory.mktemp(name.replace(" ", "_").replace("=", ""))
        spec = write(root / "in", suffix)
        score_file(spec, bundle, root / "full.parquet")
        cases[name] = (spec, pl.read_parquet(root / "full.parquet"))
    return cases


_TIMES = BARS.get_column("timestamp")
_LO, _HI = _TIMES.min() - timedelta(days=20), _TIMES.max() + timedelta(days=20)

dates = st.one_of(
    st.sampled_from(_TIMES.to_list()),  # exactly on a bar of some symbol
    st.datetimes(min_value=_LO, max_value=_HI),  # anywhere, times of day included
    st.dates(min_value=_LO.date(), max_value=_HI.date()).map(lambda d: datetime(d.year, d.month, d.day)),
)


def _warmup_rows(since: datetime, warmup: int) -> int:
    """What --since needs from the input: every bar at or after DATE and, per symbol, `warmup` bars before."""
    before = BARS.filter(pl.col("timestamp") < since).group_by("symbol").len()
    after = BARS.filter(pl.col("timestamp") >= since).height
    return after + int(before.get_column("len").clip(upper_bound=warmup).sum())


@pytest.mark.parametrize("layout", [l if l == "one parquet file" else pytest.param(l, marks=pytest.mark.slow)
                                    for l in LAYOUTS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(since=dates)
def test_since_output_is_exactly_the_tail_of_the_full_output(bundle, full, tmp_path, layout, since):
    spec, whole = full[layout]
    expected = whole.filter(pl.col("timestamp") >= since)
    out = tmp_path / f"since-{uuid.uuid4().hex}.parquet"  # examples share tmp_path, and may repeat
    if expected.height == 0:
        with pytest.raises(DataError, match="no window ends at or after --since"):
            score_file(spec, bundle, out, since=since)
        assert not out.exists()
        return
    summary = score_file(spec, bundle, out, since=since)
    got = pl.read_parquet(out)
    assert got.equals(expected)
    assert summary.rows_scored == expected.height
    if "parquet" in layout:  # pushed down: only the warm-up rows before DATE are read
        assert summary.rows_read == _warmup_rows(since, bundle.window_rows - 1)
    else:  # CSV: everything is read, windows before DATE are not computed
        assert summary.rows_read == BARS.height


def test_since_reads_few_rows_from_a_parquet_file_sorted_by_time(bundle, full, tmp_path):
    """The nightly case in small: the last day of a long history reads W - 1 rows per symbol plus that day."""
    spec, whole = full["one parquet file"]
    last = BARS.get_column("timestamp").max()
    summary = score_file(spec, bundle, tmp_path / "o.parquet", since=last)
    assert summary.rows_scored == whole.filter(pl.col("timestamp") >= last).height >= 1
    assert summary.rows_read == _warmup_rows(last, bundle.window_rows - 1) < BARS.height / 10


def test_bad_rows_outside_the_warm_up_are_not_read(bundle, tmp_path):
    """Documented: with push-down, rows older than the warm-up are not read, so not checked either."""
    frame = BARS.filter(pl.col("symbol") == "SPX").sort("timestamp")
    frame = frame.with_columns(close=pl.when(pl.int_range(pl.len()) == 3).then(-1.0).otherwise("close"))
    _write(frame, tmp_path / "spx.parquet")
    last = frame.get_column("timestamp").max()
    with pytest.raises(DataError, match="row 4 value -1.0: prices must be positive"):
        score_file(tmp_path / "spx.parquet", bundle, tmp_path / "full.parquet")
    summary = score_file(tmp_path / "spx.parquet", bundle, tmp_path / "since.parquet", since=last)
    assert summary.rows_scored == 1 and summary.rows_read == bundle.window_rows


def test_a_bad_row_in_the_warm_up_names_its_file_row(bundle, tmp_path):
    frame = BARS.filter(pl.col("symbol") == "SPX").sort("timestamp")
    n = frame.height
    frame = frame.with_columns(close=pl.when(pl.int_range(pl.len()) == n - 3).then(-1.0).otherwise("close"))
    _write(frame, tmp_path / "spx.parquet")
    with pytest.raises(DataError, match=f"^spx.parquet: column 'close' row {n - 2} value -1.0: prices must be positive"):
        score_file(tmp_path / "spx.parquet", bundle, tmp_path / "o.parquet", since=frame.get_column("timestamp")[-1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27", datetime(2026, 11, 27)),
        ("2026-11-27 14:30", datetime(2026, 11, 27, 14, 30)),
        ("2026-11-27T14:30:05", datetime(2026, 11, 27, 14, 30, 5)),
        ("2026-11-27T14:30:00+01:00", datetime(2026, 11, 27, 13, 30)),
    ],
)
def test_parse_since(text, expected):
    assert parse_since(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "--since 'yesterday': not a date; give YYYY-MM-DD"),
        ("27/11/2026", "not a date"),
        ("1600-01-01", "--since 1600-01-01: outside the supported dates 1678-01-01 to 2261-12-31"),
        ("x\x1b[2J", "--since 'x\\x1b[2J': not a date"),
    ],
)
def test_bad_since_is_one_line(text, message):
    with pytest.raises(ConfigError) as info:
        parse_since(text)
    assert message in str(info.value) and str(info.value).isprintable()


_cli = score_cli


def test_cli_since(full, tmp_path):
    spec, whole = full["hive date= parquet"]
    code, err = _cli("run", spec, "--since", "2012-06-01", "-o", str(tmp_path / "o.parquet"),
                     "--summary", str(tmp_path / "s.json"))
    assert code == 0, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["since"], summary["since_pushed_down"]) == ("2012-06-01T00:00:00", True)
    (tmp_path / "s.json").unlink()
    assert pl.read_parquet(tmp_path / "o.parquet").equals(whole.filter(pl.col("timestamp") >= datetime(2012, 6, 1)))
    code, err = _cli("run", spec, "--since", "June", "-o", str(tmp_path / "p.parquet"))
    assert code == 2 and err.startswith("score: error: --since 'June': not a date") and err.count("\n") == 1
    code, err = _cli("run", spec, "--since", "2012-06-01", "--engine", "spark", "--fail-on-drift", "-o", str(tmp_path / "q"))
    assert code == 2 and err.startswith("score: error: --fail-on-drift needs --engine local") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.parquet"]

"""Issue 15, item 1 (local): `score run INPUT` with INPUT a folder, a glob or a hive-partitioned dataset.

The must-show: every layout of the same bars gives byte for byte the output of the one file holding them.
Real files throughout (the test data and the embedded S&P 500), the default bundle (no training).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalpack.errors import ConfigError, DataError, InputError, OutputError
from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle
from signalpack.score.datasets import DatasetReader, resolve_input
from signalpack.score.io import load_ohlcv
from signalpack.score.runner import default_output_path, score_file
from tests.conftest import EURUSD, GOOG, SP500
from tests.score.cli_inprocess import score_cli


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE, threads=1)


def _bars() -> pl.DataFrame:
    """Three real series that overlap in time (so a split by date interleaves symbols), sorted."""
    goog = load_ohlcv(GOOG).frame.with_columns(symbol=pl.lit("GOOG"))
    spx = load_ohlcv(SP500).frame.filter(pl.col("timestamp").dt.year().is_between(2008, 2012))
    eur = load_ohlcv(EURUSD).frame.head(900)
    frames = [goog, spx.with_columns(symbol=pl.lit("SPX")), eur.with_columns(symbol=pl.lit("EURUSD"))]
    return pl.concat(frames).sort("symbol", "timestamp").select("symbol", "timestamp", "open", "high", "low",
                                                                   "close", "volume")


BARS = _bars()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _as_file(frame: pl.DataFrame, path: Path, *, symbol: bool = True) -> None:
    """Write bars the way users have them: a `Date` column, CSV or parquet by suffix."""
    out = frame.rename({"timestamp": "Date"})
    if not symbol:
        out = out.drop("symbol")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        out.with_columns(pl.col("Date").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(path)
    else:
        out.write_parquet(path)


@pytest.fixture(scope="module")
def reference(bundle, tmp_path_factory):
    """The one concatenated file and its output (the bytes every layout must reproduce)."""
    folder = tmp_path_factory.mktemp("reference")
    whole = folder / "all.parquet"
    _as_file(BARS, whole)
    out = folder / "all.signals.parquet"
    summary = score_file(whole, bundle, out)
    assert summary.rows_scored > 0 and not summary.sorted_in_memory
    return whole, _digest(out), summary


def _year(frame: pl.DataFrame) -> pl.Series:
    return frame.get_column("timestamp").dt.year()


def _by_symbol(root: Path, suffix: str) -> None:
    for (sym,), part in BARS.group_by("symbol"):
        _as_file(part, root / f"{sym}{suffix}")


def _by_year(root: Path, suffix: str) -> None:
    for (year,), part in BARS.group_by(_year(BARS).alias("y")):
        _as_file(part, root / f"{year}{suffix}")


def _hive_symbol(root: Path, suffix: str) -> None:
    for (sym,), part in BARS.group_by("symbol"):
        _as_file(part, root / f"symbol={sym}" / f"part-0{suffix}", symbol=False)


def _hive_symbol_date(root: Path, suffix: str) -> None:
    for (sym, year), part in BARS.group_by("symbol", _year(BARS).alias("y")):
        _as_file(part, root / f"symbol={sym}" / f"date={year}-01-01" / f"part-0{suffix}", symbol=False)


def _hive_date(root: Path, suffix: str) -> None:
    """Each date partition holds every symbol of that year, each file sorted the other way round."""
    for (year,), part in BARS.group_by(_year(BARS).alias("y")):
        _as_file(part.sort("timestamp", descending=True), root / f"date={year}-01-01" / f"part-0{suffix}")


LAYOUTS = {
    "folder by symbol": (_by_symbol, "{root}", False),
    "folder by year": (_by_year, "{root}", True),
    "glob by year": (_by_year, "{root}/*{suffix}", True),
    "hive symbol=": (_hive_symbol, "{root}", False),
    "hive symbol=/date=": (_hive_symbol_date, "{root}", False),
    "hive date=, files unsorted": (_hive_date, "{root}", True),
    "glob over hive symbol=": (_hive_symbol, "{root}/symbol=*/*{suffix}", False),
}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_gives_the_single_file_bytes(bundle, reference, tmp_path, layout, suffix):
    """Folder, glob and hive inputs of the same bars (split by symbol, by date, both) → the same output file."""
    _, digest, whole = reference
    write, spec, sorts = LAYOUTS[layout]
    root = tmp_path / "prices"
    write(root, suffix)
    files = resolve_input(spec.format(root=root, suffix=suffix)).files
    assert len(files) > 2
    out = tmp_path / "out.parquet"
    summary = score_file(spec.format(root=root, suffix=suffix), bundle, out)
    assert _digest(out) == digest
    # streamed when the files come in (symbol, timestamp) order, sorted out of core when not
    assert summary.sorted_in_memory is sorts
    assert (summary.rows_read, summary.rows_scored) == (whole.rows_read, whole.rows_scored)
    assert summary.signal_distribution == whole.signal_distribution
    assert summary.warmup_skipped == whole.warmup_skipped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet", "prices"]  # no temporaries left


def test_one_series_without_symbol_split_by_year_equals_the_file(bundle, tmp_path):
    """No symbol column anywhere: the output has none either, and equals goog_daily.csv's bytes."""
    score_file(GOOG, bundle, tmp_path / "ref.parquet")
    goog = load_ohlcv(GOOG).frame
    for (year,), part in goog.group_by(_year(goog).alias("y")):
        _as_file(part, tmp_path / "goog" / f"year={year}" / "bars.csv", symbol=False)
    out = tmp_path / "goog.signals.parquet"
    score_file(tmp_path / "goog", bundle)  # the default output: <folder>.signals.parquet beside it
    assert _digest(out) == _digest(tmp_path / "ref.parquet")
    assert "symbol" not in pl.read_parquet(out).columns


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_files=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    shuffle=st.booleans(),
    as_glob=st.booleans(),
    chunk_rows=st.integers(1000, 3000),
)
@pytest.mark.slow
def test_any_split_of_the_rows_gives_the_single_file_output(bundle, tmp_path, n_files, seed, shuffle, as_glob,
                                                            chunk_rows):
    """Rows dealt at random into 1-6 files (in order or shuffled) give the one file's output, whatever the chunking."""
    bars = BARS.filter(pl.col("symbol") != "GOOG")  # two symbols: fast examples
    case = tmp_path / uuid.uuid4().hex  # examples share tmp_path, and may repeat
    whole = case / "whole.parquet"
    _as_file(bars, whole)
    ref = case / "ref.parquet"
    score_file(whole, bundle, ref, chunk_rows=chunk_rows)
    dealt = bars.with_columns(f=pl.int_range(pl.len()).shuffle(seed) % n_files)
    if shuffle:
        dealt = dealt.sample(fraction=1.0, shuffle=True, seed=seed)
    else:  # contiguous slices of the sorted rows: the files stream without a sort
        dealt = dealt.with_columns(f=(pl.int_range(pl.len()) * n_files // pl.len()))
    for (k,), part in dealt.group_by("f"):
        _as_file(part.drop("f"), case / "parts" / f"part-{k:03d}.parquet")
    spec = str(case / "parts" / "*.parquet") if as_glob else str(case / "parts")
    out = case / "out.parquet"
    summary = score_file(spec, bundle, out, chunk_rows=chunk_rows)
    assert _digest(out) == _digest(ref)
    if not shuffle:
        assert not summary.sorted_in_memory


# --------------------------------------------------------------------------- resolving INPUT


def test_files_are_sorted_by_path_and_name_their_partitions(tmp_path):
    for sym in ("B", "A"):
        for day in ("2026-11-28", "2026-11-27"):
            (tmp_path / f"symbol={sym}" / f"date={day}").mkdir(parents=True)
            (tmp_path / f"symbol={sym}" / f"date={day}" / "part-0.parquet").write_bytes(b"")
    (tmp_path / "_SUCCESS").write_bytes(b"")
    (tmp_path / "symbol=A" / ".part-0.parquet.crc").write_bytes(b"")
    ds = resolve_input(tmp_path)
    assert [f.name for f in ds.files] == [
        "symbol=A/date=2026-11-27/part-0.parquet", "symbol=A/date=2026-11-28/part-0.parquet",
        "symbol=B/date=2026-11-27/part-0.parquet", "symbol=B/date=2026-11-28/part-0.parquet",
    ]
    assert [f.symbol for f in ds.files] == ["A", "A", "B", "B"]
    assert ds.files[0].partitions == (("symbol", "A"), ("date", "2026-11-27"))
    assert ds.kind == "folder" and ds.fmt == "parquet"


def test_percent_encoded_partition_value(tmp_path):
    (tmp_path / "ticker=BRK%2FB").mkdir()
    (tmp_path / "ticker=BRK%2FB" / "p.csv").write_text("x")
    assert resolve_input(tmp_path).files[0].symbol == "BRK/B"


@pytest.mark.parametrize(
    ("files", "error", "message"),
    [
        ((), InputError, "the folder holds no parquet or CSV file"),
        (("a.parquet", "b.csv"), InputError, "mixes parquet and csv files (a.parquet, b.csv)"),
        (("a.parquet", "notes.txt"), InputError, "notes.txt: not a parquet (.parquet, .pq) or CSV"),
        (("a.parquet", "sub/b.parquet"), InputError, "sub: a sub-folder that is not a hive partition"),
        (("a.parquet", "symbol=X/b.parquet"), InputError, "partition keys (symbol) differ from a.parquet's (none)"),
        (("symbol=X/date=1/a.parquet", "date=1/symbol=X/b.parquet"), InputError, "partition keys (symbol, date) differ from date=1/symbol=X/b.parquet's (date, symbol)"),
        (("symbol=/a.parquet",), DataError, "symbol=/a.parquet: empty symbol= partition"),
        (("symbol=__HIVE_DEFAULT_PARTITION__/a.parquet",), DataError, "empty symbol= partition"),
        (("symbol=X/ticker=Y/a.parquet",), InputError, "both symbol= and ticker= partitions"),
        (("symbol=X/symbol=Y/a.parquet",), InputError, "a partition key appears twice"),
        (("symbol= X/a.parquet",), DataError, "leading or trailing spaces"),
    ],
)
def test_bad_folders_are_refused_in_one_line(tmp_path, files, error, message):
    root = tmp_path / "prices"
    root.mkdir()
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    with pytest.raises(error) as info:
        resolve_input(root)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_symlinked_folder_inside_a_dataset_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "symbol=A").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="is a symlink to a folder; folders inside a dataset are not followed"):
        resolve_input(tmp_path / "prices")
    (tmp_path / "prices" / "symbol=A").unlink()
    (tmp_path / "prices" / "loop").symlink_to(tmp_path / "prices")  # a loop is never walked
    with pytest.raises(InputError, match="symlink to a folder"):
        resolve_input(tmp_path / "prices")


def test_globs_that_match_nothing_or_a_folder_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"\*\.parquet: the pattern matches no file"):
        resolve_input(tmp_path / "*.parquet")
    (tmp_path / "date=1").mkdir()
    with pytest.raises(InputError, match="the pattern matches a folder"):
        resolve_input(tmp_path / "date=*")


def test_a_file_named_like_a_pattern_is_a_file(tmp_path):
    odd = tmp_path / "prices[1].csv"
    odd.write_bytes(GOOG.read_bytes())
    ds = resolve_input(odd)
    assert ds.kind == "file" and [f.path for f in ds.files] == [odd]


def test_default_outputs(tmp_path):
    (tmp_path / "prices").mkdir()
    assert default_output_path(tmp_path / "prices") == tmp_path / "prices.signals.parquet"
    with pytest.raises(ConfigError, match="a glob input needs --output"):
        default_output_path(tmp_path / "prices" / "*.csv")
    assert default_output_path(tmp_path / "p.csv.gz") == tmp_path / "p.signals.parquet"  # files unchanged


def test_output_inside_the_input_dataset_is_refused(bundle, tmp_path):
    _by_symbol(tmp_path / "prices", ".parquet")
    for spec, out in ((tmp_path / "prices", tmp_path / "prices" / "out.parquet"),
                      (tmp_path / "prices" / "*.parquet", tmp_path / "prices" / "out.parquet")):
        with pytest.raises(OutputError, match="is inside the input dataset"):
            score_file(spec, bundle, out)
    assert sorted(p.name for p in (tmp_path / "prices").iterdir()) == ["EURUSD.parquet", "GOOG.parquet",
                                                                      "SPX.parquet"]


# --------------------------------------------------------------------------- errors name the file and its row


def _split_csv(root: Path, n: int = 2) -> list[Path]:
    """GOOG's CSV text in n files by rows (headers repeated): file k holds rows k*size+1.."""
    lines = GOOG.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    size = -(-len(rows) // n)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        p = root / f"part-{k}.csv"
        p.write_text("\n".join([header, *rows[k * size:(k + 1) * size]]) + "\n")
        paths.append(p)
    return paths


def test_a_bad_value_names_the_file_inside_the_dataset_and_its_own_row(bundle, tmp_path):
    _, second = _split_csv(tmp_path / "goog" / "year=all")
    lines = second.read_text().splitlines()
    fields = lines[3].split(",")
    fields[4] = "-1"  # Close of the file's row 3
    lines[3] = ",".join(fields)
    second.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        score_file(tmp_path / "goog", bundle, tmp_path / "out.parquet")
    assert str(info.value).startswith("year=all/part-1.csv: column 'Close' row 3 (line 4) value -1.0")
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_duplicate_across_files_names_both_files_and_rows(bundle, tmp_path, shuffled):
    """In order: caught by the streaming check; out of order: by the out-of-core sort's merge."""
    first, second = _split_csv(tmp_path / "goog")
    last = first.read_text().splitlines()[-1]
    rows = second.read_text().splitlines()
    body = rows[1:] if not shuffled else rows[1:][::-1]
    second.write_text("\n".join([rows[0], last, *body]) + "\n")  # file 2 row 1 repeats file 1's last row
    n_first = len(first.read_text().splitlines()) - 1
    with pytest.raises(DataError) as info:
        score_file(tmp_path / "goog", bundle, tmp_path / "out.parquet")
    assert str(info.value) == (
        f"part-1.csv: column '<unnamed first column>': duplicate timestamp {last.split(',')[0]} 00:00:00 at row 1 (line 2), "
        f"already in part-0.csv at row {n_first} (line {n_first + 1})"
    )
    assert not (tmp_path / "out.parquet").exists()


def test_a_symbol_column_must_agree_with_its_partition(bundle, tmp_path):
    for (sym,), part in BARS.group_by("symbol"):
        _as_file(part, tmp_path / "prices" / f"symbol={sym}" / "p.parquet")
    bad = tmp_path / "prices" / "symbol=SPX" / "p.parquet"
    frame = pl.read_parquet(bad)
    frame.with_columns(symbol=pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("GOOG\x1b")).otherwise("symbol")
                       ).write_parquet(bad)
    with pytest.raises(DataError) as info:
        score_file(tmp_path / "prices", bundle, tmp_path / "out.parquet")
    assert str(info.value) == (
        "symbol=SPX/p.parquet: column 'symbol' row 5 value 'GOOG\\x1b': differs from the folder's partition "
        "symbol 'SPX'"
    )


def test_files_with_and_without_a_symbol_column_are_refused(bundle, tmp_path):
    _as_file(BARS.filter(pl.col("symbol") == "SPX"), tmp_path / "prices" / "a.parquet")
    _as_file(BARS.filter(pl.col("symbol") == "GOOG"), tmp_path / "prices" / "b.parquet", symbol=False)
    with pytest.raises(DataError, match="^b.parquet: has no symbol column, but a.parquet has one"):
        score_file(tmp_path / "prices", bundle, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_rows_read_stream_file_after_file_in_bounded_batches(tmp_path):
    """The reader holds one batch at a time: batches never span files and never exceed batch_rows."""
    _by_year(tmp_path / "prices", ".parquet")
    ds = resolve_input(tmp_path / "prices")
    reader = DatasetReader(ds, batch_rows=100, ordered=False)
    seen = list(reader)
    assert max(b.height for b in seen) <= 100
    rows = pl.concat(seen).get_column("__row")
    assert rows.to_list() == list(range(BARS.height))  # one row index across the files, file after file
    assert reader.rows_read == BARS.height


# --------------------------------------------------------------------------- hostile paths, through the CLI


_cli = score_cli


def test_a_fifo_inside_a_dataset_is_refused_without_opening_it(tmp_path):
    """Every file of a dataset gets the single-file check: a FIFO is refused on stat, before any open."""
    _by_symbol(tmp_path / "prices", ".csv")
    fifo = tmp_path / "prices" / "ZZZ.csv"
    os.mkfifo(fifo)
    opened = []

    def writer() -> None:  # would only succeed if the scorer opened the FIFO for reading
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not opened:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.01)
                continue
            opened.append(True)
            os.close(fd)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    code, err = _cli("run", str(tmp_path / "prices"), "-o", str(tmp_path / "out.parquet"))
    opened.append(False)  # stops the writer
    t.join(5)
    assert code == 2 and err.count("\n") == 1, err
    assert "ZZZ.csv: is a FIFO (named pipe), not a regular file" in err
    assert opened == [False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices"]


def test_control_characters_in_a_file_name_never_reach_the_terminal(tmp_path):
    _by_symbol(tmp_path / "prices", ".csv")
    bad = tmp_path / "prices" / "EVIL\x1b]0;pwned\x07.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,abc,10\n")
    code, err = _cli("run", str(tmp_path / "prices"), "-o", str(tmp_path / "out.parquet"))
    assert code == 2 and err.count("\n") == 1, err
    assert "\x1b" not in err and "\x07" not in err and "EVIL\\x1b]0;pwned\\x07.csv" in err
    assert not (tmp_path / "out.parquet").exists()


def test_cli_glob_input_needs_output_and_then_scores(tmp_path, reference):
    _, digest, _ = reference
    _hive_symbol(tmp_path / "prices", ".parquet")
    spec = str(tmp_path / "prices" / "symbol=*" / "*.parquet")
    code, err = _cli("run", spec)
    assert code == 2 and err == f"score: error: {spec}: a glob input needs --output (there is no one place beside it to write to)\n"
    code, err = _cli("run", spec, "-o", str(tmp_path / "out.parquet"))
    assert code == 0, err
    assert _digest(tmp_path / "out.parquet") == digest


def test_glob_partitions_start_below_the_fixed_part_of_the_pattern(tmp_path):
    """key=value folders above the pattern's first wildcard are where the data lives, not partitions."""
    for sym in ("A", "B"):
        (tmp_path / "ticker=old" / f"symbol={sym}").mkdir(parents=True)
        (tmp_path / "ticker=old" / f"symbol={sym}" / "p.csv").write_text("x")
    files = resolve_input(tmp_path / "ticker=old" / "symbol=*" / "*.csv").files
    assert [f.partitions for f in files] == [(("symbol", "A"),), (("symbol", "B"),)]
    assert resolve_input(tmp_path / "ticker=old" / "symbol=A" / "*.csv").files[0].partitions == ()
    assert resolve_input(tmp_path / "ticker=old").files[0].partitions == (("symbol", "A"),)

"""Issue 13, input side: dates, two-digit years, unsorted input out of core, FIFOs, and the smaller defects.

Each numbered defect has a test named after it; the smaller defects (CR-only line
endings, binary or double-gzipped input, duplicate column names, extreme prices) too.
Files are real files (mostly tests/data/goog_daily.csv with one change), run through
the real CLI in a subprocess where the defect was seen there (tracebacks, hangs).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalpack.atomic import TMP_MARK
from signalpack.errors import DataError, InputError, SignalpackError
from signalpack.score import external_sort as es
from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle
from signalpack.score.io import PRICE_RANGE, ROW_COLUMN, OhlcvReader, load_ohlcv
from signalpack.score.runner import score_file
from tests.conftest import GOOG

LINES = GOOG.read_text().splitlines()  # [',Open,High,Low,Close,Volume', '2004-08-19,100,...', ...]
SCORE = [sys.executable, "-c", "from signalpack.score.cli import main; main()"]


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE)


def _cell(row: int, col: int, value: str, lines: list[str] = LINES) -> list[str]:
    out = list(lines)
    cells = out[row].split(",")
    cells[col] = value
    out[row] = ",".join(cells)
    return out


def _write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes((end.join(lines) + end).encode())
    return path


def _score(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process (for hangs and kills)."""
    return subprocess.run([*SCORE, *args], capture_output=True, text=True, timeout=timeout, check=False)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI entry point (``run_app``) in this process: fast; an uncaught exception fails the test."""
    from signalpack.score.cli import app, run_app

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["score", *args]), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        run_app(app, "score")
    return subprocess.CompletedProcess(args, exit_info.value.code, out.getvalue(), err.getvalue())


def _one_error_line(r: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("score: error: "), lines[0]
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert lines[0].isprintable(), repr(lines[0])
    return lines[0]


def _only(folder: Path, *names: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


# --------------------------------------------------------------------------- 7. dates outside the range


@pytest.mark.parametrize(("row", "value"), [(1, "0000-01-01"), (7, "0000-01-01"), (7, "1677-12-31"),
                                            (30, "2262-01-01"), (30, "+10000-01-01"), (30, "0999-05-05")])
def test_defect_07_dates_outside_the_supported_range_are_refused(tmp_path, row, value):
    """Year 0 in row 1 gave a ValueError traceback, in a later row a silently sorted output nobody can read."""
    p = _write(tmp_path / "dates.csv", _cell(row, 0, value))
    r = _cli("run", str(p))
    _one_error_line(r, "dates.csv", f"row {row} (line {row + 1})", repr(value),
                    "outside the supported dates 1678-01-01 to 2261-12-31")
    _only(tmp_path, "dates.csv")


@pytest.mark.parametrize("unit", ["ms", "us", "ns", "date"])
def test_defect_07_parquet_dates_beyond_the_range_are_refused(tmp_path, unit):
    """A parquet date in year >= 10000 (or beyond polars' own calendar) is one line, not a traceback."""
    frame = pl.read_csv(GOOG, try_parse_dates=True).rename({"": "Date"})
    if unit == "date":
        value = pl.lit(300_000_000, dtype=pl.Int32).cast(pl.Date)  # ~year 823,000: polars cannot even print it
    elif unit == "ns":
        value = pl.lit(datetime(2262, 1, 1, 0, 0, 1)).cast(pl.Datetime("ns"))
    else:
        value = pl.lit(datetime(9999, 12, 31)).cast(pl.Datetime(unit)).dt.offset_by("5y")  # year 10004
    date_col = pl.col("Date") if unit == "date" else pl.col("Date").cast(pl.Datetime("ns" if unit == "ns" else unit))
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 9).then(value).otherwise(date_col).alias("Date"))
    p = tmp_path / "far.parquet"
    frame.write_parquet(p)
    with pytest.raises(DataError, match=r"far\.parquet: column 'Date' row 10 value .*outside the supported dates"):
        load_ohlcv(p)
    r = _cli("run", str(p))
    _one_error_line(r, "far.parquet", "row 10", "outside the supported dates")
    _only(tmp_path, "far.parquet")


def test_dates_at_the_range_ends_are_accepted(tmp_path):
    lines = _cell(1, 0, "1678-01-01", LINES[:101])
    lines = _cell(100, 0, "2261-12-31", lines)
    ts = load_ohlcv(_write(tmp_path / "ends.csv", lines)).frame.get_column("timestamp")
    assert ts.min() == datetime(1678, 1, 1) and ts.max() == datetime(2261, 12, 31)


def test_the_range_reads_back_as_datetime64_ns():
    """The reason for the range: every supported timestamp fits numpy/pandas datetime64[ns] (and Python's datetime)."""
    import numpy as np

    ends = pl.Series([datetime(1678, 1, 1), datetime(2261, 12, 31, 23, 59, 59, 999999)], dtype=pl.Datetime("us"))
    ns = ends.to_numpy().astype("datetime64[ns]")
    assert (ns.astype("datetime64[us]") == ends.to_numpy()).all()
    assert np.datetime64("1677-09-21T00:12:43.145224193") < ns[0]
    assert ns[1] < np.datetime64("2262-04-11T23:47:16.854775807")
    assert ends.to_list() == [datetime(1678, 1, 1), datetime(2261, 12, 31, 23, 59, 59, 999999)]


# --------------------------------------------------------------------------- 8. two-digit years


def _mdy(iso: str, digits: int) -> str:
    d = datetime.strptime(iso, "%Y-%m-%d")
    year = f"{d.year % 100:02d}" if digits == 2 else str(d.year)
    return f"{d.month}/{d.day}/{year}"


@pytest.mark.parametrize("where", ["all", "row 40"])
def test_defect_08_two_digit_years_are_refused(tmp_path, where):
    """`1/4/99` became the year 99 AD: wrongly sorted, unreadable output. No century is guessed."""
    body = [f"{_mdy(x.split(',', 1)[0], 4)},{x.split(',', 1)[1]}" for x in LINES[1:]]
    row = 1 if where == "all" else 40
    if where == "all":
        body = [f"{_mdy(x.split(',', 1)[0], 2)},{x.split(',', 1)[1]}" for x in LINES[1:]]
    else:
        iso, rest = LINES[40].split(",", 1)
        body[39] = f"{_mdy(iso, 2)},{rest}"
    p = _write(tmp_path / "mdy.csv", ["Date" + LINES[0], *body])
    value = body[row - 1].split(",", 1)[0]
    r = _cli("run", str(p))
    _one_error_line(r, "mdy.csv", f"row {row} (line {row + 1})", repr(value), "two-digit years are ambiguous")
    _only(tmp_path, "mdy.csv")


def test_two_digit_year_in_iso_form_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"row 1 \(line 2\) value '04-08-19': two-digit years are ambiguous"):
        load_ohlcv(_write(tmp_path / "iso.csv", _cell(1, 0, "04-08-19")))


def test_four_digit_mdy_years_still_load(tmp_path):
    body = [f"{_mdy(x.split(',', 1)[0], 4)},{x.split(',', 1)[1]}" for x in LINES[1:]]
    got = load_ohlcv(_write(tmp_path / "mdy4.csv", ["Date" + LINES[0], *body])).frame
    assert got.equals(load_ohlcv(GOOG).frame)


# --------------------------------------------------------------------------- 14. unsorted input, out of core


def _panel(n_symbols: int) -> list[str]:
    """GOOG's rows once per symbol, date-major (every symbol's bar for a day, then the next day): unsorted."""
    header = "Date,Symbol," + LINES[0].split(",", 1)[1]
    rows = [x.split(",", 1) for x in LINES[1:]]
    return [header] + [f"{d},S{s:03d},{rest}" for d, rest in rows for s in range(n_symbols)]


def test_defect_14_unsorted_input_is_sorted_out_of_core(tmp_path):
    """The unsorted path spills sorted runs and merges them (here 22 runs, so with a merge pass) into
    exactly the frame ``load_ohlcv`` sorts in memory, deleting blocks as it reads them. Before, the
    whole file was sorted in memory (8 GB RSS on a 3 GB expanded .csv.gz); the memory itself is
    measured in test_memory.py."""
    gz = tmp_path / "panel.csv.gz"
    gz.write_bytes(gzip.compress(("\n".join(_panel(40)) + "\n").encode()))  # 85,920 rows
    calls = {"runs": 0, "passes": 0}
    real_spill, real_merge = es.spill_runs, es.merge_passes

    def spill(*a, **k):
        runs = real_spill(*a, **k)
        calls["runs"] = len(runs)
        return runs

    def merge(runs, *a, **k):
        out = real_merge(runs, *a, **k)
        calls["passes"] += len(out) < len(runs)
        return out

    folder = tmp_path / "spill"
    folder.mkdir()
    reader = OhlcvReader(gz, batch_rows=1000, ordered=False)
    with mock.patch.object(es, "spill_runs", spill), mock.patch.object(es, "merge_passes", merge):
        frames = es.external_sort(reader, folder, "out", run_rows=4000, on_duplicate=lambda *a: AssertionError(a))
    assert calls == {"runs": 22, "passes": 1}
    got = pl.concat(list(frames))
    assert got.equals(load_ohlcv(gz).frame)
    assert not any(folder.iterdir())


def test_unsorted_file_scores_like_the_sorted_file(tmp_path, bundle):
    """End to end through ``score_file``: an unsorted gzip scores exactly like its sorted copy, the summary
    says it was sorted, and no spill folder is left."""
    lines = _panel(5)  # 10,740 rows: 3 runs of 4 x 1000 rows
    gz = tmp_path / "panel.csv.gz"
    gz.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    sorted_csv = _write(tmp_path / "sorted.csv", [lines[0], *sorted(lines[1:], key=lambda x: x.split(",")[1])])
    got = score_file(gz, bundle, tmp_path / "a.parquet", chunk_rows=1000)
    want = score_file(sorted_csv, bundle, tmp_path / "b.parquet", chunk_rows=1000)
    assert got.sorted_in_memory and not want.sorted_in_memory  # the flag's name predates the out-of-core sort
    assert pl.read_parquet(tmp_path / "a.parquet").equals(pl.read_parquet(tmp_path / "b.parquet"))
    assert (got.rows_read, got.rows_scored, got.symbols) == (want.rows_read, want.rows_scored, want.symbols)
    _only(tmp_path, "panel.csv.gz", "sorted.csv", "a.parquet", "b.parquet")


def test_unsorted_duplicate_is_found_after_the_merge(tmp_path, bundle):
    lines = _panel(3)
    dup_at = len(lines) - 5  # a copy of an early row near the end: the two meet only in the merge
    lines.insert(dup_at, lines[4])
    p = _write(tmp_path / "dup.csv", lines)
    with pytest.raises(DataError, match=r"dup\.csv: column 'Date': duplicate symbol 'S000' timestamp "
                                        rf"2004-08-20 00:00:00 at row 4 \(line 5\) and row {dup_at} "):
        score_file(p, bundle, tmp_path / "out.parquet", chunk_rows=1000)
    _only(tmp_path, "dup.csv")


def test_bad_value_late_in_unsorted_input_leaves_nothing(tmp_path, bundle):
    lines = _panel(3)
    lines[-3] = lines[-3].replace(lines[-3].split(",")[5], "nan", 1)
    p = _write(tmp_path / "late.csv", lines)
    with pytest.raises(DataError, match=rf"late\.csv: column 'Close' row {len(lines) - 3} .*NaN"):
        score_file(p, bundle, tmp_path / "out.parquet", chunk_rows=1000)
    _only(tmp_path, "late.csv")


def _spill_in_progress(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir()
            if p.name.startswith(TMP_MARK) and p.name.endswith(".sort") and any(p.iterdir())]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_signal_during_the_sort(tmp_path, signum):
    """A real signal while the sort spills. SIGTERM/SIGINT: exit 143/130, one line, nothing left. SIGKILL:
    the spill folder stays (nothing can run), and the next run to that output removes it."""
    src = _write(tmp_path / "panel.csv", _panel(120))  # 257,760 rows: 65 runs of 4,000
    out = tmp_path / "out.parquet"
    proc = subprocess.Popen([*SCORE, "run", str(src), "-o", str(out), "--chunk-rows", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    spill: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None and not spill:
        spill = _spill_in_progress(tmp_path)
        time.sleep(0.005)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert spill, "the run ended before its sort spilled anything"
    if signum == signal.SIGKILL:
        assert proc.returncode == -9 and spill[0].exists()
        r = _score("run", str(src), "-o", str(out), "--chunk-rows", "20000", timeout=300)
        assert r.returncode == 0, r.stderr
        _only(tmp_path, "panel.csv", "out.parquet")
    else:
        assert proc.returncode == 128 + signum, err
        lines = [x for x in err.splitlines() if x.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        _only(tmp_path, "panel.csv")


def test_disk_full_during_the_sort_spill(tmp_path):
    """A real 1 MB tmpfs holds the output: the sort's spill fills it first (exit 2, one line naming the
    output, nothing left on the tmpfs). Skipped where a tmpfs cannot be mounted."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({(r.stderr or r.stdout).strip()}); needs root or CAP_SYS_ADMIN")
    try:
        src = _write(tmp_path / "panel.csv", _panel(40))  # 85,920 unsorted rows: ~2 MB of spill
        out = mnt / "signals.parquet"
        r = _cli("run", str(src), "-o", str(out), "--chunk-rows", "5000")
        _one_error_line(r, f"{out}: cannot write (No space left on device) while sorting the input")
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# --------------------------------------------------------------------------- the sort itself, property-based

_SYMBOLS = ["A", "B", "AA", "b", "É", "Ω", "a b", "Z9"]


@st.composite
def _rows(draw):
    n = draw(st.integers(0, 120))
    keys = draw(st.lists(st.tuples(st.sampled_from(_SYMBOLS), st.integers(0, 40)), min_size=n, max_size=n,
                         unique=True))
    frame = pl.DataFrame(
        {"symbol": [k[0] for k in keys],
         "timestamp": [datetime(2000, 1, 1 + k[1] % 28, k[1] // 28) for k in keys],
         "close": [float(i) for i in range(len(keys))]},
        schema={"symbol": pl.String, "timestamp": pl.Datetime("us"), "close": pl.Float64},
    ).with_row_index(ROW_COLUMN)
    cuts = sorted(draw(st.lists(st.integers(0, max(n, 0)), max_size=6)))
    batches = [frame.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    return frame, batches


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_rows(), fan_in=st.integers(2, 4), extra=st.integers(0, 30))
def test_external_sort_equals_a_stable_in_memory_sort(tmp_path_factory, data, fan_in, extra):
    frame, batches = data
    folder = tmp_path_factory.mktemp("spill")
    got = list(es.external_sort(batches, folder, "out", run_rows=fan_in + extra, fan_in=fan_in,
                                on_duplicate=lambda *a: AssertionError(a)))
    want = frame.sort(["symbol", "timestamp"], maintain_order=True).drop(ROW_COLUMN)
    joined = pl.concat(got) if got else want.clear()
    assert joined.equals(want)
    assert not any(folder.iterdir()), "read blocks are deleted"


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_rows(), fan_in=st.integers(2, 4), pick=st.data())
def test_external_sort_reports_the_first_duplicate_with_both_rows(tmp_path_factory, data, fan_in, pick):
    frame, _ = data
    if frame.height == 0:
        return
    src = pick.draw(st.integers(0, frame.height - 1))
    dup = frame.slice(src, 1).with_columns(pl.lit(frame.height, dtype=frame.schema[ROW_COLUMN]).alias(ROW_COLUMN))
    both = pl.concat([frame, dup])
    order = pick.draw(st.permutations(range(both.height)))
    shuffled = both[list(order)]
    seen = []

    def on_dup(sym, ts, a, b):
        seen.append((sym, ts, a, b))
        return DataError("dup")

    with pytest.raises(DataError):
        list(es.external_sort([shuffled], tmp_path_factory.mktemp("spill"), "out", run_rows=fan_in + 3,
                              fan_in=fan_in, on_duplicate=on_dup))
    key = frame.row(src, named=True)
    assert seen == [(key["symbol"], key["timestamp"], key[ROW_COLUMN], frame.height)]


# --------------------------------------------------------------------------- 15. FIFOs and other special files


def test_defect_15_fifo_input_is_refused_at_once(tmp_path):
    """A FIFO hung forever (checked, then reopened by polars) and, killed, left a .parts folder.

    A real FIFO with a writer waiting: the run must end at once (exit 2, one line) without
    opening it, so the writer never finds a reader, and leave nothing behind."""
    fifo = tmp_path / "prices.csv"
    os.mkfifo(fifo)
    stop = threading.Event()
    delivered = []

    def writer() -> None:  # offers the data whenever a reader opens the FIFO
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                time.sleep(0.01)
                continue
            try:
                os.set_blocking(fd, True)
                os.write(fd, GOOG.read_bytes())
                delivered.append(True)
            except OSError:
                pass
            finally:
                os.close(fd)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        started = time.monotonic()
        r = _score("run", str(fifo), timeout=60)
        took = time.monotonic() - started
    finally:
        stop.set()
        t.join(5)
    _one_error_line(r, "prices.csv", "is a FIFO (named pipe), not a regular file")
    assert not delivered, "the scorer opened the FIFO"
    assert took < 30
    _only(tmp_path, "prices.csv")


@pytest.mark.parametrize(("path", "kind"), [("/dev/null", "a character device"), ("/dev/zero", "a character device")])
def test_devices_are_refused(path, kind):
    with pytest.raises(InputError, match=f"{path}: is {kind}, not a regular file"):
        OhlcvReader(path)
    with pytest.raises(InputError, match=f"{path}: is {kind}"):
        load_ohlcv(path)


def test_unix_socket_is_refused(tmp_path):
    import socket

    path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(InputError, match="is a socket, not a regular file"):
            load_ohlcv(path)


# --------------------------------------------------------------------------- smaller defects


def test_cr_only_line_endings(tmp_path):
    """Classic-Mac line endings were reported as "a header but no data rows"."""
    p = _write(tmp_path / "mac.csv", LINES, end="\r")
    r = _cli("run", str(p))
    _one_error_line(r, "mac.csv", "CR-only line endings", "convert the file to LF or CRLF")
    gz = tmp_path / "mac.csv.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    with pytest.raises(DataError, match="mac.csv.gz: CR-only line endings"):
        OhlcvReader(gz)
    assert load_ohlcv(_write(tmp_path / "dos.csv", LINES, end="\r\n")).frame.equals(load_ohlcv(GOOG).frame)


@pytest.mark.parametrize(("name", "make", "what"), [
    ("random.csv", lambda: random.Random(5).randbytes(5000), "binary data"),
    ("double.csv.gz", lambda: gzip.compress(gzip.compress(GOOG.read_bytes())), "gzip inside gzip"),
    ("double.csv", lambda: gzip.compress(gzip.compress(GOOG.read_bytes())), "gzip inside gzip"),
    ("nul.csv", lambda: GOOG.read_bytes()[:300] + b"\x00" * 50 + GOOG.read_bytes()[300:], "binary data"),
    ("terminal.csv", lambda: b"\x1b]0;owned\x07|\x1b[2J|" * 200, "binary data"),
    ("prices.csv", lambda: pl.read_csv(GOOG).write_parquet(buf := __import__("io").BytesIO()) or buf.getvalue(),
     "a parquet file: name it .parquet"),
])
def test_binary_or_double_gzipped_input(tmp_path, name, make, what):
    """Binary data was called "pipe-delimited" with ~500 bytes of it echoed to the terminal."""
    p = tmp_path / name
    p.write_bytes(make())
    r = _cli("run", str(p))
    line = _one_error_line(r, name, f"not a text CSV file ({what})")
    assert len(line) < 120 and "delimited" not in line
    assert "\x1b" not in r.stderr and "\x00" not in r.stderr


def test_control_characters_from_the_file_are_escaped(tmp_path):
    p = _write(tmp_path / "esc.csv", _cell(3, 4, "\x1b]0;title\x07" + "9" * 500))
    r = _cli("run", str(p))
    line = _one_error_line(r, "esc.csv", "column 'Close' row 3 (line 4)", r"'\x1b]0;title\x07", "not a number")
    assert "\x1b" not in r.stderr and len(line) < 200


def test_invalid_utf8_names_the_line(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes(GOOG.read_bytes().replace(b"2004-08-25", b"2004-08-25\xe9", 1))
    with pytest.raises(DataError, match=r"not a readable CSV file \(invalid utf-8 at line 6\)"):
        load_ohlcv(p)


@pytest.mark.parametrize(("header", "needle"), [
    (",Open,High,Low,Close,Volume,Close", "columns 5 and 7 are both named 'Close'"),
    (",Open,High,Low,Close,Volume, close", "columns 'Close' and ' close' differ only in case (columns 5 and 7)"),
    ("Date,Open,High,Low,Close,Volume,Date", "columns 1 and 7 are both named 'Date'"),
])
def test_duplicate_close_columns(tmp_path, header, needle):
    """Two columns named Close were accepted silently (polars renamed the second `Close_duplicated_0`)."""
    body = [x + "," + x.split(",")[4] for x in LINES[1:]]
    p = _write(tmp_path / "dup.csv", [header, *body])
    r = _cli("run", str(p))
    _one_error_line(r, "dup.csv", needle)
    _only(tmp_path, "dup.csv")


def test_trailing_empty_header_is_still_fine(tmp_path):
    p = _write(tmp_path / "trailing.csv", [LINES[0] + ",", *(x + "," for x in LINES[1:])])
    assert load_ohlcv(p).frame.equals(load_ohlcv(GOOG).frame)


def _scaled(factor: float, volume: float = 1.0) -> list[str]:
    out = [LINES[0]]
    for x in LINES[1:]:
        d, *nums = x.split(",")
        out.append(",".join([d, *(repr(float(v) * factor) for v in nums[:4]), repr(float(nums[4]) * volume)]))
    return out


@pytest.mark.parametrize(("factor", "volume", "col", "what"), [
    (1e298, 1.0, "Open", "outside the supported price range [1e-30, 1e+30]"),
    (1e-302, 1.0, "Open", "outside the supported price range [1e-30, 1e+30]"),
    (1.0, 1e30, "Volume", "value 2.23519e+37: volume above the supported maximum 1e+30"),
])
def test_extreme_prices_are_refused(tmp_path, factor, volume, col, what):
    """Prices x1e298 or x1e-302 silently zeroed a feature (the graph's squares overflow or underflow)."""
    p = _write(tmp_path / "scaled.csv", _scaled(factor, volume))
    r = _cli("run", str(p))
    _one_error_line(r, "scaled.csv", f"column '{col}' row 1 (line 2)", what)
    _only(tmp_path, "scaled.csv")


def test_prices_at_the_range_ends_score_exactly_like_unscaled(tmp_path, bundle):
    """Within [1e-30, 1e30] the features are exact: GOOG scaled (by a power of two, so exactly) until its
    lowest price is just above 1e-30, or its highest just below 1e30, scores bit for bit like GOOG."""
    frame = load_ohlcv(GOOG).frame.drop("symbol")
    prices = ["open", "high", "low", "close"]
    score_file(GOOG, bundle, tmp_path / "base.parquet")
    want = pl.read_parquet(tmp_path / "base.parquet")
    lo, hi = frame["low"].min(), frame["high"].max()
    for exp in (math.ceil(math.log2(PRICE_RANGE[0] / lo)), math.floor(math.log2(PRICE_RANGE[1] / hi))):
        scaled = frame.with_columns([pl.col(c) * 2.0 ** exp for c in prices])
        low, high = scaled["low"].min(), scaled["high"].max()
        assert PRICE_RANGE[0] <= low < 2 * PRICE_RANGE[0] or PRICE_RANGE[1] / 2 < high <= PRICE_RANGE[1]
        path = tmp_path / f"scaled{exp}.parquet"
        scaled.write_parquet(path)
        score_file(path, bundle, tmp_path / f"out{exp}.parquet")
        assert pl.read_parquet(tmp_path / f"out{exp}.parquet").equals(want), exp


def test_load_errors_are_signalpack_errors_for_every_case_above(tmp_path):
    """A guard for the library users (training, export's gate): the same files raise SignalpackError there too."""
    cases = {
        "y0.csv": _cell(1, 0, "0000-01-01"),
        "yy.csv": _cell(1, 0, "04-08-19"),
        "huge.csv": _scaled(1e298),
    }
    for name, lines in cases.items():
        with pytest.raises(SignalpackError):
            load_ohlcv(_write(tmp_path / name, lines))

"""CSV fuzzing: mutations of a real CSV fed to `score run` — never a traceback, exit 0/1/2 only, no partial output.

Hypothesis draws the mutations of tests/data/goog_daily.csv (byte flips; cells set to
odd values — empty, NaN, inf, -0, huge, tiny, dates in odd forms, control characters,
unicode; extra or missing delimiters; quotes; a BOM; NUL bytes; duplicated, swapped and
shuffled rows; truncation; other line endings; header changes; gzip, gzip twice or a
truncated gzip) and shrinks a failing case to a small one.

Each case runs the real CLI entry point (``run_app(app, "score")``) in its own process,
forked from a warm driver process that imported the scorer once (a fresh interpreter
per case would spend most of its time importing). The driver is itself a child of the
test, started before anything has used polars' or onnxruntime's thread pools: a fork
only copies the forking thread, so the driver never runs polars, and forks children
that each start clean. The default bundle is loaded once in the driver (a single-threaded
onnxruntime session, so no pool threads exist at fork time) and handed to every child.

Per case the test asserts: the child exited (not killed by a signal or stuck), with 0, 1
or 2; stderr has no traceback and no Rust panic, is printable, and holds exactly one
line (the "score: error: " line, or the summary line); an output file exists only after
exit 0, and is a complete parquet file (magic bytes at both ends); nothing else is left
in the folder (no temporaries). The outcomes are counted and printed.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import select
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalpack.atomic import TMP_MARK
from tests.conftest import GOOG

ROOT = Path(__file__).resolve().parents[2]
GOOG_BYTES = GOOG.read_bytes()
GOOG_LINES = GOOG_BYTES.decode().splitlines()
CASE_TIMEOUT = 60.0

# --------------------------------------------------------------------------- the warm driver (a child process)

DRIVER = r"""
import json, os, sys, time, traceback

from signalpack.score import bundle as bundle_module
from signalpack.score.cli import app, run_app
import signalpack.score.progress, signalpack.score.runner  # what `score run` imports lazily: once, here

cached = bundle_module.load_bundle(bundle_module.resolve_model(None), threads=1)
bundle_module.load_bundle = lambda *args, **kwargs: cached  # the scorer's own loader ran once, above
print("ready", flush=True)

for line in sys.stdin:
    case = json.loads(line)
    pid = os.fork()
    if pid == 0:  # the case: the real CLI entry point, stdout/stderr to files (fd level too: panics, C++ logs)
        code = 97
        try:
            os.setpgid(0, 0)
            out = os.open(case["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            err = os.open(case["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, 1)
            os.dup2(err, 2)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            sys.argv = ["score", *case["argv"]]
            try:
                run_app(app, "score")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 96)
        except BaseException:
            traceback.print_exc()
            code = 98
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    deadline = time.monotonic() + case["timeout"]
    status = None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = {"exit": os.waitstatus_to_exitcode(raw)}
        elif time.monotonic() > deadline:
            os.killpg(pid, 9)
            os.waitpid(pid, 0)
            status = {"exit": None, "timeout": True}
        else:
            time.sleep(0.002)
    print(json.dumps(status), flush=True)
"""


class Driver:
    """The warm parent: send a case, get its exit status."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=ROOT)
        assert self._line(120) == "ready"

    def _line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"the fuzz driver did not answer within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the fuzz driver died (exit {self.proc.poll()})")
        return line.strip()

    def run(self, argv: list[str], stdout: Path, stderr: Path) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"argv": argv, "stdout": str(stdout), "stderr": str(stderr),
                                          "timeout": CASE_TIMEOUT}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line(CASE_TIMEOUT + 30))

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def driver():
    d = Driver()
    yield d
    d.close()


# --------------------------------------------------------------------------- mutations

ODD_VALUES = [
    "", " ", "NaN", "nan", "-nan", "inf", "-inf", "Infinity", "-0", "-0.0", "0", "+0", "1e308", "1e309", "-1e308",
    "1e-308", "5e-324", "1e-30", "1e30", "1e31", "9.99e-31", "-5", "abc", " 12 ", '"12"', "0x10", "1_000", "1,5",
    "１２", "12\u00a0", "\x00", "\u202e12", "\x1b[31m12", "\x1b]0;title\x07", "9" * 400, "1e", ".", "-", "1.2.3",
    "2004/08/19", "19.08.2004", "20040819", "Aug 19 2004", "8/19/04", "04-08-19", "2004-08-19T10:00:00Z",
    "2004-08-19 10:00:00+02:00", "2004-08-19T10:00", "0000-01-01", "0001-01-01", "1677-12-31", "1678-01-01",
    "2261-12-31", "2262-01-01", "9999-12-31", "+10000-01-01", "-0001-01-01", "2004-02-30", "2004-13-01",
    "1/4/99", "12/31/1999 23:59:59", "2004-08-19 24:00:00", "☃", "😀", "𝟙𝟚", "\ud7ff", "é", "\t", "\\",
]


@st.composite
def mutated(draw, base: bytes) -> tuple[bytes, str, list[str]]:
    """(file bytes, file name, what was done) from ``base`` (a CSV's bytes)."""
    data = bytearray(base)
    done: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from([
            "flip", "cell", "cell", "cell", "delimiter", "quote", "bom", "nul", "unicode", "dup_row", "swap_rows",
            "shuffle", "truncate", "line_endings", "header", "blank_line",
        ]))
        lines = bytes(data).split(b"\n")
        n = len(lines)
        if kind == "flip" and data:
            for _ in range(draw(st.integers(1, 8))):
                i = draw(st.integers(0, len(data) - 1))
                data[i] ^= draw(st.integers(1, 255))
        elif kind == "cell" and n > 1:
            row = draw(st.integers(0, n - 1))
            cells = lines[row].split(b",")
            col = draw(st.integers(0, len(cells) - 1))
            cells[col] = draw(st.sampled_from(ODD_VALUES) | st.text(max_size=12)).encode("utf-8", "surrogatepass")
            lines[row] = b",".join(cells)
            data = bytearray(b"\n".join(lines))
        elif kind == "delimiter" and n > 1:
            row = draw(st.integers(0, n - 1))
            line = lines[row]
            if draw(st.booleans()) or b"," not in line:
                at = draw(st.integers(0, len(line)))
                lines[row] = line[:at] + b"," + line[at:]
            else:
                at = line.index(b",", draw(st.integers(0, max(0, line.rindex(b",")))))
                lines[row] = line[:at] + line[at + 1:]
            data = bytearray(b"\n".join(lines))
        elif kind == "quote" and data:
            for _ in range(draw(st.integers(1, 3))):
                at = draw(st.integers(0, len(data)))
                data[at:at] = b'"'
        elif kind == "bom":
            at = 0 if draw(st.booleans()) else draw(st.integers(0, len(data)))
            data[at:at] = "\ufeff".encode()
        elif kind == "nul" and data:
            at = draw(st.integers(0, len(data)))
            data[at:at] = b"\x00" * draw(st.integers(1, 4))
        elif kind == "unicode" and data:
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.text(min_size=1, max_size=4)).encode("utf-8", "surrogatepass")
        elif kind == "dup_row" and n > 2:
            src, dst = draw(st.integers(1, n - 1)), draw(st.integers(1, n - 1))
            lines.insert(dst, lines[src])
            data = bytearray(b"\n".join(lines))
        elif kind == "swap_rows" and n > 3:
            a, b = draw(st.integers(1, n - 2)), draw(st.integers(1, n - 2))
            lines[a], lines[b] = lines[b], lines[a]
            data = bytearray(b"\n".join(lines))
        elif kind == "shuffle" and n > 3:
            body = draw(st.permutations(lines[1:-1])) if n < 400 else lines[1:-1][::-1]
            data = bytearray(b"\n".join([lines[0], *body, lines[-1]]))
        elif kind == "truncate" and data:
            del data[draw(st.integers(0, len(data))):]
        elif kind == "line_endings":
            end = draw(st.sampled_from([b"\r\n", b"\r", b"\n\n"]))
            data = bytearray(bytes(data).replace(b"\n", end))
        elif kind == "header" and n > 1:
            cells = lines[0].split(b",")
            how = draw(st.sampled_from(["drop", "dup", "case", "rename", "symbol", "empty"]))
            col = draw(st.integers(0, len(cells) - 1))
            if how == "drop":
                del cells[col]
            elif how == "dup":
                cells.append(cells[col])
            elif how == "case":
                cells[col] = cells[col].swapcase()
            elif how == "rename":
                cells[col] = draw(st.sampled_from([b"Date", b"Symbol", b"time", b"ticker", b"Adj Close", b"x"]))
            elif how == "symbol":
                cells[col] = b"Symbol"
            else:
                cells[col] = b""
            lines[0] = b",".join(cells)
            data = bytearray(b"\n".join(lines))
        elif kind == "blank_line" and n > 1:
            lines.insert(draw(st.integers(1, n)), b"")
            data = bytearray(b"\n".join(lines))
        else:
            continue
        done.append(kind)
    packing = draw(st.sampled_from(["plain"] * 6 + ["gzip", "gzip", "gzip_twice", "gzip_truncated", "gzip_no_suffix"]))
    out = bytes(data)
    name = "case.csv"
    if packing != "plain":
        z = gzip.compress(out, compresslevel=1, mtime=0)
        if packing == "gzip_twice":
            z = gzip.compress(z, mtime=0)
        elif packing == "gzip_truncated":
            z = z[: draw(st.integers(0, len(z)))]
        out = z
        name = "case.csv" if packing == "gzip_no_suffix" else "case.csv.gz"
        done.append(packing)
    return out, name, done


# --------------------------------------------------------------------------- the check

OUTCOMES: dict[str, Counter] = {}
WORK: dict[str, Path] = {}


def _is_parquet(path: Path) -> bool:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(max(0, size - 4))
        return head == b"PAR1" and fh.read(4) == b"PAR1"


def _check_case(driver: Driver, work: Path, data: bytes, name: str, done: list[str], tally: Counter) -> None:
    for p in work.iterdir():
        p.unlink()
    src = work / name
    src.write_bytes(data)
    out = work / "signals.parquet"
    logs = work.parent / "logs"
    logs.mkdir(exist_ok=True)
    status = driver.run(["run", str(src), "-o", str(out)], logs / "stdout", logs / "stderr")
    err = (logs / "stderr").read_text(errors="replace")
    what = f"{done}: {status} {err[-1500:]!r}"
    assert not status.get("timeout"), f"stuck: {what}"
    assert status["exit"] in (0, 1, 2), f"exit {status['exit']}: {what}"
    assert "Traceback" not in err and "panicked" not in err, what
    lines = [x for x in err.splitlines() if x.strip()]
    assert all(x.isprintable() for x in lines), what
    if status["exit"] == 0 and len(lines) == 2 and lines[0].startswith("score: warning: drift: "):
        lines = lines[1:]  # a scored mutation of a stock's bars may drift from the index the bundle learned
    assert len(lines) == 1, what
    left = sorted(p.name for p in work.iterdir())
    if status["exit"] == 0:
        assert lines[0].startswith("scored "), what
        assert left == sorted([name, out.name]), f"{left}: {what}"
        assert _is_parquet(out), what
        tally["exit 0 (scored)"] += 1
    else:
        assert lines[0].startswith("score: error: "), what
        assert left == [name], f"{left}: {what}"
        assert not any(x.startswith(TMP_MARK) for x in left)
        message = lines[0][len("score: error: "):]
        tally[f"exit {status['exit']}: {_kind(message)}"] += 1


def _kind(message: str) -> str:
    """The kind of an error line, for the tally: its last clause, without the file, column, row and value."""
    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "…", message)  # quoted names and values
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)|\d[\d.e+-]*", "…", text)
    return text.split(": ")[-1][:70]


def _base(rows: int) -> bytes:
    return ("\n".join(GOOG_LINES[: rows + 1]) + "\n").encode()


FAST_BASE = _base(160)  # 160 real rows: over one 59-row window, so many cases score, and quickly


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
@given(case=mutated(FAST_BASE))
def test_csv_mutations_never_crash(driver, tmp_path_factory, case):
    work = WORK.get("fast") or WORK.setdefault("fast", tmp_path_factory.mktemp("fuzz"))
    _check_case(driver, work, *case, OUTCOMES.setdefault("fast", Counter()))


FULL_FILE_CASES = int(os.environ.get("SIGNALPACK_CSV_FUZZ_CASES", "300"))
"""Cases on the whole file: 300 in CI (about 80 s); SIGNALPACK_CSV_FUZZ_CASES=1000 for a longer run."""


@pytest.mark.slow
@settings(max_examples=FULL_FILE_CASES, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
@given(case=mutated(GOOG_BYTES))
def test_csv_mutations_never_crash_full_file(driver, tmp_path_factory, case):
    work = WORK.get("slow") or WORK.setdefault("slow", tmp_path_factory.mktemp("fuzz"))
    _check_case(driver, work, *case, OUTCOMES.setdefault("slow", Counter()))


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    for run in ("fast", "slow"):
        tally = OUTCOMES.get(run)
        if tally:
            total = sum(tally.values())
            print(f"\nCSV fuzz ({run}): {total} cases")
            for kind, count in tally.most_common():
                print(f"  {count:5d}  {kind}")


def test_the_base_file_scores(driver, tmp_path):
    """A control: the unmutated base scores (exit 0), so the fuzz cases above test the data, not a broken setup."""
    tally: Counter = Counter()
    _check_case(driver, tmp_path, FAST_BASE, "case.csv", [], tally)
    assert tally == Counter({"exit 0 (scored)": 1})
    _check_case(driver, tmp_path, gzip.compress(FAST_BASE), "case.csv.gz", ["gzip"], tally)
    assert tally["exit 0 (scored)"] == 2

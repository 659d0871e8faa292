"""Bounded memory for every input: a .csv.gz that expands to far more than the memory bound, out of order.

Issue 13 defect 14: a 10 MB .csv.gz (3 GB expanded) whose rows were out of symbol order
took the sort-in-memory path and reached 8 GB RSS in 16 s. Here a real gzip of the same
shape is generated on the fly (streamed to disk, never held in memory) and `score run`
runs on it in a child process under RLIMIT_AS, reporting its own peak RSS (VmHWM) at
exit. Both the streaming path (a sorted prefix) and the out-of-core sort (the rest) run.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from signalpack.atomic import TMP_MARK
from tests.conftest import GOOG

MB = 1 << 20

WRAPPER = """
import os, sys
sys.argv = ["score", *sys.argv[1:]]
try:
    from signalpack.score.cli import main
    main()
finally:
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    with open(os.environ["SIGNALPACK_MEMORY_STATS"], "w") as fh:
        fh.write(status["VmHWM"].split()[0] + " " + status["VmPeak"].split()[0])
"""


def write_panel_gzip(path: Path, long_symbols: int, short_symbols: int, pad: int, short_rows: int = 50) -> int:
    """Write a gzip CSV, streamed; returns its expanded size in bytes.

    First ``long_symbols`` copies of GOOG's series (L000, L001, ...), in (symbol, date) order;
    then ``short_symbols`` symbols of ``short_rows`` bars each (too short to score), date-major —
    every symbol's first bar, then every symbol's second bar —, so the file is out of order from
    there. Each row carries a ``Note`` column of ``pad`` bytes the scorer never reads.
    """
    rows = [line.split(",", 1) for line in GOOG.read_text().splitlines()[1:]]
    note = "x" * pad
    size = 0
    with gzip.open(path, "wb", compresslevel=1) as fh:
        def put(text: str) -> None:
            nonlocal size
            data = text.encode()
            fh.write(data)
            size += len(data)

        put("Date,Symbol,Open,High,Low,Close,Volume,Note\n")
        for s in range(long_symbols):
            put("".join(f"{d},L{s:03d},{rest},{note}\n" for d, rest in rows))
        for d, rest in rows[:short_rows]:
            put("".join(f"{d},S{s:05d},{rest},{note}\n" for s in range(short_symbols)))
    return size


def run_measured(
    args: list[str], stats: Path, limit_as: int | None = None
) -> tuple[subprocess.CompletedProcess[str], int, int]:
    """`score ARGS` in a child process (optionally under RLIMIT_AS); returns it, peak RSS and peak VM in bytes."""
    def limit() -> None:
        if limit_as is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))

    # two polars threads whatever the machine: its read buffers grow with its thread count, and the bound
    # below is calibrated on a baseline run that reads too little to show that
    env = {**os.environ, "SIGNALPACK_MEMORY_STATS": str(stats), "POLARS_MAX_THREADS": "2"}
    r = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, timeout=600,
                       env=env, preexec_fn=limit, check=False)
    hwm, peak = (int(x) * 1024 for x in stats.read_text().split()) if stats.exists() else (0, 0)
    return r, hwm, peak


@pytest.mark.slow
def test_defect_14_unsorted_gzip_far_larger_than_the_memory_bound(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # the baseline: the same command on GOOG alone (also the reference scores for every long symbol)
    base_out = tmp_path / "goog.parquet"
    r, base_rss, base_vm = run_measured(["run", str(GOOG), "-o", str(base_out), "--threads", "2"],
                                        tmp_path / "base.stats")
    assert r.returncode == 0, r.stderr
    bound = base_rss + 512 * MB  # the unsorted path's whole extra memory: reader, sort runs, merge, chunks

    src = work / "panel.csv.gz"
    expanded = write_panel_gzip(src, long_symbols=100, short_symbols=16_000, pad=2_900)
    assert expanded > 4 * bound and src.stat().st_size < 40 * MB, (expanded, src.stat().st_size)
    out = work / "signals.parquet"
    args = ["run", str(src), "-o", str(out), "--summary", str(tmp_path / "s.json"), "--threads", "2"]
    r, rss, vm = run_measured(args, tmp_path / "big.stats", limit_as=base_vm + 1536 * MB)
    print(f"\nexpanded {expanded / MB:,.0f} MB (gzip {src.stat().st_size / MB:.1f} MB); peak RSS {rss / MB:,.0f} MB "
          f"(baseline {base_rss / MB:,.0f} MB, bound {bound / MB:,.0f} MB); peak VM {vm / MB:,.0f} MB "
          f"(RLIMIT_AS {(base_vm + 1536 * MB) / MB:,.0f} MB)")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert rss <= bound, (rss / MB, bound / MB)

    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["sorted_in_memory"] is True  # the flag says "was sorted"; the sort ran out of core
    assert summary["rows_read"] == 100 * 2148 + 16_000 * 50
    assert summary["symbols"] == 100 and len(summary["short_symbols"]) == 16_000
    # every long symbol is GOOG: its scores are GOOG's, row for row (the sort and the streaming equal the reference)
    want = pl.read_parquet(base_out)
    got = pl.read_parquet(out)
    assert got.height == 100 * want.height
    for sym, part in got.group_by("symbol", maintain_order=True):
        assert part.drop("symbol").equals(want), sym
    assert sorted(p.name for p in work.iterdir()) == ["panel.csv.gz", "signals.parquet"]
    assert not [p for p in work.iterdir() if p.name.startswith(TMP_MARK)]

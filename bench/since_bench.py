"""Benchmark the nightly case: `score run --since LAST_DAY` against the full run, same data, same run.

    python bench/since_bench.py [--symbols 5000] [--bars 5040] [--work DIR] [--out bench/results.json]

1. Generates (or reuses from --work) a folder of parquet files, 200 symbols per file: each symbol
   has --bars business days of synthetic daily bars (block-bootstrapped real S&P 500 moves, as
   ``score_bench.make_file``); 5,040 bars = 20 years of trading days.
2. Runs, each in a child process with the scorer's defaults: the full `score run` of the folder,
   then `score run --since LAST_DAY` (the newest bar's day), and checks that the second output
   equals the rows of the first that end on LAST_DAY.
3. Prints wall time and peak RSS (the child's ru_maxrss) of both and their ratios; merges them into
   --out under "since". Nothing is asserted except that the outputs agree.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_bench import ROOT, make_file, timed  # noqa: E402

SYMBOLS_PER_FILE = 200


def make_dataset(folder: Path, symbols: int, bars: int) -> Path:
    """The folder of parquet files (kept when it already holds the requested shape)."""
    marker = folder / "_shape.json"
    shape = {"symbols": symbols, "bars": bars, "symbols_per_file": SYMBOLS_PER_FILE}
    if marker.is_file() and json.loads(marker.read_text()) == shape:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    for k in range(0, symbols, SYMBOLS_PER_FILE):
        n = min(SYMBOLS_PER_FILE, symbols - k)
        raw = folder / f"_raw{k}.parquet"
        make_file(raw, n * bars, seed=k, bars_per_symbol=bars, business_days=True)
        pl.read_parquet(raw).with_columns(
            pl.format("P{}_{}", pl.lit(f"{k // SYMBOLS_PER_FILE:03d}"), pl.col("symbol")).alias("symbol")
        ).write_parquet(folder / f"part-{k // SYMBOLS_PER_FILE:03d}.parquet", row_group_size=100_000)
        raw.unlink()
    marker.write_text(json.dumps(shape))  # "_" first: the scorer skips it
    return folder


def run(data: Path, out: Path, since: str | None) -> dict:
    summary = out.with_suffix(".summary.json")
    cmd = [str(Path(sys.executable).with_name("score")), "run", str(data), "--output", str(out), "--overwrite",
           "--summary", str(summary)]
    if since:
        cmd += ["--since", since]
    wall, rss, _ = timed(cmd)
    s = json.loads(summary.read_text())
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(rss / 2**20, 1), "rows_scored": s["rows_scored"],
            "rows_read": s["rows_read"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=5000)
    ap.add_argument("--bars", type=int, default=5040)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="since-bench-"))
    data = make_dataset(work / "prices", args.symbols, args.bars)
    last = pl.scan_parquet(data / "part-*.parquet").select(pl.col("timestamp").max()).collect().item()
    day = (last.date() if isinstance(last, datetime) else last).isoformat()
    full = run(data, work / "full.parquet", None)
    since = run(data, work / "since.parquet", day)
    tail = pl.read_parquet(work / "full.parquet").filter(pl.col("timestamp") >= datetime.fromisoformat(day))
    agree = pl.read_parquet(work / "since.parquet").equals(tail)
    record = {
        "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "machine": {"cores": __import__("os").cpu_count(), "python": platform.python_version()},
        "dataset": {"symbols": args.symbols, "bars_per_symbol": args.bars, "rows": args.symbols * args.bars,
                    "files": len(list(data.glob("part-*.parquet"))), "last_day": day},
        "full": full, "since_last_day": since,
        "wall_ratio_full_over_since": round(full["wall_s"] / since["wall_s"], 1),
        "rss_ratio_full_over_since": round(full["peak_rss_mb"] / since["peak_rss_mb"], 2),
        "since_output_equals_full_tail": agree,
    }
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results["since"] = record
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    tmp.replace(args.out)
    print(f"{args.symbols:,} symbols × {args.bars:,} bars ({args.symbols * args.bars:,} rows), last day {day}")
    print(f"{'':<24}{'wall s':>10}{'peak RSS MB':>14}{'rows scored':>14}")
    for name, r in (("full run", full), (f"--since {day}", since)):
        print(f"{name:<24}{r['wall_s']:>10}{r['peak_rss_mb']:>14}{r['rows_scored']:>14,}")
    print(f"full / since: wall × {record['wall_ratio_full_over_since']}, peak RSS × "
          f"{record['rss_ratio_full_over_since']}; --since output equals the full run's tail: {agree}")


if __name__ == "__main__":
    main()

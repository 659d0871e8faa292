"""Benchmark bundle format 2: `score run` end to end, onnxruntime alone, in-graph feature cost; one run.

    python bench/score_bench.py [--bundle score/models/default.onnx] [--sizes 1000000 10000000]
                                [--rounds 5] [--work DIR] [--out bench/results.json]

1. Generates synthetic multi-symbol parquet files (block-bootstrapped real S&P 500
   daily bars, 5,000 bars per symbol) of each size (kept in --work and reused).
2. Runs `score run` once per size in a child process: wall time, windows/s and
   peak RSS (the child's ru_maxrss).
3. Then --rounds interleaved rounds on the largest file, each:
   a. `score run` end to end (scorer defaults: one concurrent run per core, batch 512);
   b. right after it, one round of ``bench/ort_compare.py`` in a child process:
      onnxruntime alone on ~100k prebuilt windows from the head of the same file,
      format 2 (the bundle, raw bars in) against format 1 (the same bundle cut at
      its internal ``features`` tensor, fed polars features), in three thread
      settings (the scorer's default first). The order of the two formats
      alternates between rounds.
   Figures: (a) in-graph feature cost = 1 - format2/format1 (scorer setting),
   (b) end-to-end windows/s / onnxruntime-alone format-2 windows/s of the same
   round, medians over rounds; (c) peak RSS largest / smallest size.
4. `score --help` wall time; optionally Keras predict (--run-dir) and the Spark
   engine (--spark).
Figures are merged into the JSON file (keys this script does not write are kept)
and printed as a table, as ratios measured in the same run against their
targets. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
BARS_PER_SYMBOL = 5000
TARGETS = {"in_graph_cost_max": 0.15, "end_to_end_vs_ort_alone_min": 0.85,
           "peak_rss_ratio_max": 1.2, "peak_rss_max_mb": 1024}


def make_file(path: Path, rows: int, seed: int = 0, bars_per_symbol: int = BARS_PER_SYMBOL,
              business_days: bool = False) -> None:
    """Synthetic OHLCV: per symbol, 20-day blocks of real S&P 500 bars' relative moves.

    ``bars_per_symbol`` bars each (rows // bars_per_symbol symbols) on consecutive calendar days from
    2000-01-03, or business days (Mon–Fri) with ``business_days``."""
    from signalpack.score.io import load_ohlcv

    src = load_ohlcv(ROOT / "train" / "data" / "sp500_daily.csv.gz").frame
    c = src["close"].to_numpy()
    rel = {k: (src[k].to_numpy() / c) for k in ("open", "high", "low")}
    ret = np.diff(np.log(c))
    vol = src["volume"].to_numpy()
    rng = np.random.default_rng(seed)
    n_sym = rows // bars_per_symbol
    block = 20
    days = np.arange(bars_per_symbol * 2 if business_days else bars_per_symbol).astype("timedelta64[D]")
    calendar = np.datetime64("2000-01-03") + days
    if business_days:
        calendar = calendar[np.is_busday(calendar)][:bars_per_symbol]
    parts = []
    for s in range(n_sym):
        starts = rng.integers(1, len(ret) - block, size=bars_per_symbol // block + 1)
        idx = (starts[:, None] + np.arange(block)).ravel()[:bars_per_symbol]
        close = 100 * np.exp(np.cumsum(ret[idx - 1]))
        parts.append(pl.DataFrame({
            "symbol": np.full(bars_per_symbol, f"SYM{s:05d}"),
            "timestamp": calendar,
            "open": close * rel["open"][idx], "high": close * rel["high"][idx],
            "low": close * rel["low"][idx], "close": close, "volume": vol[idx],
        }))
        if len(parts) == 200 or s == n_sym - 1:
            chunk = pl.concat(parts).with_columns(  # ratios of real bars, re-clamped against rounding
                pl.max_horizontal("high", "open", "close").alias("high"),
                pl.min_horizontal("low", "open", "close").alias("low"))
            mode = "a" if path.exists() else None
            parts = []
            if mode is None:
                chunk.write_parquet(path, row_group_size=100_000)
            else:  # append by rewriting through a lazy concat (keeps memory at one chunk)
                tmp = path.with_suffix(".tmp.parquet")
                pl.concat([pl.scan_parquet(path), chunk.lazy()]).sink_parquet(tmp, row_group_size=100_000)
                tmp.replace(path)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes, the child's ru_maxrss) and stderr of a child process."""
    with tempfile.TemporaryFile("w+") as err_file:  # a file, not a pipe: a chatty child cannot block on it
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file, text=True, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        err_file.seek(0)
        err = err_file.read()
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {err}")
    return wall, usage.ru_maxrss * 1024, err


KERAS = r"""
import json, sys, time
import numpy as np
import signalpack.train as train  # TF environment defaults
from pathlib import Path
from signalpack.export.parity import keras_reference, load_members
from signalpack.train.rundir import check_run_dir, TEST_WINDOWS
from signalpack.train.scaler import Scaler
run = Path(sys.argv[1]); n = int(sys.argv[2])
meta = check_run_dir(run)
models = load_members(run, meta)
scaler = Scaler.load(run / "scaler.json")
w = np.load(run / TEST_WINDOWS)
w = np.concatenate([w] * (n // len(w) + 1))[:n]
keras_reference(models, scaler, meta["ensemble"]["weights"], w[:2048])
t = time.perf_counter()
keras_reference(models, scaler, meta["ensemble"]["weights"], w)
print(json.dumps({"windows": n, "windows_per_s": n / (time.perf_counter() - t)}))
"""


def score_run(bindir: Path, data: Path, bundle: Path, work: Path, batch: int, env: dict[str, str],
              tag: str) -> dict:
    """One `score run` in a child process with the scorer's defaults (threads: one per core)."""
    summary_path = work / f"summary_{tag}.json"
    wall, rss, _ = timed([str(bindir / "score"), "run", str(data), "--model", str(bundle),
                          "--output", str(work / f"{tag}.signals.parquet"), "--overwrite",
                          "--batch-size", str(batch), "--summary", str(summary_path)], env)
    summary = json.loads(summary_path.read_text())
    return {
        "rows": summary["rows_read"], "rows_scored": summary["rows_scored"],
        "wall_s": round(wall, 2), "in_process_s": summary["seconds"],
        "rows_per_s": round(summary["rows_read"] / wall),
        "windows_per_s": round(summary["rows_scored"] / wall),
        "windows_per_s_in_process": round(summary["rows_scored"] / summary["seconds"]),
        "peak_rss_mb": round(rss / 2**20, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=ROOT / "score" / "models" / "default.onnx",
                    help="A format-2 bundle (default: the shipped one).")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                    help="File sizes in rows: one `score run` each; peak RSS ratio = last / first.")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    ap.add_argument("--work", type=Path, default=None,
                    help="Folder for generated files, reused when present (default: a new temp dir).")
    ap.add_argument("--rounds", type=int, default=5, help="Interleaved rounds on the largest file.")
    ap.add_argument("--pair-rows", type=int, default=None,
                    help="File size of the interleaved rounds (default: the largest of --sizes).")
    ap.add_argument("--windows", type=int, default=102_400, help="Distinct prebuilt windows for onnxruntime alone.")
    ap.add_argument("--passes", type=int, default=3, help="Passes over them per onnxruntime-alone measurement.")
    ap.add_argument("--batch", type=int, default=512, help="Windows per onnxruntime call, everywhere (scorer: 512).")
    ap.add_argument("--run-dir", type=Path, default=None,
                    help="The bundle's training run directory: also measure Keras predict on its test windows.")
    ap.add_argument("--spark", action="store_true", help="Also time `score run --engine spark` on the first size.")
    ap.add_argument("--spark-master", default="local[2]")
    args = ap.parse_args()
    py = sys.executable
    bindir = Path(py).parent
    work = args.work or Path(tempfile.mkdtemp(prefix="signalpack-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bundle = args.bundle.resolve()

    from signalpack.score.bundle import load_bundle  # fail now, not after generating files

    b = load_bundle(bundle)
    result: dict = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "bundle": str(bundle), "bundle_format": b.manifest["format_version"], "model_id": b.model_id,
        "window_rows": b.window_rows, "batch": args.batch, "targets": TARGETS, "sizes": {},
    }
    del b

    pair_rows = args.pair_rows or max(args.sizes)
    for rows in sorted({*args.sizes, pair_rows}):
        path = work / f"synthetic_{rows}.parquet"
        if not path.exists():
            t = time.perf_counter()
            make_file(path, rows)
            print(f"generated {path.name} in {time.perf_counter() - t:.0f} s", file=sys.stderr)

    # (c) and per-size end-to-end: one `score run` per size
    for rows in args.sizes:
        r = score_run(bindir, work / f"synthetic_{rows}.parquet", bundle, work, args.batch, env, f"size_{rows}")
        result["sizes"][str(rows)] = r
        print(f"score run {rows:,} rows: {r['wall_s']} s, {r['windows_per_s']:,} windows/s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr)

    # (a) and (b): interleaved rounds. This shared 2-core machine drifts by tens of percent from
    # minute to minute, so each end-to-end run is compared with onnxruntime alone measured right
    # after it, and the medians over rounds are reported.
    sys.path.insert(0, str(Path(__file__).parent))
    from ort_compare import summarize

    pair_file = work / f"synthetic_{pair_rows}.parquet"
    rounds, ort_rounds, ort_meta = [], [], {}
    for k in range(args.rounds):
        e2e = score_run(bindir, pair_file, bundle, work, args.batch, env, "round")
        p = subprocess.run([py, str(ROOT / "bench" / "ort_compare.py"), str(pair_file), "--bundle", str(bundle),
                            "--windows", str(args.windows), "--passes", str(args.passes), "--batch", str(args.batch),
                            "--rounds", "1", "--first", ("format1", "format2")[k % 2]],
                           check=False, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise RuntimeError(f"ort_compare failed: {p.stderr}")
        ort = json.loads(p.stdout)
        ort_meta = {k2: v for k2, v in ort.items() if k2 not in ("rounds", "summary", "first")}
        one = ort["rounds"][0]
        ort_rounds.append(one)
        alone = one["scorer"]["format2"]
        rounds.append({
            "rows": pair_rows, "first": ("format1", "format2")[k % 2],
            "end_to_end_windows_per_s": e2e["windows_per_s"],
            "end_to_end_windows_per_s_in_process": e2e["windows_per_s_in_process"],
            "ort_alone_format2_windows_per_s": round(alone),
            "ort_alone_format1_windows_per_s": round(one["scorer"]["format1"]),
            "end_to_end_vs_ort_alone": round(e2e["windows_per_s"] / alone, 3),
            "in_graph_ratio": round(alone / one["scorer"]["format1"], 3),
            "peak_rss_mb": e2e["peak_rss_mb"],
        })
        print(f"round {k + 1}/{args.rounds}: end-to-end {e2e['windows_per_s']:,} windows/s, onnxruntime alone "
              f"format 2 {alone:,.0f} / format 1 {one['scorer']['format1']:,.0f} windows/s", file=sys.stderr)

    ort_summary = summarize(ort_rounds)
    result["in_graph_features"] = {**ort_meta, "rounds": [
        {s: {f: round(v) for f, v in r.items()} for s, r in one.items()} for one in ort_rounds],
        "summary": ort_summary}
    base = ort_summary["scorer"]["format2_windows_per_s"]  # onnxruntime alone, the scorer's settings
    result["onnxruntime_alone"] = {
        "bundle_format": 2, "windows": ort_meta["windows"], "passes": args.passes, "batch": args.batch,
        "scorer_setting_windows_per_s": base,
        "median_per_setting": {s: v["format2_windows_per_s"] for s, v in ort_summary.items()},
    }
    result["paired"] = rounds

    helps = []
    for _ in range(5):
        wall, _, _ = timed([str(bindir / "score"), "--help"], env)
        helps.append(wall)
    result["score_help_s"] = round(min(helps), 3)

    keras = None
    if args.run_dir is not None:
        p = subprocess.run([py, "-c", KERAS, str(args.run_dir), "100000"], check=False, capture_output=True,
                           text=True, env=env)
        keras = (json.loads(p.stdout) if p.returncode == 0
                 else {"error": (p.stderr.strip().splitlines() or ["?"])[-1]})
        result["keras_predict"] = {**keras, "measured_at": result["measured_at"]}
    if args.spark:
        first = work / f"synthetic_{args.sizes[0]}.parquet"
        out = work / "spark_out"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        local = result["sizes"][str(args.sizes[0])]
        try:
            wall, _, _ = timed([str(bindir / "score"), "run", str(first), "--engine", "spark", "--master",
                                args.spark_master, "--model", str(bundle), "--output", str(out)], env)
            result["spark"] = {"master": args.spark_master, "rows": local["rows"], "wall_s": round(wall, 2),
                               "rows_per_s": round(local["rows"] / wall),
                               "local_engine_rows_per_s": local["rows_per_s"],
                               "local_vs_spark": round(local["rows_per_s"] / (local["rows"] / wall), 2),
                               "measured_at": result["measured_at"]}
        except RuntimeError as exc:
            result["spark"] = {"error": str(exc).strip().splitlines()[-1], "measured_at": result["measured_at"]}

    sizes = result["sizes"]
    small, large = str(args.sizes[0]), str(args.sizes[-1])
    scorer = ort_summary["scorer"]
    e2e_ratio = statistics.median(r["end_to_end_vs_ort_alone"] for r in rounds)
    rss_ratio = sizes[large]["peak_rss_mb"] / sizes[small]["peak_rss_mb"]
    max_rss = max([v["peak_rss_mb"] for v in sizes.values()] + [r["peak_rss_mb"] for r in rounds])
    result["ratios"] = {
        "in_graph_features_ratio": scorer["ratio"],  # (a) format2 / format1, scorer setting, median of rounds
        "in_graph_features_cost": scorer["cost"],
        "in_graph_features_cost_per_setting": {s: v["cost"] for s, v in ort_summary.items()},
        "paired_median_end_to_end_vs_ort_alone": round(e2e_ratio, 3),  # (b)
        "paired_median_end_to_end_vs_ort_alone_in_process": round(statistics.median(
            r["end_to_end_windows_per_s_in_process"] / r["ort_alone_format2_windows_per_s"] for r in rounds), 3),
        "end_to_end_vs_ort_alone_per_size": {k: round(v["windows_per_s"] / base, 3) for k, v in sizes.items()},
        "peak_rss_large_vs_small": round(rss_ratio, 3),  # (c)
        "peak_rss_max_mb": max_rss,
        "end_to_end_vs_keras": round(sizes[large]["windows_per_s"] / keras["windows_per_s"], 2)
        if keras and "windows_per_s" in keras else None,
    }
    result["targets_met"] = {
        "in_graph_cost": scorer["cost"] <= TARGETS["in_graph_cost_max"],
        "end_to_end_vs_ort_alone": e2e_ratio >= TARGETS["end_to_end_vs_ort_alone_min"],
        "peak_rss": rss_ratio <= TARGETS["peak_rss_ratio_max"] and max_rss < TARGETS["peak_rss_max_mb"],
    }
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged.update(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2) + "\n")

    r = result["ratios"]
    n = len(rounds)
    print(f"bundle {bundle} (format {result['bundle_format']}, model id {result['model_id']}), "
          f"batch {args.batch}, {ort_meta['cores']} cores, {n} interleaved rounds on {pair_rows:,} rows")
    print("| figure | value | target |\n| --- | --- | --- |")
    for s, v in ort_summary.items():
        print(f"| onnxruntime alone, {ort_meta['windows']:,} windows × {args.passes}, {s} setting: format 2 / "
              f"format 1 | {v['format2_windows_per_s']:,} / {v['format1_windows_per_s']:,} windows/s: ratio "
              f"{v['ratio']}, cost {v['cost']:.1%} (rounds {', '.join(map(str, v['ratios']))}) | "
              f"{'cost ≤ 15 %' if s == 'scorer' else ''} |")
    print(f"| **(a) in-graph feature cost**, scorer setting, median of {n} rounds | **{r['in_graph_features_cost']:.1%}**"
          f" | ≤ 15 % |")
    print(f"| **(b) end-to-end / onnxruntime alone (format 2, scorer setting)**, median of {n} rounds | "
          f"**{r['paired_median_end_to_end_vs_ort_alone']}** (rounds "
          f"{', '.join(str(x['end_to_end_vs_ort_alone']) for x in rounds)}) | ≥ 0.85 |")
    print(f"| (b) same, in-process time (without process start-up) | "
          f"{r['paired_median_end_to_end_vs_ort_alone_in_process']} | |")
    for k, v in sizes.items():
        print(f"| `score run`, {int(k):,} rows | {v['windows_per_s']:,} windows/s ({v['wall_s']} s), "
              f"peak RSS {v['peak_rss_mb']} MB; / onnxruntime alone {r['end_to_end_vs_ort_alone_per_size'][k]} | |")
    print(f"| **(c) peak RSS {int(large):,} / {int(small):,} rows** | **{r['peak_rss_large_vs_small']}** "
          f"(max {r['peak_rss_max_mb']} MB) | ≤ 1.2 and < 1 GB |")
    print(f"| `score --help` | {result['score_help_s']} s | |")
    if keras is not None:
        kv = f"{keras['windows_per_s']:,.0f} windows/s" if "windows_per_s" in keras else keras.get("error")
        print(f"| Keras predict (3 members + average) | {kv}; end-to-end / Keras {r['end_to_end_vs_keras']} | |")
    if args.spark:
        sp = result["spark"]
        sv = (f"{sp['rows_per_s']:,} rows/s ({sp['wall_s']} s); local engine {sp['local_vs_spark']} × faster"
              if "rows_per_s" in sp else sp["error"])
        print(f"| `score run --engine spark --master {args.spark_master}`, {int(small):,} rows | {sv} | |")
    print(f"\nformat 1 cut ↔ format 2 check: max |Δ probabilities| {ort_meta['check_max_abs_diff_probabilities']:.2g} "
          f"on {ort_meta['check_windows']} windows; polars features + windows "
          f"{ort_meta['polars_features_s_per_100k_windows']} s per 100k windows (format 1's cost outside the graph)")
    print(f"targets met: {result['targets_met']}  → {args.out}")


if __name__ == "__main__":
    main()

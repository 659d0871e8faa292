"""Benchmark `score run` against onnxruntime alone and Keras predict, from one run.

    python bench/score_bench.py [--sizes 1000000 10000000] [--out bench/results.json]

1. Trains a small run on the embedded S&P 500 data (2 epochs: speed does not
   depend on the weights) and exports it: the same ensemble for every figure.
2. Generates synthetic multi-symbol parquet files (block-bootstrapped real S&P 500
   daily returns, 5,000 bars per symbol) of each size.
3. Measures, each in its own process: end-to-end `score run` rows/s and peak RSS;
   onnxruntime alone on windows prebuilt in memory (same session settings),
   with a small tuning sweep (threads, batch size, execution mode); Keras
   `predict` of the three members plus the weighted average; `score --help` wall time.
Figures go to a JSON file and a table on stdout. Speed is reported as ratios
measured in the same run, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
BARS_PER_SYMBOL = 5000


def make_file(path: Path, rows: int, seed: int = 0) -> None:
    """Synthetic OHLCV: per symbol, 20-day blocks of real S&P 500 bars' relative moves."""
    from signalpack.score.io import load_ohlcv

    src = load_ohlcv(ROOT / "train" / "data" / "sp500_daily.csv.gz").frame
    c = src["close"].to_numpy()
    rel = {k: (src[k].to_numpy() / c) for k in ("open", "high", "low")}
    ret = np.diff(np.log(c))
    vol = src["volume"].to_numpy()
    rng = np.random.default_rng(seed)
    n_sym = rows // BARS_PER_SYMBOL
    block = 20
    parts = []
    for s in range(n_sym):
        starts = rng.integers(1, len(ret) - block, size=BARS_PER_SYMBOL // block + 1)
        idx = (starts[:, None] + np.arange(block)).ravel()[:BARS_PER_SYMBOL]
        close = 100 * np.exp(np.cumsum(ret[idx - 1]))
        ts = np.datetime64("2000-01-03") + np.arange(BARS_PER_SYMBOL).astype("timedelta64[D]")
        parts.append(pl.DataFrame({
            "symbol": np.full(BARS_PER_SYMBOL, f"SYM{s:05d}"),
            "timestamp": ts,
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
    """Wall seconds, peak RSS (bytes) and stderr of a child process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read() if p.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} failed: {err}")
    return wall, usage.ru_maxrss * 1024, err


ORT_ALONE = r"""
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
import numpy as np, polars as pl, onnxruntime as ort
from signalpack.score.bundle import load_bundle
from signalpack.score.features import compute_features
from signalpack.score.io import load_ohlcv
from signalpack.score.runner import usable_cores
from signalpack.score.windows import symbol_windows
bundle_path, data_path, n_max = sys.argv[1], sys.argv[2], int(sys.argv[3])
only_baseline = len(sys.argv) > 4 and sys.argv[4] == "baseline"
b = load_bundle(bundle_path)
spec = b.feature_spec()
frame = pl.scan_parquet(data_path).head(n_max).collect()
from signalpack.score.io import clean_ohlcv
from pathlib import Path
frame = clean_ohlcv(frame, Path(data_path)).frame
w, _ = symbol_windows(compute_features(frame, spec), spec.names, b.seq_len)
data = open(bundle_path, "rb").read()
cores = usable_cores()
results = []
# first: the settings `score run` uses by default (the baseline of the ratio): a
# single-threaded session, one concurrent run per core, batch 512.
# "intra-op": one session whose operators spread over `threads` (0: all cores).
for threads, batch, mode in [(cores, 512, "concurrent"), (cores, 256, "concurrent"), (cores, 1024, "concurrent"),
                             (cores, 2048, "concurrent"), (1, 512, "concurrent"),
                             (0, 512, "intra-op"), (0, 1024, "intra-op"), (0, 8192, "intra-op"),
                             (0, 512, "intra-op parallel branches")][: 1 if only_baseline else None]:
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1 if mode == "concurrent" else threads
    if mode == "intra-op parallel branches":
        o.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    s = ort.InferenceSession(data, o, providers=["CPUExecutionProvider"])
    s.run(None, {"features": w[:batch]})
    run = lambda i: s.run(["probabilities", "signal", "confidence"], {"features": w[i:i + batch]})
    t = time.perf_counter()
    if mode == "concurrent" and threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(run, range(0, len(w), batch)):
                pass
    else:
        for i in range(0, len(w), batch):
            run(i)
    dt = time.perf_counter() - t
    results.append({"threads": threads, "batch": batch, "mode": mode, "windows_per_s": len(w) / dt})
print(json.dumps({"windows": int(len(w)), "runs": results}))
"""

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    ap.add_argument("--work", type=Path, default=None, help="Folder for generated files (default: a temp dir).")
    ap.add_argument("--ort-windows", type=int, default=400_000, help="Windows for the onnxruntime-alone figures.")
    ap.add_argument("--no-spark", dest="spark", action="store_false", help="Skip the Spark local engine figure.")
    ap.add_argument("--spark-master", default="local[2]")
    ap.add_argument("--repeats", type=int, default=3, help="Interleaved end-to-end / onnxruntime-alone pairs.")
    ap.add_argument("--pair-rows", type=int, default=None,
                    help="File size of the interleaved pairs (default: the largest of --sizes, as in a nightly job).")
    args = ap.parse_args()
    py = sys.executable
    bindir = Path(py).parent
    work = args.work or Path(tempfile.mkdtemp(prefix="signalpack-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    run_dir = work / "run"
    if not (run_dir / "bundle.onnx").exists():
        subprocess.run([str(bindir / "signalpack"), "train", "--epochs", "2", "--out", str(run_dir), "-q"],
                       check=True, capture_output=True)
        subprocess.run([str(bindir / "signalpack"), "export", str(run_dir)], check=True, capture_output=True)
    bundle = run_dir / "bundle.onnx"

    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "bundle": str(bundle), "sizes": {}}
    for rows in args.sizes:
        path = work / f"synthetic_{rows}.parquet"
        if not path.exists():
            t = time.perf_counter()
            make_file(path, rows)
            print(f"generated {path.name} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        out = work / f"synthetic_{rows}.signals.parquet"
        wall, rss, err = timed([str(bindir / "score"), "run", str(path), "--model", str(bundle), "--output",
                                str(out), "--overwrite", "--summary", str(work / f"summary_{rows}.json")], env)
        summary = json.loads((work / f"summary_{rows}.json").read_text())
        result["sizes"][str(rows)] = {
            "rows": summary["rows_read"], "rows_scored": summary["rows_scored"],
            "wall_s": round(wall, 2), "rows_per_s": round(summary["rows_read"] / wall),
            "windows_per_s": round(summary["rows_scored"] / wall), "peak_rss_mb": round(rss / 2**20, 1),
        }
        print(f"score run {rows:,} rows: {wall:.1f} s, peak RSS {rss / 2**20:.0f} MB", file=sys.stderr)

    first = work / f"synthetic_{args.sizes[0]}.parquet"
    if args.spark:
        out = work / "spark_out"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        wall, rss, err = timed([str(bindir / "score"), "run", str(first), "--engine", "spark", "--master",
                                args.spark_master, "--model", str(bundle), "--output", str(out)], env)
        local = result["sizes"][str(args.sizes[0])]
        result["spark"] = {"master": args.spark_master, "rows": local["rows"], "wall_s": round(wall, 2),
                           "rows_per_s": round(local["rows"] / wall),
                           "local_engine_rows_per_s": local["rows_per_s"],
                           "local_vs_spark": round(local["rows_per_s"] / (local["rows"] / wall), 2)}
        print(f"spark {args.spark_master} {args.sizes[0]:,} rows: {wall:.1f} s", file=sys.stderr)
    p = subprocess.run([py, "-c", ORT_ALONE, str(bundle), str(first), str(args.ort_windows)],
                       capture_output=True, text=True, env=env, check=True)
    ort_alone = json.loads(p.stdout)
    result["onnxruntime_alone"] = ort_alone
    base = ort_alone["runs"][0]["windows_per_s"]  # same settings as `score run`'s defaults
    best = max(r["windows_per_s"] for r in ort_alone["runs"])
    try:
        p = subprocess.run([py, "-c", KERAS, str(run_dir), "100000"], capture_output=True, text=True,
                           env=env, check=True)
        result["keras_predict"] = json.loads(p.stdout)
    except subprocess.CalledProcessError as exc:
        result["keras_predict"] = {"error": exc.stderr.strip().splitlines()[-1]}

    # Paired, interleaved measurements: this shared 2-core machine drifts by tens of percent
    # between minutes, so each end-to-end run is compared with an onnxruntime-alone run
    # made right after it, and the median of the pair ratios is reported.
    pair_rows = args.pair_rows or max(args.sizes)
    pair_file = work / f"synthetic_{pair_rows}.parquet"
    if not pair_file.exists():
        make_file(pair_file, pair_rows)
    pairs = []
    for _ in range(args.repeats):
        out = work / "pair.signals.parquet"
        wall, _, _ = timed([str(bindir / "score"), "run", str(pair_file), "--model", str(bundle), "--output", str(out),
                            "--overwrite", "--summary", str(work / "pair.json")], env)
        scored = json.loads((work / "pair.json").read_text())["rows_scored"]
        p = subprocess.run([py, "-c", ORT_ALONE, str(bundle), str(first), str(args.ort_windows), "baseline"],
                           capture_output=True, text=True, env=env, check=True)
        alone = json.loads(p.stdout)["runs"][0]["windows_per_s"]
        pairs.append({"rows": pair_rows, "end_to_end_windows_per_s": round(scored / wall),
                      "ort_alone_windows_per_s": round(alone),
                      "ratio": round(scored / wall / alone, 3)})
    result["paired"] = pairs
    ratios = sorted(x["ratio"] for x in pairs)

    helps = []
    for _ in range(5):
        wall, _, _ = timed([str(bindir / "score"), "--help"], env)
        helps.append(wall)
    result["score_help_s"] = round(min(helps), 3)

    sizes = result["sizes"]
    small, large = str(args.sizes[0]), str(args.sizes[-1])
    e2e = sizes[large]["windows_per_s"]
    result["ratios"] = {
        "paired_median_end_to_end_vs_ort_alone": ratios[len(ratios) // 2],
        "end_to_end_vs_ort_alone": round(e2e / base, 3),
        "end_to_end_vs_ort_alone_per_size": {k: round(v["windows_per_s"] / base, 3) for k, v in sizes.items()},
        "end_to_end_vs_best_ort_alone": round(e2e / best, 3),
        "end_to_end_vs_keras": round(e2e / result["keras_predict"]["windows_per_s"], 2)
        if "windows_per_s" in result["keras_predict"] else None,
        "peak_rss_large_vs_small": round(sizes[large]["peak_rss_mb"] / sizes[small]["peak_rss_mb"], 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print("| figure | value |\n| --- | --- |")
    for rows, s in sizes.items():
        print(f"| `score run`, {int(rows):,} rows | {s['rows_per_s']:,} rows/s ({s['wall_s']} s), "
              f"peak RSS {s['peak_rss_mb']} MB |")
    print(f"| onnxruntime alone, {ort_alone['windows']:,} prebuilt windows | {base:,.0f} windows/s |")
    if "windows_per_s" in result["keras_predict"]:
        print(f"| Keras predict (3 members + average) | {result['keras_predict']['windows_per_s']:,.0f} windows/s |")
    r = result["ratios"]
    print(f"| end-to-end / onnxruntime alone, median of {len(pairs)} interleaved pairs ({pair_rows:,} rows) | "
          f"{r['paired_median_end_to_end_vs_ort_alone']} (pairs: {', '.join(str(x['ratio']) for x in pairs)}) |")
    for k, v in r["end_to_end_vs_ort_alone_per_size"].items():
        print(f"| end-to-end / onnxruntime alone (same settings), {int(k):,} rows | {v} |")
    print(f"| end-to-end / best onnxruntime-alone setting | {r['end_to_end_vs_best_ort_alone']} |")
    print(f"| end-to-end ({int(large):,} rows) / Keras predict | {r['end_to_end_vs_keras']} |")
    print(f"| peak RSS {int(large):,} / {int(small):,} rows | {r['peak_rss_large_vs_small']} |")
    print(f"| `score --help` | {result['score_help_s']} s |")
    if "spark" in result:
        sp = result["spark"]
        print(f"| `score run --engine spark --master {sp['master']}`, {sp['rows']:,} rows | "
              f"{sp['rows_per_s']:,} rows/s ({sp['wall_s']} s); local engine {sp['local_engine_rows_per_s']:,} rows/s "
              f"({sp['local_vs_spark']} x faster) |")
    print("\nonnxruntime tuning (prebuilt windows):")
    for run in ort_alone["runs"]:
        print(f"  {run['mode']}, threads {run['threads'] or 'auto'}, batch {run['batch']}: "
              f"{run['windows_per_s']:,.0f} windows/s")


if __name__ == "__main__":
    main()

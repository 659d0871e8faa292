"""onnxruntime alone: a format-2 bundle (features in the graph) against its own format-1 cut, same windows.

    python bench/ort_compare.py DATA.parquet [--bundle score/models/default.onnx] [--windows 102400]
                                [--passes 3] [--batch 512] [--chunk-batches 16] [--rounds 5]

The format-1 model is cut out of the format-2 bundle (``format1_model``): its
input is the bundle's internal tensor ``features`` (float32 [batch, seq_len,
n_features], the output of node ``feat/cast_float32``) and it keeps only the
nodes downstream of it (scaler, LSTM members, head): the same model and weights,
without the ``feat/`` section. So the only difference measured is the in-graph
features.

Inputs, from the first rows of DATA (read, checked and sorted as ``score run``
does): format 1 gets the features computed by polars (``compute_features``,
cast to float32, windowed by ``symbol_windows``), format 2 the raw-bar windows
(``raw_windows``) of the same bars. Both have the same windows, ending on the
same (symbol, timestamp) rows (checked), cut to ``--windows``; the two models'
probabilities on the first windows are compared as a check.

Settings, each measured for both formats, sessions built by the scorer's own
``bundle._session``:

* ``scorer``: what ``score run`` does by default: one single-threaded session
  called concurrently from a thread pool of one thread per usable core, each
  call on its own batch;
* ``intra_op``: one session with ``intra_op_num_threads`` = usable cores, called
  sequentially;
* ``single``: one single-threaded session, called sequentially.

A round measures each setting with ``--passes`` passes over the windows at
``--batch`` windows per call, format 1 and format 2 taking turns every
``--chunk-batches`` batches (so drift of the shared machine falls on both alike),
the one going first alternating between rounds (``--first`` sets round 0's).
Printed as JSON on stdout: every round, and per setting the medians over rounds
of windows/s and of the per-round ratio format2 / format1 (cost = 1 - ratio).
``bench/score_bench.py`` runs this one round at a time between its end-to-end runs.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("scorer", "intra_op", "single")
FORMATS = ("format1", "format2")
OUTPUTS = ["probabilities", "signal", "confidence"]  # what the scorer asks for


def format1_model(bundle_bytes: bytes) -> bytes:
    """The format-1 graph of the same model: input ``features`` float32, the ``feat/`` nodes dropped."""
    import onnx
    from onnx import TensorProto, helper

    from signalpack.score.contract import FEATURES_NAME, MANIFEST_KEY

    model = onnx.load_from_string(bundle_bytes)
    meta = {p.key: p.value for p in model.metadata_props}
    manifest = json.loads(meta[MANIFEST_KEY])
    g = model.graph
    kept = [n for n in g.node if not n.name.startswith("feat/")]
    produced = {o for n in kept for o in n.output}
    inits = {i.name for i in g.initializer}
    used = {i for n in kept for i in n.input if i}
    if not any(n.name == "feat/cast_float32" and list(n.output) == [FEATURES_NAME] for n in g.node):
        raise SystemExit("not a format-2 bundle: no node feat/cast_float32 producing 'features'")
    dangling = used - produced - inits - {FEATURES_NAME}
    if dangling:
        raise SystemExit(f"cutting at 'features' leaves inputs nobody produces: {sorted(dangling)[:5]}")
    inp = helper.make_tensor_value_info(
        FEATURES_NAME, TensorProto.FLOAT, ["batch", int(manifest["seq_len"]), int(manifest["n_features"])])
    graph = helper.make_graph(kept, "format1_cut", [inp], list(g.output),
                              [i for i in g.initializer if i.name in used])
    cut = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="bench ort_compare")
    cut.ir_version = model.ir_version
    onnx.checker.check_model(cut)
    return cut.SerializeToString()


def same_windows(data: Path, n_windows: int, spec: Any, seq_len: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(format-1 windows float32 [n, seq_len, F], format-2 windows float64 [n, W, 5], polars seconds)
    for the first ``n_windows`` windows of ``data``."""
    import polars as pl

    from signalpack.score.bar_windows import raw_windows
    from signalpack.score.features import compute_features
    from signalpack.score.io import clean_ohlcv
    from signalpack.score.windows import symbol_windows

    width = spec.lookback + seq_len
    rows = 0
    lazy = pl.scan_parquet(data) if data.suffix in (".parquet", ".pq") else pl.scan_csv(data)
    total = lazy.select(pl.len()).collect().item()
    while True:  # read enough rows for n_windows (symbols lose their first W - 1 rows)
        rows = min(total, max(2 * rows, n_windows + 200 * width))
        frame = clean_ohlcv(lazy.head(rows).collect(), data).frame
        bars, ends = raw_windows(frame, spec.lookback, seq_len)
        if len(bars) >= n_windows or rows == total:
            break
    t = time.perf_counter()
    feats, keys = symbol_windows(compute_features(frame, spec), spec.names, seq_len)
    polars_s = time.perf_counter() - t
    if len(feats) != len(bars) or not keys.equals(frame.select("symbol", "timestamp")[ends]):
        raise SystemExit(f"format 1 and format 2 windows differ: {len(feats)} vs {len(bars)}")
    n = min(n_windows, len(bars))
    return np.ascontiguousarray(feats[:n]), np.ascontiguousarray(bars[:n]), polars_s * n / len(bars)


def interleaved(runs: dict[str, tuple[Any, str, np.ndarray]], order: list[str], batch: int, passes: int,
                chunk: int, pool: ThreadPoolExecutor | None) -> dict[str, float]:
    """Windows/s of each run over ``passes`` passes of its windows, the runs taking turns (in
    ``order``) every ``chunk`` windows, so that the machine's drift falls on all of them alike.

    runs : name → (session, input name, windows); every run has the same number of windows.
    pool : None: calls one after another; else each turn's batches run concurrently on it.
    """
    spent = dict.fromkeys(order, 0.0)
    n = len(runs[order[0]][2])
    for _ in range(passes):
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            starts = range(lo, hi, batch)
            for name in order:
                sess, inp, x = runs[name]

                def run(i: int, sess: Any = sess, inp: str = inp, x: np.ndarray = x, hi: int = hi) -> None:
                    sess.run(OUTPUTS, {inp: x[i : min(i + batch, hi)]})

                t = time.perf_counter()
                if pool is None:
                    for i in starts:
                        run(i)
                else:
                    for _ in pool.map(run, starts):
                        pass
                spent[name] += time.perf_counter() - t
    return {name: passes * n / spent[name] for name in order}


def summarize(rounds: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Per setting: medians over rounds of windows/s per format and of the per-round ratio."""
    out: dict[str, Any] = {}
    for s in SETTINGS:
        rs = [r[s] for r in rounds if s in r]
        if not rs:
            continue
        ratios = [r["format2"] / r["format1"] for r in rs]
        ratio = statistics.median(ratios)
        out[s] = {
            "format1_windows_per_s": round(statistics.median(r["format1"] for r in rs)),
            "format2_windows_per_s": round(statistics.median(r["format2"] for r in rs)),
            "ratio": round(ratio, 3), "cost": round(1 - ratio, 3),
            "ratios": [round(x, 3) for x in ratios],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, help="OHLCV parquet/CSV (e.g. score_bench's synthetic file).")
    ap.add_argument("--bundle", type=Path, default=ROOT / "score" / "models" / "default.onnx")
    ap.add_argument("--windows", type=int, default=102_400, help="Distinct windows (format 2 holds 2.4 kB each).")
    ap.add_argument("--passes", type=int, default=3, help="Passes over the windows per measurement.")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--chunk-batches", type=int, default=16, help="Batches per turn before the other format's.")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--first", choices=FORMATS, default="format1", help="Format measured first in round 0.")
    ap.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    args = ap.parse_args()

    import onnx

    from signalpack.score.bundle import _session, load_bundle
    from signalpack.score.contract import FEATURES_NAME, INPUT_NAME, PROBABILITIES
    from signalpack.score.features import check_spec
    from signalpack.score.runner import usable_cores

    bundle = load_bundle(args.bundle, threads=1)  # checks it is a valid format-2 bundle
    data2 = bundle.path.read_bytes()
    data1 = format1_model(data2)
    spec = check_spec(bundle.manifest["feature_spec"])
    x1, x2, polars_s = same_windows(args.data, args.windows, spec, bundle.seq_len)
    cores = usable_cores()
    models = {"format1": (data1, FEATURES_NAME, x1), "format2": (data2, INPUT_NAME, x2)}
    intra = {"scorer": 1, "intra_op": cores, "single": 1}
    sessions = {(s, f): _session(models[f][0], f, intra[s]) for s in args.settings for f in FORMATS}
    pool = ThreadPoolExecutor(cores) if cores > 1 else None

    check = min(2048, len(x1))
    p1 = sessions[(args.settings[0], "format1")].run([PROBABILITIES], {FEATURES_NAME: x1[:check]})[0]
    p2 = sessions[(args.settings[0], "format2")].run([PROBABILITIES], {INPUT_NAME: x2[:check]})[0]
    for s in args.settings:  # warm-up (and the pool's threads)
        runs = {f: (sessions[(s, f)], models[f][1], models[f][2][: 4 * args.batch]) for f in FORMATS}
        interleaved(runs, list(FORMATS), args.batch, 1, 4 * args.batch, pool if s == "scorer" else None)

    rounds = []
    order = list(FORMATS) if args.first == "format1" else list(reversed(FORMATS))
    chunk = args.chunk_batches * args.batch
    for _ in range(args.rounds):
        r: dict[str, dict[str, float]] = {}
        for s in args.settings:
            runs = {f: (sessions[(s, f)], models[f][1], models[f][2]) for f in FORMATS}
            r[s] = interleaved(runs, order, args.batch, args.passes, chunk, pool if s == "scorer" else None)
        rounds.append(r)
        order.reverse()
    if pool is not None:
        pool.shutdown()
    json.dump({
        "bundle": str(args.bundle), "data": str(args.data), "windows": len(x1), "passes": args.passes,
        "batch": args.batch, "chunk_windows": args.chunk_batches * args.batch, "cores": cores, "first": args.first,
        "settings": {"scorer": f"{cores} concurrent calls on one single-threaded session (score run's default)",
                     "intra_op": f"one session, intra_op_num_threads={cores}, sequential calls",
                     "single": "one single-threaded session, sequential calls"},
        "nodes": {f: len(onnx.load_from_string(models[f][0]).graph.node) for f in FORMATS},
        "check_max_abs_diff_probabilities": float(np.abs(p1 - p2).max(initial=0.0)),
        "check_windows": check,
        "polars_features_s_per_100k_windows": round(polars_s * 100_000 / len(x1), 3),
        "rounds": rounds,
        "summary": summarize(rounds),
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()

"""Throughput of the in-graph features (``export.feature_graph``) against a format-2 bundle's own model, in one run.

    python bench/feature_graph_bench.py [--bundle score/models/default.onnx] [--windows 102400]
                                        [--batch 512] [--rounds 3]

Windows: the raw-bar windows of the embedded S&P 500 daily file, tiled to
``--windows``, and the same windows' features computed by polars (float32).
Every session is single-threaded (``intra_op_num_threads = 1``), sequential,
batch ``--batch``. Measured in rounds of one pass over all windows per session,
the sessions taking turns every 8 batches (this shared machine drifts by tens
of percent within seconds), best round kept:

* the feature graph alone in each design (rolling sums by MatMul or by Gather;
  standard deviations by sum of squares or two-pass) with its node count;
* the bundle (format 2: raw bars in, features computed in the graph);
* its format-1 cut (``bench/ort_compare.py``'s ``format1_model``: the same model
  from its internal ``features`` tensor on, fed the polars features): the baseline.

The issue's budget: the in-graph features may cost at most 15% of the model's
inference throughput: cost = 1 - bundle throughput / format-1 throughput, on the
last line with features time / format-1 time. This script is the single-thread design
study; ``bench/score_bench.py`` measures the budget with the scorer's thread
settings. Nothing is asserted: these are figures for the issue.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = (("matmul", "sumsq"), ("matmul", "two_pass"), ("gather", "two_pass"))


def session(model: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def seconds(sess: Any, x: np.ndarray, batch: int) -> float:
    name = sess.get_inputs()[0].name
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        sess.run(None, {name: x[i : i + batch]})
    return time.perf_counter() - start


def interleaved(runs: dict[str, tuple[Any, np.ndarray, int]], batch: int, chunk: int) -> dict[str, float]:
    """One pass over all windows per session, the sessions taking turns every ``chunk`` windows,
    so that the machine's drift falls on all of them alike. Returns seconds per session."""
    total = dict.fromkeys(runs, 0.0)
    n = len(next(iter(runs.values()))[1])
    for start in range(0, n, chunk):
        for name, (sess, x, _) in runs.items():
            total[name] += seconds(sess, x[start : start + chunk], batch)
    return total


def main() -> None:
    from signalpack.export.feature_graph import feature_graph
    from signalpack.score.bar_windows import raw_windows
    from signalpack.score.bundle import load_bundle
    from signalpack.score.features import check_spec, compute_features
    from signalpack.score.io import load_ohlcv
    from signalpack.score.windows import symbol_windows

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", type=Path, default=ROOT / "score" / "models" / "default.onnx",
                   help="A format-2 bundle (default: the shipped one).")
    p.add_argument("--windows", type=int, default=102_400)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    from ort_compare import format1_model

    b = load_bundle(args.bundle)
    spec, seq_len = check_spec(b.manifest["feature_spec"]), b.seq_len
    frame = load_ohlcv(ROOT / "train" / "data" / "sp500_daily.csv.gz").frame
    base, _ = raw_windows(frame, spec.lookback, seq_len)
    base_feats, _ = symbol_windows(compute_features(frame, spec), spec.names, seq_len)
    reps = -(-args.windows // len(base))
    bars = np.ascontiguousarray(np.tile(base, (reps, 1, 1))[: args.windows])
    feats = np.ascontiguousarray(np.tile(base_feats, (reps, 1, 1))[: args.windows])

    runs: dict[str, tuple[Any, np.ndarray, int]] = {}
    for rolling, std in DESIGNS:
        model = feature_graph(spec, seq_len, rolling=rolling, std=std)
        runs[f"features rolling={rolling} std={std}"] = (session(model.SerializeToString()), bars, len(model.graph.node))
    bundle = b.path.read_bytes()
    cut = format1_model(bundle)
    runs["bundle, format 2 (bars in, features in the graph)"] = (session(bundle), bars, 0)
    runs["its format-1 cut (polars features float32 in)"] = (session(cut), feats, 0)

    for sess, x, _ in runs.values():  # warm-up
        seconds(sess, x[: args.batch], args.batch)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for name, spent in interleaved(runs, args.batch, 8 * args.batch).items():
            best[name] = min(best[name], spent)

    cut_s = best[list(runs)[-1]]
    print(f"{args.bundle}: {args.windows:,} windows, batch {args.batch}, 1 thread, best of {args.rounds} rounds "
          "(interleaved)")
    for name, (_, _, nodes) in runs.items():
        nodes_txt = f"{nodes:4d} nodes" if nodes else "          "
        print(f"  {name:52s} {nodes_txt}  {args.windows / best[name]:10,.0f} windows/s  "
              f"time / format 1 {best[name] / cut_s:6.3f}")
    default = best[next(iter(runs))]
    ratio = cut_s / best[list(runs)[-2]]  # throughput format 2 / format 1
    print(f"default design alone: {default / cut_s:.1%} of the format-1 model's inference time; in the bundle: "
          f"time +{1 / ratio - 1:.1%}, throughput ratio {ratio:.3f}, cost {1 - ratio:.1%} of throughput "
          "(the issue's budget: 15%; bench/score_bench.py measures it with the scorer's thread settings)")


if __name__ == "__main__":
    main()

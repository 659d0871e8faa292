"""Throughput of the in-graph features (``export.feature_graph``) against the default bundle, in one run.

    python bench/feature_graph_bench.py [--windows 102400] [--batch 512] [--rounds 3]

Windows: the raw-bar windows of the embedded S&P 500 daily file, tiled to
``--windows`` (the graph's cost does not depend on the values). Every session is
single-threaded (``intra_op_num_threads = 1``), sequential, batch ``--batch``.
Measured in rounds of one pass over all windows per session, the sessions
taking turns every 8 batches (this shared machine drifts by tens of percent
within seconds), best round kept:

* the feature graph in each design (rolling sums by MatMul or by Gather;
  standard deviations by sum of squares or two-pass) with its node count;
* the default bundle ``score/models/default.onnx`` on the same number of
  windows of its input ``features``, float32 [batch, 10, 23], random normal;
* the feature graph, a Cast and the bundle merged into one model (bars in,
  probabilities out): the cost of in-graph features as a bundle would pay it,
  without the feature graph's own output copy.

The issue's budget: the in-graph features may cost at most 15% of the full
model's inference time: the lines to read are features time / bundle time and
composed time / bundle time - 1.
Nothing is asserted: these are figures for the issue.
"""

from __future__ import annotations

import argparse
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


def composed(spec: Any, seq_len: int, bundle: bytes) -> bytes:
    """The feature graph, a Cast to float32, then the bundle: what an in-graph bundle would run."""
    import onnx
    from onnx import TensorProto, compose, helper

    from signalpack.export.feature_graph import feature_graph

    feats = feature_graph(spec, seq_len)
    feats.graph.node.append(helper.make_node("Cast", ["features"], ["features32"], to=TensorProto.FLOAT))
    out = helper.make_tensor_value_info("features32", TensorProto.FLOAT, ["batch", seq_len, spec.n_features])
    del feats.graph.output[:]
    feats.graph.output.append(out)
    model = onnx.load_from_string(bundle)
    return compose.merge_models(feats, model, io_map=[("features32", "features")]).SerializeToString()


def main() -> None:
    from signalpack.export.feature_graph import feature_graph
    from signalpack.score.bar_windows import raw_windows
    from signalpack.score.features import default_feature_spec
    from signalpack.score.io import load_ohlcv

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--windows", type=int, default=102_400)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    spec, seq_len = default_feature_spec(), 10
    frame = load_ohlcv(ROOT / "train" / "data" / "sp500_daily.csv.gz").frame
    base, _ = raw_windows(frame, spec.lookback, seq_len)
    reps = -(-args.windows // len(base))
    bars = np.ascontiguousarray(np.tile(base, (reps, 1, 1))[: args.windows])
    feats = np.random.default_rng(0).standard_normal((args.windows, seq_len, spec.n_features)).astype(np.float32)

    runs: dict[str, tuple[Any, np.ndarray, int]] = {}
    for rolling, std in DESIGNS:
        model = feature_graph(spec, seq_len, rolling=rolling, std=std)
        runs[f"features rolling={rolling} std={std}"] = (session(model.SerializeToString()), bars, len(model.graph.node))
    bundle = (ROOT / "score" / "models" / "default.onnx").read_bytes()
    runs["features + Cast + bundle, composed (bars in)"] = (session(composed(spec, seq_len, bundle)), bars, 0)
    runs["default bundle (features float32 [batch, 10, 23])"] = (session(bundle), feats, 0)

    for sess, x, _ in runs.values():  # warm-up
        seconds(sess, x[: args.batch], args.batch)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for name, spent in interleaved(runs, args.batch, 8 * args.batch).items():
            best[name] = min(best[name], spent)

    bundle_s = best[list(runs)[-1]]
    print(f"{args.windows:,} windows, batch {args.batch}, 1 thread, best of {args.rounds} rounds (interleaved)")
    for name, (_, _, nodes) in runs.items():
        nodes_txt = f"{nodes:4d} nodes" if nodes else "          "
        print(f"  {name:52s} {nodes_txt}  {args.windows / best[name]:10,.0f} windows/s  "
              f"time / bundle {best[name] / bundle_s:6.3f}")
    default = best[next(iter(runs))]
    extra = best[list(runs)[-2]] / bundle_s - 1.0
    print(f"default design alone: {default / bundle_s:.1%} of the bundle's inference time; "
          f"composed in front of it: +{extra:.1%} (the issue's budget: 15%)")


if __name__ == "__main__":
    main()

"""Crafted bundles for the hostile-bundle tests: each ``craft(kind, src, work)`` writes one tampered or
malformed copy of a real bundle and returns its path.

Shared by tests/score/test_bundle.py, tests/score/test_bundle_fuzz.py and the bad-input table
(tests/test_bad_inputs.py, which reaches them through ``argv``). Uses onnx and onnxruntime (test
dependencies), never signalpack's own loader, so a crafted file is what an attacker could write.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tests.conftest import rewrite_manifest

MANIFEST_KEY = "signalpack.manifest"
GOLDEN_KEY = "signalpack.golden"
INJECTED = "x\x1b]0;pwned\x07\x1b[2J\nTraceback (most recent call last):\n  File \"evil.py\", line 1\x9b\u202e"
"""Terminal control sequences (window title, clear screen, C1 CSI, bidi override) and a forged
second line: what a hostile manifest or graph puts into text the scorer may print."""


# ---- raw protobuf


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def nested_subgraphs(depth: int) -> bytes:
    """A GraphProto whose one node holds a graph attribute whose node holds a graph... ``depth`` deep,
    built bottom-up as bytes (the protobuf library itself refuses to build or read such nesting)."""
    graph = _ld(2, b"leaf")  # GraphProto.name
    for _ in range(depth):
        attribute = _ld(1, b"then_branch") + _ld(6, graph)  # AttributeProto.name, .g
        node = _ld(4, b"If") + _ld(5, attribute)  # NodeProto.op_type, .attribute
        graph = _ld(1, node)  # GraphProto.node
    return graph


# ---- metadata


def _props(m: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in m.metadata_props}


def set_metadata(src: Path, dst: Path, key: str, value: str) -> Path:
    """Copy ``src`` with metadata entry ``key`` set to the raw text ``value`` (order kept)."""
    m = onnx.load(str(src))
    props = _props(m)
    props[key] = value
    del m.metadata_props[:]
    helper.set_model_props(m, props)
    dst.write_bytes(m.SerializeToString())
    return dst


def manifest_text(src: Path) -> str:
    return _props(onnx.load(str(src)))[MANIFEST_KEY]


def golden_doc(src: Path) -> dict[str, Any]:
    return json.loads(_props(onnx.load(str(src)))[GOLDEN_KEY])


def rewrite_golden(src: Path, dst: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    """Copy ``src`` with its golden JSON edited in place by ``change`` (or replaced by its return value)."""
    doc = golden_doc(src)
    new = change(doc)
    return set_metadata(src, dst, GOLDEN_KEY, json.dumps(doc if new is None else new))


def add_metadata(src: Path, dst: Path, key: str, value: str) -> Path:
    """Copy ``src`` with one more metadata entry (a key may repeat: onnx does not stop it)."""
    m = onnx.load(str(src))
    entry = m.metadata_props.add()
    entry.key, entry.value = key, value
    dst.write_bytes(m.SerializeToString())
    return dst


def _tensor(a: np.ndarray) -> dict[str, Any]:
    dtype = {"float64": "<f8", "float32": "<f4", "int64": "<i8"}[str(a.dtype)]
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "data": base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")}


def _array(d: dict[str, Any]) -> np.ndarray:
    dtype = {"float64": "<f8", "float32": "<f4", "int64": "<i8"}[d["dtype"]]
    return np.frombuffer(base64.b64decode(d["data"]), dtype=dtype).reshape(d["shape"]).astype(d["dtype"])


# ---- graph edits


def _save(m: onnx.ModelProto, dst: Path) -> Path:
    dst.write_bytes(m.SerializeToString())
    return dst


def regenerate_golden(model: onnx.ModelProto) -> None:
    """Recompute the golden outputs with onnxruntime from ``model`` itself: what a tamperer who changed
    the graph does so that ``verify`` still reproduces them."""
    import os

    os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # as signalpack imports it
    import onnxruntime as ort

    props = _props(model)
    golden = json.loads(props[GOLDEN_KEY])
    bars = _array(golden["inputs"]["ohlcv"])
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    got = dict(zip(names, s.run(names, {"ohlcv": bars}), strict=True))
    golden["outputs"] = {k: _tensor(v) for k, v in got.items()}
    props[GOLDEN_KEY] = json.dumps(golden)
    del model.metadata_props[:]
    helper.set_model_props(model, props)


def reweighted(src: Path, dst: Path, weights: Callable[[np.ndarray], np.ndarray]) -> Path:
    """The ensemble head's weights changed in the graph (``head/weights``), golden vectors regenerated."""
    m = onnx.load(str(src))
    init = next(i for i in m.graph.initializer if i.name == "head/weights")
    w = numpy_helper.to_array(init)
    init.CopyFrom(numpy_helper.from_array(weights(w.copy()).astype(w.dtype), init.name))
    regenerate_golden(m)
    return _save(m, dst)


def _reroute(m: onnx.ModelProto, output: str) -> str:
    """Rename the graph-internal producer of ``output`` so a new node can produce it; returns the new name."""
    raw = f"crafted/{output}_raw"
    for node in m.graph.node:
        node.input[:] = [raw if x == output else x for x in node.input]
        node.output[:] = [raw if x == output else x for x in node.output]
    return raw


def _data_zero(m: onnx.ModelProto, raw: str) -> str:
    """An int64 scalar 0 computed from the data (0 x the smallest value of ``raw``): a shape built on it
    is unknown until run time, so neither onnx's shape inference nor onnxruntime's sees it at load."""
    m.graph.initializer.append(numpy_helper.from_array(np.array(0, np.float32), "crafted/f0"))
    m.graph.node.extend([
        helper.make_node("ReduceMin", [raw], ["crafted/min"], name="crafted/min", keepdims=0),
        helper.make_node("Mul", ["crafted/min", "crafted/f0"], ["crafted/zero_f"], name="crafted/times0"),
        helper.make_node("Cast", ["crafted/zero_f"], ["crafted/zero"], name="crafted/cast", to=onnx.TensorProto.INT64),
    ])
    return "crafted/zero"


def fails_at_run_time(src: Path, dst: Path, node_name: str = "crafted/reshape") -> Path:
    """``probabilities`` reshaped to [4, 3] by a shape computed at run time: loads, then fails on any
    batch but 4 (the golden set has 32). Declared outputs unchanged."""
    m = onnx.load(str(src))
    raw = _reroute(m, "probabilities")
    zero = _data_zero(m, raw)
    m.graph.initializer.append(numpy_helper.from_array(np.array([4, 3], np.int64), "crafted/shape"))
    m.graph.node.extend([
        helper.make_node("Add", ["crafted/shape", zero], ["crafted/shape_sum"], name="crafted/add"),
        helper.make_node("Reshape", [raw, "crafted/shape_sum"], ["probabilities"], name=node_name),
    ])
    return _save(m, dst)


def two_class_probabilities(src: Path, dst: Path, declare: bool) -> Path:
    """``probabilities`` sliced to [batch, 2]: declared so in the graph's outputs (``declare``), or still
    declared [batch, 3] (only running the graph shows it)."""
    m = onnx.load(str(src))
    raw = _reroute(m, "probabilities")
    zero = _data_zero(m, raw)  # the end is known only at run time: onnxruntime cannot infer [batch, 2]
    m.graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), "crafted/start"),
                                numpy_helper.from_array(np.array([2], np.int64), "crafted/end2"),
                                numpy_helper.from_array(np.array([1], np.int64), "crafted/axis")])
    m.graph.node.extend([
        helper.make_node("Add", ["crafted/end2", zero], ["crafted/end"], name="crafted/end"),
        helper.make_node("Slice", [raw, "crafted/start", "crafted/end", "crafted/axis"], ["probabilities"],
                         name="crafted/slice"),
    ])
    # ArgMax / ReduceMax read the raw probabilities (rerouted above), so only the output changes
    if declare:
        out = next(o for o in m.graph.output if o.name == "probabilities")
        out.type.tensor_type.shape.dim[1].dim_value = 2
    return _save(m, dst)


# ---- the catalogue


def _feature(i: int, **change: Any) -> Callable[[dict[str, Any]], None]:
    def edit(x: dict[str, Any]) -> None:
        x["feature_spec"]["features"][i].update(change)
    return edit


def _params(i: int, **params: Any) -> Callable[[dict[str, Any]], None]:
    def edit(x: dict[str, Any]) -> None:
        x["feature_spec"]["features"][i]["params"].update(params)
    return edit


def _deep_manifest(src: Path, dst: Path, depth: int = 100_000) -> Path:
    text = manifest_text(src)
    return set_metadata(src, dst, MANIFEST_KEY, text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}")


def _nested_graph(src: Path, dst: Path, depth: int = 3000) -> Path:
    dst.write_bytes(src.read_bytes() + _ld(7, _ld(1, _ld(4, b"If") + _ld(5, _ld(1, b"g") + _ld(6, nested_subgraphs(depth))))))
    return dst


def _duplicate_manifest(src: Path, dst: Path) -> Path:
    tampered = json.loads(manifest_text(src))
    tampered["confidence_threshold"] = 0.99
    return add_metadata(src, dst, MANIFEST_KEY, json.dumps(tampered))


def _duplicate_golden(src: Path, dst: Path) -> Path:
    return add_metadata(src, dst, GOLDEN_KEY, json.dumps(golden_doc(src)))


def _empty_golden(src: Path, dst: Path) -> Path:
    def empty(doc: dict[str, Any]) -> None:
        for group in ("inputs", "outputs"):
            for k, d in doc[group].items():
                doc[group][k] = _tensor(_array(d)[:0])
    return rewrite_golden(src, dst, empty)


def _manifest(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path, Path], Path]:
    return lambda src, dst: rewrite_manifest(src, dst, change)


def _manifest_text(edit: Callable[[str], str]) -> Callable[[Path, Path], Path]:
    return lambda src, dst: set_metadata(src, dst, MANIFEST_KEY, edit(manifest_text(src)))


CRAFTS: dict[str, Callable[[Path, Path], Path]] = {
    # defect 4: tampering
    "duplicate_manifest_key": _duplicate_manifest,
    "duplicate_golden_key": _duplicate_golden,
    "threshold_zero": _manifest(lambda x: x.update(confidence_threshold=0.0)),
    "negated_weights_regenerated_golden": lambda s, d: reweighted(s, d, lambda w: -w),
    "other_weights_regenerated_golden": lambda s, d: reweighted(s, d, lambda w: np.eye(1, w.size).reshape(w.shape)),
    "weights_not_summing_to_one": _manifest(lambda x: x["ensemble"].update(weights=[0.5, 0.5, 0.5])),
    # defect 5: crashes
    "nested_subgraphs": _nested_graph,
    "nested_manifest_json": _deep_manifest,
    "feature_window_zero": _manifest(_params(1, n=0)),
    "feature_window_fraction": _manifest(_params(1, n=2.5)),
    "duplicate_feature_names": _manifest(_feature(1, name="ret_1")),
    "golden_missing_output": lambda s, d: rewrite_golden(s, d, lambda g: g["outputs"].pop("signal") and None),
    "golden_as_list": lambda s, d: rewrite_golden(s, d, lambda g: [g["inputs"], g["outputs"]]),
    "golden_empty": _empty_golden,
    "fails_at_run_time": fails_at_run_time,
    "probabilities_declared_two_classes": lambda s, d: two_class_probabilities(s, d, declare=True),
    "probabilities_two_classes_at_run_time": lambda s, d: two_class_probabilities(s, d, declare=False),
    # defect 6: unbounded parameters, colliding names
    "feature_window_3000": _manifest(_params(1, n=5000)),
    "feature_named_timestamp": _manifest(_feature(2, name="timestamp")),
    "feature_named_symbol": _manifest(_feature(2, name="Symbol")),
    # defect 12: text
    "nan_threshold": _manifest(lambda x: x.update(confidence_threshold=float("nan"))),
    "huge_float": _manifest_text(lambda t: t.replace('"confidence_threshold":', '"confidence_threshold":1e999,"x":', 1)),
}


def craft(kind: str, src: Path, work: Path) -> Path:
    return CRAFTS[kind](Path(src), Path(work) / f"{kind}.onnx")


def argv(command: str, kind: str, work: Path, bundle: Path) -> list[str]:
    """The bad-input table's argv: ``score <command>`` on a crafted copy of ``bundle`` (``run`` scores a
    copy of tests/data/goog_daily.csv with it)."""
    from tests.conftest import GOOG

    path = str(craft(kind, bundle, work))
    if command == "run":
        csv = Path(work) / "prices.csv"
        csv.write_text(GOOG.read_text())
        return ["run", str(csv), "--model", path]
    return [command, path]

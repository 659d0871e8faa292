"""Compose one ONNX graph: features → scaler → members → weighted average, with canonical names.

    ohlcv [batch, W, 5] float64 (raw bars: open, high, low, close, volume; oldest first)
      → feat/… (the FeatureSpec compiled to standard ops, float64; ``feature_graph``)
      → Cast → features [batch, seq_len, n_features] float32 (FeatureSpec order)
      → Sub/Div (scaler) → member_i (fused LSTM …) → Unsqueeze → Concat
      → member_probabilities [batch, members, 3]
      → Mul(weights) → ReduceSum → probabilities [batch, 3]
      → ArgMax → signal [batch] int64;  ReduceMax → confidence [batch]

Every node, intermediate tensor and initializer is renamed canonically
(``scaler/…``, ``m0/…``, ``head/…``) and doc strings are cleared, so the same
inputs always give the same bytes (tf2onnx's own names carry process-wide
counters). The model declares IR ``contract.IR_VERSION`` and default-domain opset ``DEFAULT_OPSET`` unless
asked otherwise: the lowest versions its operators need, so onnxruntime 1.16+
and other language bindings load it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from signalpack.export.feature_graph import feature_nodes, window_rows
from signalpack.score.contract import (
    BAR_COLUMNS,
    CONFIDENCE,
    FEATURES_NAME,
    INPUT_NAME,
    IR_VERSION,
    MEMBER_PROBABILITIES,
    N_CLASSES,
    PROBABILITIES,
    SIGNAL,
)
from signalpack.score.features import FeatureSpec

__all__ = ["FEATURES_F64", "compose"]

FEATURES_F64 = "feat/features"
"""The feature section's float64 output [batch, seq_len, n_features], before the Cast to float32
(the feature-parity gate reads it)."""


def _structural_order(graph: Any) -> list[Any]:
    """The nodes of ``graph`` in an order fixed by its structure alone: a post-order depth-first walk
    from the graph outputs (in output order), each node's inputs in slot order.

    A valid topological order. tf2onnx's own node order is one of several valid ones when the graph
    branches (a member with a wide path), and which one varies between conversions of the same
    model; names it generates vary too, so neither can order the nodes reproducibly. Nodes no output
    depends on (tf2onnx leaves none) follow in their original order.
    """
    producer = {o: n for n in graph.node for o in n.output if o}
    seen: set[int] = set()
    order: list[Any] = []
    for out in graph.output:
        start = producer.get(out.name)
        if start is None or id(start) in seen:
            continue
        seen.add(id(start))
        stack = [(start, 0)]
        while stack:  # iterative: a deep chain must not hit the recursion limit
            node, i = stack[-1]
            if i < len(node.input):
                stack[-1] = (node, i + 1)
                dep = producer.get(node.input[i])
                if dep is not None and id(dep) not in seen:
                    seen.add(id(dep))
                    stack.append((dep, 0))
            else:
                stack.pop()
                order.append(node)
    return order + [n for n in graph.node if id(n) not in seen]


def _canonical(graph: Any, prefix: str, inputs: dict[str, str], output_names: dict[str, str]) -> tuple[list, list]:
    """Nodes and initializers of ``graph`` with canonical names.

    inputs : old graph-input name → name in the composed graph
    output_names : old graph-output name → name in the composed graph
    """
    from onnx import helper, numpy_helper

    rename: dict[str, str] = dict(inputs)
    rename.update(output_names)
    # Nodes in their structural order, and initializers named by first use in it (tf2onnx's own
    # order and names vary between runs); unused initializers are dropped.
    by_name = {init.name: init for init in graph.initializer}
    order = _structural_order(graph)
    inits = []
    for node in order:
        for i in node.input:
            if i in by_name and i not in rename:
                new = f"{prefix}/w{len(inits)}"
                rename[i] = new
                inits.append(numpy_helper.from_array(numpy_helper.to_array(by_name[i]), new))
    counter = 0
    nodes = []
    for k, node in enumerate(order):
        outs = []
        for o in node.output:
            if o == "":
                outs.append("")
                continue
            if o not in rename:
                rename[o] = f"{prefix}/t{counter}"
                counter += 1
            outs.append(rename[o])
        ins = [rename.get(i, i) if i else "" for i in node.input]
        missing = [i for i in node.input if i and i not in rename]
        if missing:
            raise ValueError(f"{prefix}: node {node.name} reads undefined tensors {missing}")
        new = helper.make_node(node.op_type, ins, outs, name=f"{prefix}/n{k}_{node.op_type}", domain=node.domain)
        new.attribute.extend(node.attribute)
        for a in new.attribute:
            a.doc_string = ""
        nodes.append(new)
    return nodes, inits


def compose(
    scaler_proto: Any,
    member_protos: list[Any],
    weights: list[float],
    spec: FeatureSpec,
    seq_len: int,
    opset: int,
) -> Any:
    """The bundle graph (without metadata); see the module docstring."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = feature_nodes(spec, seq_len, INPUT_NAME, FEATURES_F64, prefix="feat/")
    nodes.append(helper.make_node("Cast", [FEATURES_F64], [FEATURES_NAME], name="feat/cast_float32",
                                  to=TensorProto.FLOAT))
    sg = scaler_proto.graph
    n, i = _canonical(sg, "scaler", {sg.input[0].name: FEATURES_NAME}, {sg.output[0].name: "scaled"})
    nodes += n
    inits += i
    member_outs = []
    for k, proto in enumerate(member_protos):
        g = proto.graph
        out = f"m{k}/probabilities"
        n, i = _canonical(g, f"m{k}", {g.input[0].name: "scaled"}, {g.output[0].name: out})
        nodes += n
        inits += i
        member_outs.append(out)

    m = len(member_protos)
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "head/axis1"))
    inits.append(
        numpy_helper.from_array(np.asarray(weights, dtype=np.float32).reshape(1, m, 1), "head/weights")
    )
    unsq = []
    for k, out in enumerate(member_outs):
        name = f"head/m{k}_unsqueezed"
        nodes.append(helper.make_node("Unsqueeze", [out, "head/axis1"], [name], name=f"head/unsqueeze{k}"))
        unsq.append(name)
    nodes.append(helper.make_node("Concat", unsq, [MEMBER_PROBABILITIES], name="head/concat", axis=1))
    nodes.append(helper.make_node("Mul", [MEMBER_PROBABILITIES, "head/weights"], ["head/weighted"], name="head/mul"))
    nodes.append(helper.make_node("ReduceSum", ["head/weighted", "head/axis1"], [PROBABILITIES],
                                  name="head/sum", keepdims=0))
    nodes.append(helper.make_node("ArgMax", [PROBABILITIES], [SIGNAL], name="head/argmax", axis=1, keepdims=0))
    nodes.append(helper.make_node("ReduceMax", [PROBABILITIES], [CONFIDENCE], name="head/max",
                                  axes=[1], keepdims=0))  # opset <= 17, as the feature section needs

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    graph = helper.make_graph(
        nodes,
        "signalpack",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.DOUBLE,
                                       ["batch", window_rows(spec, seq_len), len(BAR_COLUMNS)])],
        [
            helper.make_tensor_value_info(PROBABILITIES, f32, ["batch", N_CLASSES]),
            helper.make_tensor_value_info(SIGNAL, i64, ["batch"]),
            helper.make_tensor_value_info(CONFIDENCE, f32, ["batch"]),
            helper.make_tensor_value_info(MEMBER_PROBABILITIES, f32, ["batch", m, N_CLASSES]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR_VERSION
    return model

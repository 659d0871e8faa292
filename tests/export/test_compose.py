"""export.compose: a member graph's nodes get one order and one set of names, whatever order
tf2onnx emitted them in, so that two exports of one run are byte-identical."""

from __future__ import annotations

import random

import numpy as np
from onnx import helper, numpy_helper

from signalpack.export.compose import _canonical, _structural_order


def _branching_graph(order: list[int]):
    """x → A → (B, C) → D → y, and a side chain E → F into D: several valid topological orders."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="A"),
        helper.make_node("MatMul", ["a", "w1"], ["b"], name="B"),
        helper.make_node("MatMul", ["a", "w2"], ["c"], name="C"),
        helper.make_node("Shape", ["x"], ["e"], name="E"),
        helper.make_node("Cast", ["e"], ["f"], name="F", to=1),
        helper.make_node("Sum", ["b", "c", "f"], ["y"], name="D"),
    ]
    inits = [numpy_helper.from_array(np.full((2, 2), k, np.float32), f"w{k}") for k in (1, 2)]
    return helper.make_graph([nodes[i] for i in order], "g",
                             [helper.make_tensor_value_info("x", 1, [None, 2])],
                             [helper.make_tensor_value_info("y", 1, [None, 2])], inits)


def test_structural_order_ignores_the_emitted_order():
    want = None
    rng = random.Random(0)
    for _ in range(20):
        perm = list(range(6))
        rng.shuffle(perm)
        got = [n.name for n in _structural_order(_branching_graph(perm))]
        assert got == ["A", "B", "C", "E", "F", "D"]  # inputs in slot order, depth first
        nodes, inits = _canonical(_branching_graph(perm), "m0", {"x": "scaled"}, {"y": "m0/out"})
        text = [str(n) for n in nodes] + [str(i) for i in inits]
        want = want or text
        assert text == want  # the same nodes, names and initializers, byte for byte

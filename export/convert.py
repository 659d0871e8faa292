"""Convert the parts: the StandardScaler with skl2onnx, each Keras member with tf2onnx.

With Keras 3, ``tf2onnx.convert.from_keras`` fails (``KeyError: 'keras_tensor_N'``);
``from_function`` over ``tf.function(lambda x: model(x, training=False))`` with a
fixed input signature works and emits the fused ONNX ``LSTM`` op. Conversion
runs on CPU: with a visible GPU, TensorFlow emits ``CudnnRNNV3``, which tf2onnx
cannot convert.
"""

from __future__ import annotations

import os
from typing import Any

from signalpack.errors import ExportError
from signalpack.score.contract import INPUT_NAME
from signalpack.train.scaler import Scaler

__all__ = ["check_member_ops", "convert_member", "convert_scaler", "inference_twin"]

_FORBIDDEN_OPS = ("Loop", "Scan", "If")


def convert_scaler(scaler: Scaler, opset: int) -> Any:
    """skl2onnx StandardScaler in its Sub/Div form (which broadcasts over [batch, seq, features]).

    The default output, the ``ai.onnx.ml`` ``Scaler`` op, is 2-D only.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    sk = scaler.to_sklearn()
    proto = convert_sklearn(
        sk,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(scaler.mean)]))],
        options={id(sk): {"div": "div"}},
        target_opset=min(opset, 18),
    )
    ops = [n.op_type for n in proto.graph.node]
    if ops != ["Sub", "Div"]:
        raise ExportError(f"skl2onnx converted the scaler to {ops}; expected exactly Sub, Div")
    return proto


TRAINING_ONLY_LAYERS = ("GaussianNoise", "GaussianDropout")
"""Layers that are the identity at inference: left out of the member's inference twin."""


def inference_twin(model: Any) -> Any:
    """The member as inference sees it: the same weights, without training-only parts.

    Gaussian noise layers are dropped (in a functional member, ``linear_skip``, kept with a deviation
    of 0) and the LSTM's input and recurrent dropout set to 0. Both act
    in training only, so the twin computes what ``model(x, training=False)`` computes (up to float
    rounding: the two LSTM kernels sum in another order; the parity gate checks the result). An LSTM
    with recurrent dropout, though, traces to a while loop that tf2onnx emits as ``Loop``; the twin
    traces to the fused ``LSTM`` op. A member without those parts is returned as it is.
    """
    import keras

    config = model.get_config()
    layers = config["layers"]
    sequential = isinstance(model, keras.Sequential)
    kept = [
        layer for layer in layers if not (sequential and layer["class_name"] in TRAINING_ONLY_LAYERS)
    ]
    changed = len(kept) != len(layers)
    for layer in kept:
        cfg = layer["config"]
        if layer["class_name"] == "LSTM" and (cfg.get("dropout") or cfg.get("recurrent_dropout")):
            cfg["dropout"], cfg["recurrent_dropout"] = 0.0, 0.0
            changed = True
        if layer["class_name"] in TRAINING_ONLY_LAYERS:  # a functional member (linear_skip): kept, made identity
            cfg["stddev" if layer["class_name"] == "GaussianNoise" else "rate"] = 0.0
            changed = True
    if not changed:
        return model
    twin = (keras.Sequential.from_config({**config, "layers": kept}) if sequential
            else keras.Model.from_config(config))
    twin.set_weights(model.get_weights())
    return twin


def convert_member(model: Any, seq_len: int, n_features: int, opset: int, name: str) -> Any:
    """tf2onnx conversion of one Keras member (inference mode, ``inference_twin``), on CPU."""
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    import tensorflow as tf
    import tf2onnx

    model = inference_twin(model)
    with tf.device("/CPU:0"):
        fn = tf.function(lambda x: model(x, training=False))
        signature = (tf.TensorSpec([None, seq_len, n_features], tf.float32, name="x"),)
        try:
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=signature, opset=opset)
        except Exception as exc:  # tf2onnx raises many kinds
            raise ExportError(f"{name}: tf2onnx could not convert it ({type(exc).__name__}: {exc})") from exc
    check_member_ops(proto, name)
    return proto


def check_member_ops(proto: Any, name: str) -> None:
    """The fused ``LSTM`` op is required: refuse Loop/Scan graphs and cuDNN RNN ops."""
    ops = [n.op_type for n in proto.graph.node]
    bad = sorted({op for op in ops if op in _FORBIDDEN_OPS or op.startswith("CudnnRNN")})
    if bad:
        raise ExportError(
            f"{name}: converted to {', '.join(bad)} instead of one fused ONNX LSTM op; "
            "export on CPU (CUDA_VISIBLE_DEVICES=-1) with the tested tensorflow/tf2onnx versions"
        )
    if ops.count("LSTM") != 1:
        raise ExportError(f"{name}: expected exactly one fused LSTM op, found {ops.count('LSTM')}")

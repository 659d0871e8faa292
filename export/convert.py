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

__all__ = ["convert_scaler", "convert_member", "check_member_ops"]

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


def convert_member(model: Any, seq_len: int, n_features: int, opset: int, name: str) -> Any:
    """tf2onnx conversion of one Keras member (inference mode), on CPU."""
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    import tensorflow as tf
    import tf2onnx

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

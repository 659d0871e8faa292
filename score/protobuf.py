"""A minimal, read-only walk over an ONNX ModelProto's protobuf wire format.

The scorer must inspect a bundle *before* handing it to onnxruntime: refuse
external data (a path inside the file that the runtime would open), bound the
size of metadata, and read the manifest — without depending on the ``onnx``
package, which is not part of the scorer install. Only the handful of fields
those checks need are decoded; everything else is skipped by wire type.
Field numbers are from onnx/onnx.proto3.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["ModelInfo", "scan_model", "ProtobufError"]


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated or corrupt)."""


# ModelProto
_M_IR_VERSION, _M_OPSET, _M_PRODUCER, _M_PRODUCER_VERSION = 1, 8, 2, 3
_M_MODEL_VERSION, _M_DOC, _M_GRAPH, _M_METADATA, _M_FUNCTIONS = 5, 6, 7, 14, 25
# GraphProto
_G_NODE, _G_INITIALIZER, _G_INPUT, _G_OUTPUT, _G_SPARSE_INIT = 1, 5, 11, 12, 15
# NodeProto / AttributeProto
_N_OP_TYPE, _N_ATTRIBUTE, _N_DOMAIN = 4, 5, 7
_A_T, _A_G, _A_TENSORS, _A_GRAPHS, _A_SPARSE, _A_SPARSES = 5, 6, 10, 11, 22, 23
# TensorProto / SparseTensorProto / FunctionProto
_T_EXTERNAL_DATA, _T_DATA_LOCATION, _EXTERNAL = 13, 14, 1
_S_VALUES, _S_INDICES = 1, 2
_F_NODE = 7
# ValueInfoProto
_V_NAME = 1


@dataclass
class ModelInfo:
    ir_version: int = 0
    opsets: dict[str, int] = field(default_factory=dict)
    producer_name: str = ""
    producer_version: str = ""
    model_version: int = 0
    doc_string: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    metadata_bytes: int = 0
    op_types: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    external_tensors: int = 0
    has_graph: bool = False


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield (field number, wire type, value) for each field of one message."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ProtobufError("field number 0")
        if wt == 0:
            val, pos = _varint(buf, pos)
            yield num, wt, val
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise ProtobufError("length-delimited field runs past the end")
            yield num, wt, buf[pos : pos + n]
            pos += n
        elif wt == 1:
            pos += 8
        elif wt == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        if pos > end:
            raise ProtobufError("fixed-width field runs past the end")


def _text(v: int | memoryview) -> str:
    if isinstance(v, int):
        raise ProtobufError("expected a string field")
    try:
        return bytes(v).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError("string field is not UTF-8") from exc


def _msg(v: int | memoryview) -> memoryview:
    if isinstance(v, int):
        raise ProtobufError("expected a message field")
    return v


def scan_model(data: bytes) -> ModelInfo:
    """Decode what the scorer's checks need from serialized ModelProto bytes."""
    info = ModelInfo()
    for num, _, v in _fields(memoryview(data)):
        if num == _M_IR_VERSION and isinstance(v, int):
            info.ir_version = v
        elif num == _M_OPSET:
            domain, version = "", 0
            for n2, _, v2 in _fields(_msg(v)):
                if n2 == 1:
                    domain = _text(v2)
                elif n2 == 2 and isinstance(v2, int):
                    version = v2
            info.opsets[domain] = version
        elif num == _M_PRODUCER:
            info.producer_name = _text(v)
        elif num == _M_PRODUCER_VERSION:
            info.producer_version = _text(v)
        elif num == _M_MODEL_VERSION and isinstance(v, int):
            info.model_version = v
        elif num == _M_DOC:
            info.doc_string = _text(v)
        elif num == _M_GRAPH:
            info.has_graph = True
            _scan_graph(_msg(v), info, top=True)
        elif num == _M_FUNCTIONS:
            for n2, _, v2 in _fields(_msg(v)):
                if n2 == _F_NODE:
                    _scan_node(_msg(v2), info)
        elif num == _M_METADATA:
            key = value = ""
            body = _msg(v)
            info.metadata_bytes += len(body)
            for n2, _, v2 in _fields(body):
                if n2 == 1:
                    key = _text(v2)
                elif n2 == 2:
                    value = _text(v2)
            info.metadata[key] = value
    return info


def _scan_graph(buf: memoryview, info: ModelInfo, top: bool) -> None:
    for num, _, v in _fields(buf):
        if num == _G_NODE:
            _scan_node(_msg(v), info)
        elif num == _G_INITIALIZER:
            _scan_tensor(_msg(v), info)
        elif num == _G_SPARSE_INIT:
            _scan_sparse(_msg(v), info)
        elif top and num in (_G_INPUT, _G_OUTPUT):
            name = next((_text(v2) for n2, _, v2 in _fields(_msg(v)) if n2 == _V_NAME), "")
            (info.inputs if num == _G_INPUT else info.outputs).append(name)


def _scan_node(buf: memoryview, info: ModelInfo) -> None:
    op = domain = ""
    for num, _, v in _fields(buf):
        if num == _N_OP_TYPE:
            op = _text(v)
        elif num == _N_DOMAIN:
            domain = _text(v)
        elif num == _N_ATTRIBUTE:
            for n2, _, v2 in _fields(_msg(v)):
                if n2 in (_A_T, _A_TENSORS):
                    _scan_tensor(_msg(v2), info)
                elif n2 in (_A_G, _A_GRAPHS):
                    _scan_graph(_msg(v2), info, top=False)
                elif n2 in (_A_SPARSE, _A_SPARSES):
                    _scan_sparse(_msg(v2), info)
    info.op_types.append(f"{domain}::{op}" if domain and domain != "ai.onnx" else op)


def _scan_tensor(buf: memoryview, info: ModelInfo) -> None:
    for num, _, v in _fields(buf):
        if (num == _T_DATA_LOCATION and v == _EXTERNAL) or num == _T_EXTERNAL_DATA:
            info.external_tensors += 1
            return


def _scan_sparse(buf: memoryview, info: ModelInfo) -> None:
    for num, _, v in _fields(buf):
        if num in (_S_VALUES, _S_INDICES):
            _scan_tensor(_msg(v), info)

"""A minimal, read-only walk over an ONNX ModelProto's protobuf wire format.

The scorer must inspect a bundle *before* handing it to onnxruntime: refuse
external data (a path inside the file that the runtime would open), bound the
size of metadata, and read the manifest — without depending on the ``onnx``
package, which is not part of the scorer install. Only the handful of fields
those checks need are decoded; everything else is skipped by wire type.
Field numbers are from onnx/onnx.proto3.

Every *string* field onnxruntime may quote back (names of nodes, values,
attributes, tensors and graphs, op types, domains, doc strings, symbolic
dimensions) is checked to be UTF-8, as protobuf requires: onnxruntime does not
check, and a message quoting an invalid name cannot be turned into Python text
(onnxruntime's Python layer then prints a multi-line "EP Error" banner and
retries). Nesting is bounded (``MAX_GRAPH_DEPTH``, ``MAX_TYPE_DEPTH``), so the
walk's recursion is too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["MAX_GRAPH_DEPTH", "MAX_TYPE_DEPTH", "ModelInfo", "scan_model", "ProtobufError"]

MAX_GRAPH_DEPTH = 64
"""Deepest nesting of subgraphs (a node attribute holding a graph whose node holds a graph...) the scanner
walks; deeper is refused as corrupt. signalpack's graphs have none (no Loop/Scan/If), and a crafted
file nested thousands deep would otherwise exhaust the stack here or in onnxruntime."""
MAX_TYPE_DEPTH = 16
"""Deepest nesting of value types (a sequence of maps of optionals...); signalpack's are plain tensors."""


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated or corrupt)."""


# ModelProto
_M_IR_VERSION, _M_OPSET, _M_PRODUCER, _M_PRODUCER_VERSION = 1, 8, 2, 3
_M_DOMAIN, _M_MODEL_VERSION, _M_DOC, _M_GRAPH, _M_METADATA, _M_FUNCTIONS = 4, 5, 6, 7, 14, 25
# GraphProto
_G_NODE, _G_INITIALIZER, _G_INPUT, _G_OUTPUT, _G_SPARSE_INIT = 1, 5, 11, 12, 15
_G_NAME, _G_DOC, _G_VALUE_INFO = 2, 10, 13
# NodeProto / AttributeProto
_N_INPUT, _N_OUTPUT, _N_NAME, _N_OP_TYPE, _N_ATTRIBUTE, _N_DOC, _N_DOMAIN, _N_OVERLOAD = 1, 2, 3, 4, 5, 6, 7, 8
_A_T, _A_G, _A_TENSORS, _A_GRAPHS, _A_SPARSE, _A_SPARSES = 5, 6, 10, 11, 22, 23
_A_NAME, _A_DOC, _A_REF_NAME, _A_TP, _A_TPS = 1, 13, 21, 14, 15
# TensorProto / SparseTensorProto / FunctionProto
_T_EXTERNAL_DATA, _T_DATA_LOCATION, _EXTERNAL = 13, 14, 1
_T_NAME, _T_DOC = 8, 12
_S_VALUES, _S_INDICES = 1, 2
_F_NAME, _F_INPUT, _F_OUTPUT, _F_ATTRIBUTE, _F_NODE, _F_DOC, _F_DOMAIN = 1, 4, 5, 6, 7, 8, 10
_F_ATTRIBUTE_PROTO, _F_VALUE_INFO, _F_OVERLOAD = 11, 12, 13
# ValueInfoProto / TypeProto
_V_NAME, _V_TYPE, _V_DOC = 1, 2, 3
_TP_TENSOR, _TP_SEQUENCE, _TP_MAP, _TP_DENOTATION, _TP_OPAQUE, _TP_SPARSE, _TP_OPTIONAL = 1, 4, 5, 6, 7, 8, 9
_SHAPE_DIM, _DIM_PARAM, _DIM_DENOTATION = 1, 2, 3


@dataclass
class ModelInfo:
    ir_version: int = 0
    opsets: dict[str, int] = field(default_factory=dict)
    producer_name: str = ""
    producer_version: str = ""
    model_version: int = 0
    doc_string: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    """Each metadata key's value; of a repeated key, the last (as onnxruntime reads it)."""
    metadata_key_counts: Counter[str] = field(default_factory=Counter)
    """How many metadata entries carry each key: a file may repeat one (onnx.checker refuses that)."""
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
        elif num == _M_DOMAIN:
            _text(v)
        elif num == _M_MODEL_VERSION and isinstance(v, int):
            info.model_version = v
        elif num == _M_DOC:
            info.doc_string = _text(v)
        elif num == _M_GRAPH:
            info.has_graph = True
            _scan_graph(_msg(v), info, top=True, depth=0)
        elif num == _M_FUNCTIONS:
            _scan_function(_msg(v), info)
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
            info.metadata_key_counts[key] += 1
    return info


def _scan_graph(buf: memoryview, info: ModelInfo, top: bool, depth: int) -> None:
    """One graph; ``depth`` counts the subgraphs it is nested in (0: the model's graph). Recursion
    is bounded by ``MAX_GRAPH_DEPTH`` (two Python frames per level), so no file can exhaust the stack."""
    if depth > MAX_GRAPH_DEPTH:
        raise ProtobufError(f"subgraphs nested more than {MAX_GRAPH_DEPTH} deep")
    for num, _, v in _fields(buf):
        if num == _G_NODE:
            _scan_node(_msg(v), info, depth)
        elif num == _G_INITIALIZER:
            _scan_tensor(_msg(v), info)
        elif num == _G_SPARSE_INIT:
            _scan_sparse(_msg(v), info)
        elif num in (_G_INPUT, _G_OUTPUT, _G_VALUE_INFO):
            name = _scan_value_info(_msg(v))
            if top and num != _G_VALUE_INFO:
                (info.inputs if num == _G_INPUT else info.outputs).append(name)
        elif num in (_G_NAME, _G_DOC):
            _text(v)


def _scan_node(buf: memoryview, info: ModelInfo, depth: int) -> None:
    op = domain = ""
    for num, _, v in _fields(buf):
        if num == _N_OP_TYPE:
            op = _text(v)
        elif num == _N_DOMAIN:
            domain = _text(v)
        elif num in (_N_INPUT, _N_OUTPUT, _N_NAME, _N_DOC, _N_OVERLOAD):
            _text(v)
        elif num == _N_ATTRIBUTE:
            _scan_attribute(_msg(v), info, depth)
    info.op_types.append(f"{domain}::{op}" if domain and domain != "ai.onnx" else op)


def _scan_attribute(buf: memoryview, info: ModelInfo, depth: int) -> None:
    for num, _, v in _fields(buf):
        if num in (_A_T, _A_TENSORS):
            _scan_tensor(_msg(v), info)
        elif num in (_A_G, _A_GRAPHS):
            _scan_graph(_msg(v), info, top=False, depth=depth + 1)
        elif num in (_A_SPARSE, _A_SPARSES):
            _scan_sparse(_msg(v), info)
        elif num in (_A_TP, _A_TPS):
            _scan_type(_msg(v))
        elif num in (_A_NAME, _A_DOC, _A_REF_NAME):
            _text(v)


def _scan_function(buf: memoryview, info: ModelInfo) -> None:
    for num, _, v in _fields(buf):
        if num == _F_NODE:
            _scan_node(_msg(v), info, depth=1)
        elif num == _F_ATTRIBUTE_PROTO:
            _scan_attribute(_msg(v), info, depth=1)
        elif num == _F_VALUE_INFO:
            _scan_value_info(_msg(v))
        elif num in (_F_NAME, _F_INPUT, _F_OUTPUT, _F_ATTRIBUTE, _F_DOC, _F_DOMAIN, _F_OVERLOAD):
            _text(v)


def _scan_value_info(buf: memoryview) -> str:
    """A ValueInfoProto's strings checked; returns its name."""
    name = ""
    for num, _, v in _fields(buf):
        if num == _V_NAME:
            name = _text(v)
        elif num == _V_DOC:
            _text(v)
        elif num == _V_TYPE:
            _scan_type(_msg(v))
    return name


def _scan_type(buf: memoryview) -> None:
    """A TypeProto's strings (symbolic dimensions, denotations) checked; nested element types are
    walked with an explicit stack, at most MAX_TYPE_DEPTH deep."""
    stack = [(buf, 0)]
    while stack:
        t, depth = stack.pop()
        if depth > MAX_TYPE_DEPTH:
            raise ProtobufError(f"value types nested more than {MAX_TYPE_DEPTH} deep")
        for num, _, v in _fields(t):
            if num == _TP_DENOTATION:
                _text(v)
            elif num in (_TP_TENSOR, _TP_SPARSE):  # elem_type 1, shape 2
                for n2, _, v2 in _fields(_msg(v)):
                    if n2 == 2:
                        for n3, _, v3 in _fields(_msg(v2)):
                            if n3 == _SHAPE_DIM:
                                for n4, _, v4 in _fields(_msg(v3)):
                                    if n4 in (_DIM_PARAM, _DIM_DENOTATION):
                                        _text(v4)
            elif num in (_TP_SEQUENCE, _TP_OPTIONAL):  # elem_type 1: a TypeProto
                stack += [(_msg(v2), depth + 1) for n2, _, v2 in _fields(_msg(v)) if n2 == 1]
            elif num == _TP_MAP:  # key_type 1 (an enum), value_type 2: a TypeProto
                stack += [(_msg(v2), depth + 1) for n2, _, v2 in _fields(_msg(v)) if n2 == 2]
            elif num == _TP_OPAQUE:  # domain 1, name 2
                for _, _, v2 in _fields(_msg(v)):
                    _text(v2)


def _scan_tensor(buf: memoryview, info: ModelInfo) -> None:
    for num, _, v in _fields(buf):
        if (num == _T_DATA_LOCATION and v == _EXTERNAL) or num == _T_EXTERNAL_DATA:
            info.external_tensors += 1
            return
        if num in (_T_NAME, _T_DOC):
            _text(v)


def _scan_sparse(buf: memoryview, info: ModelInfo) -> None:
    for num, _, v in _fields(buf):
        if num in (_S_VALUES, _S_INDICES):
            _scan_tensor(_msg(v), info)


def top_level_fields(data: bytes) -> list[tuple[int, int, int]]:
    """(field number, start, end) of each top-level field of a message, in file order: ``data[start:end]``
    is the field's whole encoding (tag, length, value). Used to find a signed bundle's signature entry
    (``signature.py``). Raises ``ProtobufError`` unless the fields tile ``data`` exactly."""
    buf = memoryview(data)
    out: list[tuple[int, int, int]] = []
    pos, end = 0, len(buf)
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ProtobufError("field number 0")
        if wt == 0:
            _, pos = _varint(buf, pos)
        elif wt == 2:
            n, pos = _varint(buf, pos)
            pos += n
        elif wt == 1:
            pos += 8
        elif wt == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        if pos > end:
            raise ProtobufError("field runs past the end")
        out.append((num, start, pos))
    return out

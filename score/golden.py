"""Golden vectors: a few real raw-bar windows and the Keras ensemble's outputs, carried in the bundle.

Stored as JSON under the metadata key ``contract.GOLDEN_KEY``, each array as
``{"dtype", "shape", "data"}`` with ``data`` the base64 of its little-endian
bytes — readable from any language without pickles or numpy.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

from signalpack.errors import printable

__all__ = ["decode_arrays", "dumps", "encode_arrays"]

_DTYPES = {"float64": "<f8", "float32": "<f4", "int64": "<i8"}


def encode_arrays(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    out = {}
    for name, a in arrays.items():
        dtype = str(a.dtype)
        if dtype not in _DTYPES:
            raise ValueError(f"golden array {name!r}: unsupported dtype {dtype}")
        data = np.ascontiguousarray(a, dtype=_DTYPES[dtype]).tobytes()
        out[name] = {"dtype": dtype, "shape": list(a.shape), "data": base64.b64encode(data).decode("ascii")}
    return out


MAX_DIMS = 8
"""The most dimensions a golden array may have (signalpack's have 1 to 3)."""


def decode_arrays(obj: Any) -> dict[str, np.ndarray]:
    """Inverse of ``encode_arrays``; raises ValueError (one line, quoting at most a short name) on any
    inconsistency: not an object of ``{"dtype", "shape", "data"}`` objects, an unknown dtype, a shape
    that is not a list of non-negative integers, data that is not base64 of exactly that many values,
    or a float array holding NaN or an infinity (JSON itself cannot, so neither may the vectors)."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected an object of named arrays, got a JSON {_json_type(obj)}")
    out = {}
    for name, spec in obj.items():
        label = f"golden array {printable(json.dumps(name), 60)}"
        if not isinstance(spec, dict):
            raise ValueError(f"{label}: expected an object {{dtype, shape, data}}, got a JSON {_json_type(spec)}")
        dtype = _DTYPES.get(spec["dtype"]) if isinstance(spec.get("dtype"), str) else None
        if dtype is None:
            raise ValueError(f"{label}: unsupported dtype {printable(json.dumps(spec.get('dtype')), 60)} "
                             f"(expected one of {', '.join(_DTYPES)})")
        shape = spec.get("shape")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise ValueError(f"{label}: shape must be a list of at most {MAX_DIMS} non-negative integers")
        data = spec.get("data")
        if not isinstance(data, str):
            raise ValueError(f"{label}: data must be a base64 string")
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError as exc:  # binascii.Error
            raise ValueError(f"{label}: data is not valid base64") from exc
        itemsize = np.dtype(dtype).itemsize
        count = math.prod(shape)  # exact: numpy's prod would wrap around on a crafted shape
        if len(raw) != count * itemsize:
            raise ValueError(f"{label}: {len(raw)} bytes of data for shape {shape} ({count} {spec['dtype']} values)")
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(spec["dtype"])
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{label}: holds NaN or infinite values")
        out[str(name)] = arr
    return out


def _json_type(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(v), "number")


def dumps(inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> str:
    return json.dumps({"inputs": encode_arrays(inputs), "outputs": encode_arrays(outputs)},
                      sort_keys=True, separators=(",", ":"))

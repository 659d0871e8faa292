"""Golden vectors: a few real raw-bar windows and the Keras ensemble's outputs, carried in the bundle.

Stored as JSON under the metadata key ``contract.GOLDEN_KEY``, each array as
``{"dtype", "shape", "data"}`` with ``data`` the base64 of its little-endian
bytes — readable from any language without pickles or numpy.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

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


def decode_arrays(obj: dict[str, Any]) -> dict[str, np.ndarray]:
    """Inverse of ``encode_arrays``; raises ValueError on any inconsistency."""
    out = {}
    for name, spec in obj.items():
        dtype = _DTYPES.get(spec.get("dtype"))
        if dtype is None:
            raise ValueError(f"golden array {name!r}: unsupported dtype {spec.get('dtype')!r}")
        raw = base64.b64decode(spec["data"], validate=True)
        shape = tuple(int(d) for d in spec["shape"])
        arr = np.frombuffer(raw, dtype=dtype)
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"golden array {name!r}: {arr.size} values for shape {list(shape)}")
        out[name] = arr.reshape(shape).astype(spec["dtype"])
    return out


def dumps(inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> str:
    return json.dumps({"inputs": encode_arrays(inputs), "outputs": encode_arrays(outputs)},
                      sort_keys=True, separators=(",", ":"))

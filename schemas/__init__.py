"""JSON Schemas for every signalpack contract, a tiny loader and a small validator.

config.schema.json    the resolved training config (config.json in a run directory)
metadata.schema.json  a run directory's metadata.json
manifest.schema.json  the manifest inside every bundle
output.schema.json    one row of `score run` output

``validate`` implements the subset of JSON Schema (2020-12) these files use —
type, enum, const, required, properties, additionalProperties, items,
minItems/maxItems, minimum/maximum (exclusive too), pattern, $ref to $defs —
so the scorer checks manifests without the ``jsonschema`` package (not part of
the scorer install). The test suite checks it agrees with ``jsonschema``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["load_schema", "validate", "SchemaError", "SCHEMA_NAMES"]

SCHEMA_NAMES = ("config", "metadata", "manifest", "output")


class SchemaError(ValueError):
    """A document does not match its schema; the message names the path and the rule."""


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``<name>.schema.json`` shipped inside this package."""
    text = (resources.files("schemas") / f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate(doc: Any, name: str) -> None:
    """Raise SchemaError at the first place ``doc`` breaks schema ``name``."""
    schema = load_schema(name)
    _check(doc, schema, schema, "$")


_TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
}


def _is_type(v: Any, t: str) -> bool:
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, _TYPES[t])


def _check(v: Any, s: dict[str, Any], root: dict[str, Any], path: str) -> None:
    def fail(rule: str) -> None:
        shown = json.dumps(v)[:60] if not isinstance(v, (dict, list)) else type(v).__name__
        raise SchemaError(f"{path}: {rule} (got {shown})")

    if "$ref" in s:
        ref = s["$ref"]
        if not ref.startswith("#/$defs/"):
            raise SchemaError(f"unsupported $ref {ref}")
        _check(v, root["$defs"][ref.split("/")[-1]], root, path)
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        if not any(_is_type(v, t) for t in types):
            fail(f"must be {' or '.join(types)}")
    if "const" in s and v != s["const"]:
        fail(f"must be {json.dumps(s['const'])}")
    if "enum" in s and v not in s["enum"]:
        fail(f"must be one of {s['enum']}")
    if _is_type(v, "number"):
        if "minimum" in s and v < s["minimum"]:
            fail(f"must be >= {s['minimum']}")
        if "maximum" in s and v > s["maximum"]:
            fail(f"must be <= {s['maximum']}")
        if "exclusiveMinimum" in s and v <= s["exclusiveMinimum"]:
            fail(f"must be > {s['exclusiveMinimum']}")
        if "exclusiveMaximum" in s and v >= s["exclusiveMaximum"]:
            fail(f"must be < {s['exclusiveMaximum']}")
    if isinstance(v, str) and "pattern" in s and not re.search(s["pattern"], v):
        fail(f"must match {s['pattern']}")
    if isinstance(v, list):
        if "minItems" in s and len(v) < s["minItems"]:
            fail(f"needs at least {s['minItems']} items")
        if "maxItems" in s and len(v) > s["maxItems"]:
            fail(f"allows at most {s['maxItems']} items")
        if "items" in s:
            for i, item in enumerate(v):
                _check(item, s["items"], root, f"{path}[{i}]")
    if isinstance(v, dict):
        for key in s.get("required", []):
            if key not in v:
                fail(f"missing required key {key!r}")
        props = s.get("properties", {})
        extra = s.get("additionalProperties", True)
        for key, item in v.items():
            if key in props:
                _check(item, props[key], root, f"{path}.{key}")
            elif extra is False:
                fail(f"unknown key {key!r}")
            elif isinstance(extra, dict):
                _check(item, extra, root, f"{path}.{key}")

"""JSON Schemas for every signalpack contract, a loader and a validator.

config.schema.json    the resolved training config (config.json in a run directory)
metadata.schema.json  a run directory's metadata.json
manifest.schema.json  the manifest inside every bundle
output.schema.json    one row of `score run` output

``validate`` runs the schemas with fastjsonschema (pure Python, no
dependencies, part of the scorer install; ``jsonschema`` is a dev dependency
only). Each schema is compiled once, in memory, on first use: no generated
code is written anywhere, and ``$ref`` is never resolved outside the schema
itself (no network, no files).

The files declare JSON Schema 2020-12. They use only keywords whose meaning is
the same in draft-07, which fastjsonschema implements: type, enum, const,
required, properties, additionalProperties, items (one schema),
minItems/maxItems, minLength/maxLength, minimum/maximum,
exclusiveMinimum/exclusiveMaximum (numbers), pattern, and ``$ref`` to
``#/$defs/...`` (a plain JSON pointer, with no sibling keywords). Compiling
refuses a schema using any other keyword, so a new keyword cannot be silently
ignored (the failure this module once had with ``minLength``).

Beyond JSON Schema, ``validate`` refuses NaN and infinities anywhere in a
document (JSON has no such numbers; signalpack writes its JSON with
``allow_nan=False``) and object keys that are not strings. The test suite
checks that ``validate`` agrees with ``jsonschema`` on real documents and on
mutations at every path in them.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

__all__ = ["load_schema", "validate", "SchemaError", "SCHEMA_NAMES"]

SCHEMA_NAMES = ("config", "metadata", "manifest", "output")

_DRAFT07 = "http://json-schema.org/draft-07/schema#"

# Keywords with one meaning in 2020-12 and in fastjsonschema's draft-07, and annotations.
# ("format" is left out on purpose: 2020-12 treats it as an annotation, fastjsonschema asserts it.)
_ASSERTIONS = frozenset({
    "type", "enum", "const", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "pattern", "$ref",
})
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})

_SHOWN_CHARS = 60
_PATH_CHARS = 160


class SchemaError(ValueError):
    """A document does not match its schema; the one-line message names the path and the rule."""


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``<name>.schema.json`` shipped inside this package.

    The dict is shared (cached): treat it as read-only.
    """
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    text = (resources.files("signalpack.schemas") / f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate(doc: Any, name: str) -> None:
    """Raise SchemaError at the first place ``doc`` breaks schema ``name``.

    Never raises anything else for any ``doc`` (wrong types, deep nesting, huge numbers).
    """
    check = _compiled(name)
    try:
        _check_json_values(doc)
        check(doc)
    except SchemaError:
        raise
    except fastjsonschema.JsonSchemaValueException as exc:
        raise SchemaError(_message(exc)) from None
    except fastjsonschema.JsonSchemaException as exc:
        raise SchemaError(f"$: {_clean(str(exc), _PATH_CHARS)}") from None
    except Exception as exc:  # noqa: BLE001 -- RecursionError, TypeError from odd objects...: still one clear line
        raise SchemaError(f"$: the document cannot be checked ({type(exc).__name__})") from None


# ---- compiling


class _NoRemoteRefs(Mapping[str, Callable[[str], Any]]):
    """fastjsonschema's handlers: every URI scheme maps to a refusal, so ``$ref`` never leaves the schema."""

    def __getitem__(self, scheme: str) -> Callable[[str], Any]:
        return self._refuse

    def __contains__(self, scheme: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    @staticmethod
    def _refuse(uri: str) -> Any:
        raise fastjsonschema.JsonSchemaDefinitionException(f"$ref {uri!r} is outside the schema")


@cache
def _compiled(name: str) -> Callable[[Any], Any]:
    schema = load_schema(name)
    _check_keywords(schema, schema, f"{name}.schema.json")
    # fastjsonschema rewrites $ref in place: compile a copy. Without $id (a relative $id makes
    # fastjsonschema join it onto itself) every $ref is a pointer into this document.
    definition = copy.deepcopy(schema)
    definition.pop("$id", None)
    definition["$schema"] = _DRAFT07
    try:
        return fastjsonschema.compile(definition, handlers=_NoRemoteRefs(), use_default=False)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise RuntimeError(f"{name}.schema.json cannot be compiled: {exc}") from exc


def _check_keywords(s: Any, root: dict[str, Any], where: str) -> None:
    """Refuse keywords the validator would not enforce as 2020-12 means them."""
    if not isinstance(s, dict):
        raise TypeError(f"{where}: a schema must be an object")
    for key in s:
        if key not in _ASSERTIONS and key not in _ANNOTATIONS and not key.startswith("x-"):
            raise RuntimeError(f"{where}: keyword {key!r} is not supported by signalpack.schemas")
    if "$ref" in s:
        ref = s["$ref"]
        if not (isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in root.get("$defs", {})):
            raise RuntimeError(f"{where}: $ref {ref!r} must name an entry of this schema's $defs")
        if set(s) & (_ASSERTIONS - {"$ref"}):
            raise RuntimeError(f"{where}: $ref with sibling keywords (draft-07 would ignore them)")
    if "$defs" in s and s is not root:
        raise RuntimeError(f"{where}: $defs only at the top level")
    for group in ("properties", "$defs"):
        for key, sub in s.get(group, {}).items():
            _check_keywords(sub, root, f"{where} {group}.{key}")
    for key in ("items", "additionalProperties"):
        if key in s and not isinstance(s[key], bool):
            _check_keywords(s[key], root, f"{where} {key}")


# ---- the document


def _check_json_values(doc: Any) -> None:
    """Refuse what JSON cannot hold but Python can: NaN/inf, non-string keys (iterative: any depth)."""
    if isinstance(doc, float) and not math.isfinite(doc):
        raise SchemaError(f"$: must be a finite number (got {_show(doc)})")
    stack: list[tuple[Any, Any]] = [(doc, None)]  # (container, where): where = (parent's where, key or index)
    seen: set[int] = set()
    while stack:
        v, where = stack.pop()
        if not isinstance(v, (dict, list, tuple)) or id(v) in seen:  # shared or cyclic: checked once
            continue
        seen.add(id(v))
        for key, item in v.items() if isinstance(v, dict) else enumerate(v):
            if isinstance(item, float):
                if not math.isfinite(item):
                    raise SchemaError(f"{_path((where, key))}: must be a finite number (got {_show(item)})")
            elif isinstance(item, (dict, list, tuple)):
                stack.append((item, (where, key)))
            if isinstance(v, dict) and not isinstance(key, str):
                raise SchemaError(f"{_path(where)}: object keys must be strings (got a {type(key).__name__} key)")


def _path(where: Any) -> str:
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return _clean("$" + "".join(reversed(parts)), _PATH_CHARS)


# ---- messages


def _message(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """``<path>: <rule> (got <value>)`` on one line, whatever the document holds."""
    name = exc.name or "data"
    path = "$" + name[len("data"):] if name.startswith("data") else "$"
    value = exc.value
    definition = exc.definition if isinstance(exc.definition, dict) else {}
    rule = exc.rule or ""
    bound = definition.get(rule)
    if rule == "type":
        types = bound if isinstance(bound, list) else [bound]
        text = f"must be {' or '.join(map(str, types))}"
    elif rule == "const":
        text = f"must be {json.dumps(bound)}"
    elif rule == "enum":
        text = f"must be one of {bound}"
    elif rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[rule]
        text = f"must be {op} {bound}"
    elif rule == "pattern":
        text = f"must match {bound}"
    elif rule == "minLength":
        text = f"must be at least {bound} character{'' if bound == 1 else 's'} long"
    elif rule == "maxLength":
        text = f"must be at most {bound} character{'' if bound == 1 else 's'} long"
    elif rule == "minItems":
        text = f"needs at least {bound} items"
    elif rule == "maxItems":
        text = f"allows at most {bound} items"
    elif rule == "required" and isinstance(value, dict) and isinstance(bound, list):
        missing = [k for k in bound if k not in value]
        text = f"missing required key {missing[0]!r}" if missing else "missing a required key"
    elif rule == "additionalProperties" and isinstance(value, dict):
        known = definition.get("properties", {})
        unknown = [k for k in value if k not in known]
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        text = f"unknown key {_show_key(unknown[0])}{more}" if unknown else "has an unknown key"
    else:
        text = f"breaks {rule or 'the schema'}"
    return f"{_clean(path, _PATH_CHARS)}: {_clean(text, 2 * _PATH_CHARS)} (got {_show(value)})"


def _show(v: Any) -> str:
    """A short, printable, single-line rendering of a value from the document."""
    if isinstance(v, (dict, list, tuple)):
        return type(v).__name__
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        if v.bit_length() > 128:  # str() of a huge int is slow, and refused past 4300 digits
            return f"an integer of about {int(v.bit_length() * math.log10(2)) + 1} digits"
        return str(int(v))
    if isinstance(v, float):  # float(): numpy's repr would say np.float64(...)
        return repr(float(v)) if math.isfinite(v) else json.dumps(float(v))
    if isinstance(v, str):
        return _clean(json.dumps(v[: _SHOWN_CHARS + 1]), _SHOWN_CHARS)
    return type(v).__name__


def _show_key(key: Any) -> str:
    return _clean(repr(key[: _SHOWN_CHARS + 1]) if isinstance(key, str) else type(key).__name__, _SHOWN_CHARS)


def _clean(text: str, limit: int) -> str:
    """``text`` with every non-printable character escaped, cut to ``limit`` characters."""
    out = text if text.isprintable() else "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
    return out if len(out) <= limit else out[: limit - 1] + "…"

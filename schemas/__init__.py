"""JSON Schemas for every signalpack contract, and a tiny loader.

config.schema.json    the resolved training config (config.json in a run directory)
metadata.schema.json  a run directory's metadata.json
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["load_schema", "SCHEMA_NAMES"]

SCHEMA_NAMES = ("config", "metadata")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``<name>.schema.json`` shipped inside this package."""
    text = (resources.files("schemas") / f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)

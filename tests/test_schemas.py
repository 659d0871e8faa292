"""signalpack.schemas (fastjsonschema) agrees with jsonschema on real documents and on broken copies
of them at every path; its errors are one clean line; it refuses what JSON cannot hold."""

from __future__ import annotations

import copy
import json
import math

import jsonschema
import pytest

from signalpack.schemas import SCHEMA_NAMES, SchemaError, load_schema, validate
from tests.conftest import GOOG

_MISSING = object()


# ---- real documents


@pytest.fixture(scope="module")
def shipped_docs():
    """Documents that need no training: the shipped bundle's manifest, a row it scores, the default config."""
    from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle
    from signalpack.score.io import load_ohlcv
    from signalpack.score.runner import score_frame
    from signalpack.train.config import TrainConfig

    bundle = load_bundle(DEFAULT_BUNDLE)
    row = score_frame(load_ohlcv(GOOG).frame.head(200), bundle).row(0, named=True)
    row["timestamp"] = row["timestamp"].isoformat()
    row["symbol"] = "GOOG"
    return {
        "manifest": json.loads(json.dumps(bundle.manifest)),
        "output": row,
        "config": json.loads(json.dumps(TrainConfig().to_dict())),
    }


def _doc(name, request):
    if name == "metadata":  # only a training run writes one
        tiny_run = request.getfixturevalue("tiny_run")
        return json.loads((tiny_run.run_dir / "metadata.json").read_text())
    return copy.deepcopy(request.getfixturevalue("shipped_docs")[name])


def _shortened(doc):
    """``doc`` with lists over 5 items cut to their first two and last (no schema here asks for more
    than 3 items, and the longest const list, the bar columns, has 5): the same structure, and a much
    faster jsonschema."""
    if isinstance(doc, dict):
        return {k: _shortened(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_shortened(v) for v in (doc if len(doc) <= 5 else [doc[0], doc[1], doc[-1]])]
    return doc


# ---- mutations at every path


def _resolve(root, s):
    while isinstance(s, dict) and "$ref" in s:
        s = root["$defs"][s["$ref"].rsplit("/", 1)[1]]
    return s if isinstance(s, dict) else None


def _child_schema(root, s, key):
    """The subschema for ``key`` (a property name or a list index) under schema ``s``; None: unconstrained."""
    if s is None:
        return None
    if isinstance(key, int):
        return _resolve(root, s.get("items"))
    if key in s.get("properties", {}):
        return _resolve(root, s["properties"][key])
    return _resolve(root, s.get("additionalProperties"))


def _sites(doc, root):
    """(path, parent, key) for every place in ``doc``. Of a list, the first and the last item; of places
    under the same subschema with the same key (the ensemble's metrics and each baseline's, every
    member's...), the first only: the same rules apply there, so the mutations would repeat."""
    seen = set()
    stack = [((), doc, _resolve(root, root))]
    while stack:
        path, node, s = stack.pop()
        if isinstance(node, dict):
            keys = list(node)
        elif isinstance(node, list):
            keys = sorted({0, len(node) - 1}) if node else []
        else:
            continue
        for key in keys:
            site = (id(s), key if isinstance(key, str) else "[0]" if key == 0 else "[-1]")
            if site in seen:
                continue
            seen.add(site)
            yield (*path, key), node, key
            stack.append(((*path, key), node[key], _child_schema(root, s, key)))


def _replacements(value):
    """Values to put in a place: wrong types, empty ones, out-of-range numbers, extra keys and items."""
    out = [None, "not-the-right-type" if not isinstance(value, str) else 12345, "", [],
           1 if isinstance(value, bool) else True]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out += [-1, 0, 0.5, 1, 1e12] + ([float(value)] if isinstance(value, int) else [])
    if isinstance(value, str):
        out += [value + "!", value[:-1]]
    if isinstance(value, list):
        out += [value + ["x"]] + ([value + [copy.deepcopy(value[-1])]] if value else [])
    if isinstance(value, dict):
        out += [{}, {**value, "unexpected_key": 1}]
    return out


def _mutations(doc, root):
    """(path, what, parent, key, new): put ``new`` at ``parent[key]`` (``_MISSING``: delete the key)."""
    for path, parent, key in list(_sites(doc, root)):
        if isinstance(parent, dict):
            yield path, "deleted", parent, key, _MISSING
        for new in _replacements(parent[key]):
            yield path, new, parent, key, new


def _inline_refs(s, root):
    """``s`` with every ``$ref`` replaced by its target: the same rules, and jsonschema runs them
    several times faster (it dominates this file's time)."""
    if isinstance(s, dict):
        if "$ref" in s:
            return _inline_refs(_resolve(root, s), root)
        return {k: v if k in ("enum", "const") else _inline_refs(v, root) for k, v in s.items() if k != "$defs"}
    return [_inline_refs(v, root) for v in s] if isinstance(s, list) else s


def _agree(name, doc, check):
    """Our validate and jsonschema on ``doc``: (ours_ok, theirs_ok)."""
    theirs = check.is_valid(doc)
    try:
        validate(doc, name)
        ours = True
    except SchemaError as exc:
        assert "\n" not in str(exc) and str(exc).isprintable(), repr(str(exc))
        ours = False
    return ours, theirs


@pytest.mark.parametrize("name", [n if n != "metadata" else pytest.param(n, marks=pytest.mark.slow) for n in SCHEMA_NAMES])
def test_validator_agrees_with_jsonschema_at_every_path(name, request):
    doc = _doc(name, request)
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert _agree(name, doc, jsonschema.Draft202012Validator(schema)) == (True, True)
    doc = _shortened(doc)
    check = jsonschema.Draft202012Validator(_inline_refs(schema, schema))

    disagreements, outcomes = [], set()
    for path, what, parent, key, new in _mutations(doc, schema):
        original = parent[key]
        if new is _MISSING:
            del parent[key]
        else:
            parent[key] = new
        try:
            ours, theirs = _agree(name, doc, check)
        finally:
            parent[key] = original
        outcomes.add(theirs)
        if ours != theirs:
            disagreements.append(f"{'.'.join(map(str, path))} = {what!r}: ours {ours}, jsonschema {theirs}")
    for root in [None, "x", 1, [], {}, [doc], {**doc, "unexpected_key": 1}]:
        ours, theirs = _agree(name, root, check)
        if ours != theirs:
            disagreements.append(f"root {root!r:.40}: ours {ours}, jsonschema {theirs}")
    assert _agree(name, doc, check) == (True, True)  # every mutation was undone
    assert not disagreements, "\n".join(disagreements[:30])
    assert outcomes == {True, False}  # the mutations hit both accepted and refused values


def test_empty_symbol_is_refused(shipped_docs):
    row = dict(shipped_docs["output"], symbol="")
    assert not jsonschema.Draft202012Validator(load_schema("output")).is_valid(row)
    with pytest.raises(SchemaError, match=r"^\$\.symbol: must be at least 1 character long \(got \"\"\)$"):
        validate(row, "output")
    with pytest.raises(SchemaError, match=r"^\$: missing required key 'timestamp'"):
        validate({"symbol": ""}, "output")


def test_error_names_the_path():
    with pytest.raises(SchemaError, match=r"^\$\.model\.dropout: must be < 1 \(got 1\.0\)$"):
        validate({"seed": 1, "labels": {"method": "forward_return", "horizon": 5, "vol_window": 20, "threshold": 0.5},
                  "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "purge": 0},
                  "model": {"seq_len": 10, "lstm_units": 64, "dropout": 1.0, "dense_units": [32], "learning_rates": [0.001],
                            "batch_size": 1, "max_epochs": 1, "patience": 1, "lr_factor": 0.5, "lr_patience": 1, "min_lr": 0},
                  "simulation": {"confidence_threshold": 0.6, "cost": 0, "slippage": 0, "stop_loss": 0.1, "take_profit": 0.1,
                                 "allow_short": False, "initial_capital": 1, "random_runs": 0}}, "config")


def _nested(depth, leaf):
    doc = leaf
    for _ in range(depth):
        doc = {"x": [doc]}
    return doc


def _cyclic():
    loop: list = []
    loop.append(loop)
    return loop


HOSTILE = {
    "control_chars_in_value": ("signal", "BUY\n\x1b[31m\u2028" * 100, r"\$\.signal: must be one of"),
    "control_chars_in_key": ("extra\n\x00\x1b[2J" * 50, 1, r"\$: unknown key 'extra\\n"),
    "huge_int": ("prob_buy", 10**5000, r"\$\.prob_buy: must be <= 1 \(got an integer of about 5001 digits\)"),
    "huge_int_wrong_type": ("symbol", -(10**5000), r"\$\.symbol: must be string \(got an integer of about"),
    "deep_nesting": ("symbol", _nested(20_000, 1), r"\$\.symbol: must be string \(got dict\)"),
    "deep_nesting_nan": ("symbol", _nested(3, math.nan), r"\$\.symbol\.x\[0\]\.x\[0\]\.x\[0\]: must be a finite number"),
    "cycle": ("symbol", _cyclic(), r"\$\.symbol: must be string \(got list\)"),
    "nan": ("prob_sell", math.nan, r"\$\.prob_sell: must be a finite number \(got NaN\)"),
    "inf": ("confidence", -math.inf, r"\$\.confidence: must be a finite number \(got -Infinity\)"),
    "bool_for_number": ("prob_hold", True, r"\$\.prob_hold: must be number \(got true\)"),
    "int_key": (7, 1, r"\$: object keys must be strings"),
    "long_string": ("model_id", "f" * 10**6, r"\$\.model_id: must match"),
    "trailing_newline": ("model_id", "0123456789ab\n", r"\$\.model_id: must match"),  # jsonschema's re.search lets it by
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_values_give_one_clean_line(shipped_docs, case):
    key, value, message = HOSTILE[case]
    row = {**shipped_docs["output"], key: value}
    with pytest.raises(SchemaError, match=message) as info:
        validate(row, "output")
    text = str(info.value)
    assert text.isprintable() and len(text) < 400, repr(text[:500])


@pytest.mark.parametrize("doc", [None, True, 0, 1.5, "x", [], (), _nested(20_000, 1), _cyclic(), object(), b"\n"])
@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_any_document_gives_schema_error_only(doc, name):
    with pytest.raises(SchemaError) as info:
        validate(doc, name)
    assert str(info.value).isprintable()


def test_integral_floats_count_as_integers_as_in_json_schema(shipped_docs):
    """JSON Schema (draft-06 on) says 10.0 is an integer; the scorer reads such fields with int()."""
    manifest = {**shipped_docs["manifest"], "seq_len": float(shipped_docs["manifest"]["seq_len"])}
    validate(manifest, "manifest")
    with pytest.raises(SchemaError, match=r"^\$\.seq_len: must be integer \(got 10\.5\)$"):
        validate({**manifest, "seq_len": 10.5}, "manifest")


def test_unknown_schema_name():
    with pytest.raises(ValueError, match="unknown schema"):
        load_schema("../pyproject")


def test_every_keyword_is_one_the_validator_enforces():
    """A keyword fastjsonschema would skip (or read as draft-07 does, not as 2020-12) is refused."""
    from signalpack.schemas import _check_keywords

    for name in SCHEMA_NAMES:
        schema = load_schema(name)
        _check_keywords(schema, schema, name)
    root = {"$defs": {"a": {"type": "number"}}}
    for bad, why in [
        ({"type": "array", "prefixItems": [{"type": "string"}]}, "keyword 'prefixItems'"),
        ({"type": "string", "format": "date-time"}, "keyword 'format'"),
        ({"properties": {"a": {"unevaluatedProperties": False}}}, "keyword 'unevaluatedProperties'"),
        ({"items": {"$ref": "#/$defs/a", "minimum": 0}}, "sibling keywords"),
        ({"$ref": "https://example.com/s.json"}, "must name an entry"),
        ({"$ref": "#/$defs/missing"}, "must name an entry"),
    ]:
        with pytest.raises(RuntimeError, match=why):
            _check_keywords(bad, {**root, **bad}, "t")

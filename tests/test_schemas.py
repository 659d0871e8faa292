"""The scorer's small schema validator agrees with jsonschema on real and broken documents."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from schemas import SCHEMA_NAMES, SchemaError, load_schema, validate
from score.golden import MANIFEST_KEY


def _docs(tiny_run, tiny_export):
    import onnx

    from score.bundle import load_bundle
    from score.io import load_ohlcv
    from score.runner import score_frame
    from tests.conftest import GOOG

    row = score_frame(load_ohlcv(GOOG).frame.head(200), load_bundle(tiny_export.bundle)).row(0, named=True)
    row["timestamp"] = row["timestamp"].isoformat()
    row["symbol"] = "GOOG"
    m = onnx.load(str(tiny_export.bundle))
    return {
        "output": row,
        "config": json.loads((tiny_run.run_dir / "config.json").read_text()),
        "metadata": json.loads((tiny_run.run_dir / "metadata.json").read_text()),
        "manifest": json.loads({p.key: p.value for p in m.metadata_props}[MANIFEST_KEY]),
    }


def _mutations(doc):
    """Broken copies: a dropped key, a wrong type, an out-of-range number, an unknown key."""
    out = []
    for key in list(doc)[:6]:
        d = copy.deepcopy(doc)
        d.pop(key)
        out.append(d)
        d = copy.deepcopy(doc)
        d[key] = "not-the-right-type" if not isinstance(d[key], str) else 12345
        out.append(d)
    d = copy.deepcopy(doc)
    d["unexpected_key"] = 1
    out.append(d)
    return out


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_validator_agrees_with_jsonschema(name, tiny_run, tiny_export):
    doc = _docs(tiny_run, tiny_export)[name]
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema)
    validate(doc, name)
    for bad in _mutations(doc):
        expected_ok = jsonschema.Draft202012Validator(schema).is_valid(bad)
        try:
            validate(bad, name)
            ours_ok = True
        except SchemaError:
            ours_ok = False
        assert ours_ok == expected_ok, list(set(doc) ^ set(bad)) or bad


def test_error_names_the_path():
    with pytest.raises(SchemaError, match=r"\$.model.dropout: must be < 1"):
        validate({"seed": 1, "labels": {"method": "forward_return", "horizon": 5, "vol_window": 20, "threshold": 0.5},
                  "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "purge": 0},
                  "model": {"seq_len": 10, "lstm_units": 64, "dropout": 1.0, "dense_units": [32], "learning_rates": [0.001],
                            "batch_size": 1, "max_epochs": 1, "patience": 1, "lr_factor": 0.5, "lr_patience": 1, "min_lr": 0},
                  "simulation": {"confidence_threshold": 0.6, "cost": 0, "slippage": 0, "stop_loss": 0.1, "take_profit": 0.1,
                                 "allow_short": False, "initial_capital": 1, "random_runs": 0}}, "config")

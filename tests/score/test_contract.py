"""The contract module is the one source of shared names: the schemas and the graph agree with it."""

from __future__ import annotations

import json

from signalpack.schemas import load_schema
from signalpack.score import contract


def test_schemas_use_the_contract_names():
    manifest, metadata, output = load_schema("manifest"), load_schema("metadata"), load_schema("output")
    assert manifest["properties"]["classes"]["const"] == list(contract.CLASS_NAMES)
    assert metadata["properties"]["classes"]["const"] == list(contract.CLASS_NAMES)
    assert metadata["properties"]["format_version"]["const"] == contract.METADATA_FORMAT_VERSION
    assert output["x-column-order"] == list(contract.OUTPUT_COLUMNS)
    assert sorted(output["properties"]) == sorted(contract.OUTPUT_COLUMNS)
    golden = manifest["properties"]["golden"]["properties"]
    assert golden["metadata_key"]["const"] == contract.GOLDEN_KEY
    assert golden["atol"]["maximum"] == contract.MAX_ATOL
    assert contract.ATOL_FOR_VALIDATION <= contract.MAX_ATOL
    ir = manifest["properties"]["ir_version"]
    assert ir["minimum"] <= contract.IR_VERSION <= ir["maximum"]


def test_classes_and_indices_agree():
    assert contract.CLASS_NAMES[contract.SELL] == "SELL"
    assert contract.CLASS_NAMES[contract.HOLD] == "HOLD"
    assert contract.CLASS_NAMES[contract.BUY] == "BUY"
    assert contract.PROB_COLUMNS == ("prob_sell", "prob_hold", "prob_buy")
    assert contract.MIN_OPSET <= contract.DEFAULT_OPSET <= contract.MAX_OPSET


def test_shipped_bundle_speaks_the_contract():
    """The default bundle's graph and manifest use exactly the contract's names and versions."""
    from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle

    b = load_bundle(DEFAULT_BUNDLE)
    assert [i.name for i in b.session.get_inputs()] == [contract.INPUT_NAME]
    assert [o.name for o in b.session.get_outputs()] == list(contract.OUTPUT_NAMES)
    assert b.info.ir_version == contract.IR_VERSION == b.manifest["ir_version"]
    assert b.manifest["format_version"] in contract.SUPPORTED_MANIFEST_VERSIONS
    assert json.loads(b.info.metadata[contract.MANIFEST_KEY]) == b.manifest

"""Shared fixtures: real data paths and one tiny trained run for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# onnxruntime 1.32 writes telemetry under ~/.cache as soon as it is imported; any test module that
# imports it directly (not through signalpack.score.bundle.import_onnxruntime) must find this set first.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SP500 = ROOT / "train" / "data" / "sp500_daily.csv.gz"
GOOG = DATA / "goog_daily.csv"
EURUSD = DATA / "eurusd_hourly.csv"

TINY_EPOCHS = 2

SLOW_FIXTURES = ("tiny_walk_forward",)
"""Fixtures that train more than one tiny model (a walk-forward run trains K+1 ensembles)."""


def pytest_collection_modifyitems(items):
    """Tests that use a slow fixture are slow too, so `-m "not slow"` stays a fast loop."""
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_config():
    """The default config with 2 epochs and few random-baseline runs: fast, same code paths."""
    from signalpack.train.config import TrainConfig

    return TrainConfig().with_overrides(model__max_epochs=TINY_EPOCHS, simulation__random_runs=20)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_config):
    """One real training run on the embedded S&P 500 data (2 epochs per member)."""
    from signalpack.train.pipeline import train_run

    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train_run(SP500, tiny_config, out)


WALK_FORWARD_CALLS: dict[str, int] = {}
"""How often ``tiny_walk_forward``'s training computed features and labels (read by a test)."""


@pytest.fixture(scope="session")
def tiny_walk_forward(tmp_path_factory, tiny_config):
    """A real run with 3 walk-forward folds on the embedded S&P 500 data (1 epoch per member).

    It also counts the feature and label computations the run made, into ``WALK_FORWARD_CALLS``.
    """
    from unittest import mock

    import signalpack.train.dataset as dataset
    from signalpack.train.pipeline import train_run

    out = tmp_path_factory.mktemp("runs") / "walk_forward"
    cfg = tiny_config.with_overrides(split__walk_forward=3, model__max_epochs=1)  # structure, not skill
    with (mock.patch.object(dataset, "compute_features", wraps=dataset.compute_features) as feats,
          mock.patch.object(dataset, "add_labels", wraps=dataset.add_labels) as labels):
        run = train_run(SP500, cfg, out)
    WALK_FORWARD_CALLS.update(features=feats.call_count, labels=labels.call_count)
    return run


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory):
    """The tiny run exported once (parity gate included)."""
    from signalpack.export.exporter import export_run

    out = tmp_path_factory.mktemp("bundles") / "tiny.onnx"
    return export_run(tiny_run.run_dir, out)


def rewrite_manifest(src: Path, dst: Path, change) -> Path:
    """Copy a bundle to ``dst`` with its manifest edited in place by ``change(manifest_dict)``."""
    import json

    import onnx

    m = onnx.load(str(src))
    props = {p.key: p.value for p in m.metadata_props}
    manifest = json.loads(props["signalpack.manifest"])
    change(manifest)
    props["signalpack.manifest"] = json.dumps(manifest)
    del m.metadata_props[:]
    onnx.helper.set_model_props(m, props)
    dst.write_bytes(m.SerializeToString())
    return dst


"""The manifest's ``drift_reference``: the training distribution of the scorer's drift features.

Computed with the scorer's own code (``score/drift.py``: the same drift features, on the same rows a
``score run`` would score, i.e. every row with a full window of W bars), so training and scoring bin
identical quantities.

Which rows. Training writes the reference into the run directory (``drift_reference.json``, from
its training segment: ``score.drift.frame_values``), and export uses it. For a run directory
without it, export looks for the file that training read (the run records it by name and sha256
only, not by path):

1. ``training_data``, if given (``export_run(..., training_data=PATH)``): it must have the recorded
   sha256, else ``RunDirError``;
2. else the embedded S&P 500 file, if the run recorded that name and its sha256 (the default run);

and takes its rows that have a full window and lie before the run's ``validation_start``: the
training segment (``segment: "train"``). When neither file is at hand it falls back to the run
directory's own test windows (``test_bars.npy``: the last bar of each window, ``segment: "test"``),
and says so in the manifest. With fewer than ``MIN_REFERENCE_ROWS`` rows either way no reference is
stored (the bundle then scores with drift "not available").
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from signalpack.errors import RunDirError
from signalpack.score.drift import (
    DRIFT_BINS,
    check_reference,
    drift_features_for,
    drift_values,
    frame_values,
    reference_from_values,
)
from signalpack.score.io import load_ohlcv
from signalpack.train.rundir import DRIFT_REFERENCE, TEST_BARS, file_sha256, read_npy

__all__ = ["MIN_REFERENCE_ROWS", "drift_reference", "find_training_data"]

MIN_REFERENCE_ROWS = 10 * DRIFT_BINS
"""Fewer reference rows than this give deciles too coarse to compare with: no reference is stored."""


def find_training_data(meta: dict[str, Any], training_data: Path | None) -> Path | None:
    """The data file the run was trained on, if it can be found (see the module docstring), else None."""
    name, sha256 = meta["data"]["file"], meta["data"]["sha256"]
    if training_data is not None:
        path = Path(training_data)
        if not path.is_file():
            raise RunDirError(f"{path}: no such training data file")
        got = file_sha256(path)
        if got != sha256:
            raise RunDirError(f"{path}: sha256 {got[:12]}… is not the run's training data {name} ({sha256[:12]}…)")
        return path
    from signalpack.train.pipeline import default_data_path

    embedded = default_data_path()
    if name == embedded.name and embedded.is_file() and file_sha256(embedded) == sha256:
        return embedded
    return None


def _training_rows(path: Path, meta: dict[str, Any], width: int, names: list[str]) -> dict[str, np.ndarray]:
    cut = datetime.fromisoformat(meta["split"]["validation_start"])
    return frame_values(load_ohlcv(path).frame, width, cut, names)


def _test_rows(run_dir: Path, width: int, names: list[str]) -> dict[str, np.ndarray]:
    windows = read_npy(run_dir / TEST_BARS)
    if windows.ndim != 3 or windows.shape[1] != width:
        raise RunDirError(f"{run_dir / TEST_BARS}: shape {windows.shape}; expected (n, {width}, 5)")
    bars = np.ascontiguousarray(windows.reshape(-1, windows.shape[2]), dtype=np.float64)
    ends = np.arange(len(windows), dtype=np.int64) * width + (width - 1)  # each window is its own series
    return drift_values(bars, ends, names)


def drift_reference(run_dir: Path, meta: dict[str, Any], width: int,
                    training_data: Path | None = None) -> dict[str, Any] | None:
    """The ``drift_reference`` manifest entry for a run whose bundle reads windows of ``width`` rows."""
    names = drift_features_for(width)
    if not names:
        return None
    stored = run_dir / DRIFT_REFERENCE
    if training_data is None and stored.is_file():  # written by training, from its own training rows
        import json

        try:
            ref = json.loads(stored.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunDirError(f"{stored}: not valid JSON ({exc})") from exc
        try:
            problem = check_reference(ref, width)
        except (KeyError, TypeError, AttributeError):
            problem = ("drift_reference", "not a drift reference written by signalpack train")
        if problem is not None:
            raise RunDirError(f"{stored}: {problem[0]}: {problem[1]}")
        return ref
    path = find_training_data(meta, training_data)
    if path is not None:
        values, segment = _training_rows(path, meta, width, names), "train"
    else:
        values, segment = _test_rows(run_dir, width, names), "test"
    if len(values[names[0]]) < MIN_REFERENCE_ROWS:
        return None
    return reference_from_values(values, segment)

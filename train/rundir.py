"""The run directory: what training leaves for export and for people to read.

    member_0.keras … member_{k-1}.keras   the ensemble members (Keras 3 format)
    scaler.json        StandardScaler mean/scale/feature names (no pickle anywhere)
    feature_spec.json  the FeatureSpec the members were trained on
    config.json        the resolved training config
    metadata.json      data fingerprint, segments, class and ensemble weights,
                       metrics beside baselines, simulation, library versions
    test_windows.npy   the raw (unscaled) float32 test windows, in predictions.csv order:
                       what the members saw, the Keras side of export's parity gate (plain .npy, no pickle)
    test_bars.npy      the same windows as raw bars, float64 [n, look-back + seq_len, 5] (open, high,
                       low, close, volume, oldest first): what the bundle reads, its parity and golden inputs
    predictions.csv    per test window: symbol, timestamp, label, probabilities, signal, confidence, close
    trades.csv, equity.csv   the trading simulation on the test segment
    random_returns.csv the random-signal baseline's Monte Carlo runs (total return per run)
    history.csv        per member per epoch: loss, accuracy, val_loss, val_accuracy, learning_rate
    train.log          the run's log
    walk_forward/fold_<i>/   with --walk-forward K: each fold's predictions, trades, equity,
                       random_returns and history (its figures are in metadata.json)
    report/            report.html (images embedded) and its PNGs (`signalpack report`)
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from signalpack import __version__
from signalpack.errors import RunDirError
from signalpack.score.contract import CLASS_NAMES, METADATA_FORMAT_VERSION
from signalpack.score.io import OhlcvData
from signalpack.train.config import TrainConfig
from signalpack.train.dataset import Dataset
from signalpack.train.ensemble import WEIGHT_METRIC, MemberResult

if TYPE_CHECKING:
    from signalpack.train.assessment import Assessment

__all__ = [
    "DRIFT_REFERENCE",
    "REQUIRED_FILES",
    "TEST_BARS",
    "TEST_WINDOWS",
    "build_metadata",
    "check_run_dir",
    "file_sha256",
    "history_frame",
    "iso",
    "library_versions",
    "member_file",
    "read_npy",
    "segment_summary",
    "write_csv",
    "write_json",
    "write_npy",
]


TEST_WINDOWS = "test_windows.npy"
TEST_BARS = "test_bars.npy"
DRIFT_REFERENCE = "drift_reference.json"
"""The training segment's drift-feature distribution (``score.drift``); export copies it into the manifest."""
REQUIRED_FILES = ("scaler.json", "feature_spec.json", "config.json", "metadata.json", TEST_WINDOWS, TEST_BARS)


def member_file(i: int) -> str:
    return f"member_{i}.keras"


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")


def write_npy(path: Path, array: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def read_npy(path: Path) -> np.ndarray:
    """Load a plain .npy array; object (pickled) arrays are refused."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise RunDirError(f"{path}: not a plain numeric .npy file ({exc})") from exc


def write_csv(path: Path, frame: pl.DataFrame) -> None:
    frame.write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%S", float_precision=8)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "signalpack": __version__}
    for dist in ("numpy", "polars", "tensorflow-cpu", "tensorflow", "keras", "scikit-learn",
                 "onnx", "onnxruntime", "tf2onnx", "skl2onnx"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def history_frame(members: list[MemberResult]) -> pl.DataFrame:
    rows = []
    for i, m in enumerate(members):
        for r in m.history:
            row = {"member": i, "learning_rate_initial": m.learning_rate}
            row.update({k: v for k, v in r.items() if k != "learning_rate"})
            row["learning_rate"] = r.get("learning_rate")
            rows.append(row)
    return pl.DataFrame(rows)


def iso(ts: Any) -> str | None:
    return None if ts is None else ts.isoformat(timespec="seconds") if isinstance(ts, datetime) else str(ts)


def segment_summary(ds: Dataset) -> dict[str, Any]:
    """Per segment: first/last timestamp, rows, labelled rows, sample windows, class counts, and
    ``last_label_end``: the latest bar any sample's label reads (the purge keeps it before the next cut)."""
    frame = ds.frame
    label_end = frame.get_column("label_end")
    lab_all = frame.get_column("label").to_numpy()
    segments: dict[str, Any] = {}
    for k, name in enumerate(("train", "validation", "test")):
        seg = frame.filter(pl.col("segment") == k)
        samples = ds.ends[name]
        lab = lab_all[samples]
        segments[name] = {
            "start": iso(seg.get_column("timestamp").min()),
            "end": iso(seg.get_column("timestamp").max()),
            "rows": seg.height,
            "labelled_rows": int(seg.get_column("is_sample").sum()),
            "windows": len(samples),
            "class_counts": {c: int((lab == i).sum()) for i, c in enumerate(CLASS_NAMES)},
            "last_label_end": iso(label_end.gather(samples).max()) if len(samples) else None,
        }
    return segments


def build_metadata(
    *, created: datetime, data: OhlcvData, ds: Dataset, cfg: TrainConfig, class_weights: dict[int, float],
    members: list[MemberResult], weights: list[float], val_f1: list[float], metrics: dict[str, Any],
    simulation: dict[str, Any], judged: Assessment,
) -> dict[str, Any]:
    segments = segment_summary(ds)
    src = data.frame
    return {
        "format_version": METADATA_FORMAT_VERSION,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "verdict": judged.verdict.to_dict(),
        "classes": list(CLASS_NAMES),
        "seq_len": cfg.model.seq_len,
        "n_features": ds.spec.n_features,
        "feature_spec_version": ds.spec.version,
        "feature_lookback": ds.spec.lookback,
        "confidence_threshold": judged.threshold,
        "threshold": judged.threshold_record,
        "learning": judged.learning.to_dict() if judged.learning is not None else None,
        "data": {
            "file": data.path.name,
            "sha256": file_sha256(data.path),
            "rows_read": data.rows_read,
            "rows_used": src.height,
            "has_symbol": data.has_symbol,
            "symbols": data.symbols,
            "skipped_short_symbols": data.skipped_short,
            "start": iso(src.get_column("timestamp").min()),
            "end": iso(src.get_column("timestamp").max()),
        },
        "split": {
            "validation_start": iso(ds.cuts.validation),
            "test_start": iso(ds.cuts.test),
            "purge_bars": cfg.purge,
            "segments": segments,
        },
        "class_weights": {c: class_weights[i] for i, c in enumerate(CLASS_NAMES)},
        "ensemble": {
            "weight_metric": WEIGHT_METRIC,
            "weights": weights,
            "members": [
                {
                    "file": member_file(i),
                    "learning_rate": m.learning_rate,
                    "seed": m.seed,
                    "epochs_trained": len(m.history),
                    "best_epoch": m.best_epoch,
                    "validation_macro_f1": val_f1[i],
                }
                for i, m in enumerate(members)
            ],
        },
        "metrics": {"segment": "test", **metrics},
        "simulation": simulation,
        "versions": library_versions(),
    }


def check_run_dir(path: Path) -> dict[str, Any]:
    """Confirm a run directory holds every file export needs; return its metadata."""
    if not path.is_dir():
        raise RunDirError(f"{path}: not a run directory (no such folder)")
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            if name == TEST_BARS and (path / TEST_WINDOWS).is_file():
                raise RunDirError(f"{path}: missing {TEST_BARS}: the run predates bundle format 2 (raw bars in); "
                                  "train it again with signalpack train")
            raise RunDirError(f"{path}: missing {name}; is this a complete run directory?")
    try:
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path / 'metadata.json'}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != METADATA_FORMAT_VERSION:
        got = meta.get("format_version") if isinstance(meta, dict) else None
        raise RunDirError(f"{path}: metadata format {got!r}, not {METADATA_FORMAT_VERSION}: the run predates the "
                          "verdict and the threshold chosen on validation; train it again with signalpack train")
    for m in meta.get("ensemble", {}).get("members", []):
        if not (path / m["file"]).is_file():
            raise RunDirError(f"{path}: missing member file {m['file']}")
    return meta

"""Export a run directory as ONE self-describing ONNX bundle, behind the parity gate.

check the run directory (once) → convert (scaler, members) → compose → golden
vectors → parity on every test window → manifest (with the parity summary and
the tolerance used) → validate against its schema → serialize → the scorer's own
loader and golden-vector check on those exact bytes → write them atomically, with
``<bundle>.parity.json`` beside it. A failing gate writes nothing. The same run
directory always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from signalpack import __version__
from signalpack.atomic import atomic_write_bytes, check_destination
from signalpack.errors import ConfigError, ExportError, RunDirError, SignalpackError
from signalpack.export.compose import compose
from signalpack.export.convert import convert_member, convert_scaler
from signalpack.export.parity import (
    ParityReport,
    compare,
    keras_reference,
    load_members,
    onnx_outputs,
)
from signalpack.schemas import SchemaError, validate
from signalpack.score.contract import (
    ATOL_FOR_VALIDATION,
    CLASS_NAMES,
    CONFIDENCE,
    DEFAULT_OPSET,
    GOLDEN_KEY,
    INPUT_NAME,
    IR_VERSION,
    MANIFEST_FORMAT_VERSION,
    MANIFEST_KEY,
    MAX_ATOL,
    MAX_OPSET,
    MEMBER_PROBABILITIES,
    MIN_OPSET,
    N_CLASSES,
    PROBABILITIES,
    SIGNAL,
)
from signalpack.score.golden import dumps
from signalpack.train.rundir import TEST_WINDOWS, check_run_dir, read_npy
from signalpack.train.scaler import Scaler

__all__ = ["N_GOLDEN", "ExportResult", "export_run", "select_golden", "build_bundle"]

N_GOLDEN = 32


@dataclass(frozen=True)
class ExportResult:
    bundle: Path
    report_path: Path
    report: ParityReport
    sha256: str
    size: int
    seconds: float


def select_golden(signal: np.ndarray, n: int = N_GOLDEN) -> np.ndarray:
    """Deterministic, sorted window indices covering every predicted class where possible."""
    chosen: list[int] = []
    per_class = -(-n // 3)
    for c in range(3):
        idx = np.flatnonzero(signal == c)
        if len(idx):
            take = np.unique(np.linspace(0, len(idx) - 1, min(per_class, len(idx))).round().astype(int))
            chosen += idx[take].tolist()
    rest = np.setdiff1d(np.arange(len(signal)), chosen)
    need = min(n - len(chosen), len(rest))
    if need > 0:
        chosen += rest[np.unique(np.linspace(0, len(rest) - 1, need).round().astype(int))].tolist()
    return np.array(sorted(chosen)[:n], dtype=np.int64)


def _test_index(run_dir: Path, n: int) -> list[dict[str, Any]] | None:
    path = run_dir / "predictions.csv"
    if not path.is_file():
        return None
    pred = pl.read_csv(path, columns=["symbol", "timestamp"], schema_overrides={"symbol": pl.String})
    if pred.height != n:
        raise RunDirError(f"{path}: {pred.height} rows but {TEST_WINDOWS} holds {n} windows")
    return [{"symbol": s or "", "timestamp": t} for s, t in pred.iter_rows()]


def _manifest(meta: dict[str, Any], spec: dict[str, Any], scaler: Scaler, opset: int,
              n_members: int, atol: float) -> dict[str, Any]:
    m = meta["metrics"]
    headline = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
    sim = meta["simulation"]
    perf = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades", "exposure")
    seq_len, n_feat = meta["seq_len"], meta["n_features"]
    return {
        "format_version": MANIFEST_FORMAT_VERSION,
        "model": "signalpack LSTM ensemble",
        "classes": list(CLASS_NAMES),
        "seq_len": seq_len,
        "n_features": n_feat,
        "feature_spec": spec,
        "confidence_threshold": meta["confidence_threshold"],
        "ensemble": {
            "members": n_members,
            "weights": meta["ensemble"]["weights"],
            "weight_metric": meta["ensemble"]["weight_metric"],
            "learning_rates": [x["learning_rate"] for x in meta["ensemble"]["members"]],
        },
        "scaler": {"mean": list(scaler.mean), "scale": list(scaler.scale)},
        "inputs": {INPUT_NAME: {"dtype": "float32", "shape": ["batch", seq_len, n_feat]}},
        "outputs": {
            PROBABILITIES: {"dtype": "float32", "shape": ["batch", N_CLASSES]},
            SIGNAL: {"dtype": "int64", "shape": ["batch"]},
            CONFIDENCE: {"dtype": "float32", "shape": ["batch"]},
            MEMBER_PROBABILITIES: {"dtype": "float32", "shape": ["batch", n_members, N_CLASSES]},
        },
        "training_data": {
            "file": meta["data"]["file"],
            "sha256": meta["data"]["sha256"],
            "rows": meta["data"]["rows_read"],
            "symbols": meta["data"]["symbols"],
            "start": meta["data"]["start"],
            "end": meta["data"]["end"],
            "segments": {k: {"start": v["start"], "end": v["end"], "windows": v["windows"]}
                         for k, v in meta["split"]["segments"].items()},
        },
        "metrics": {
            "segment": "test",
            "windows": m["ensemble"]["n"],
            "ensemble": {k: m["ensemble"][k] for k in headline},
            "baselines": {b: {k: m["baselines"][b][k] for k in headline} for b in m["baselines"]},
            "simulation": {
                "strategy": {k: sim["strategy"][k] for k in perf},
                "buy_and_hold": {k: sim["buy_and_hold"][k] for k in perf},
            },
        },
        "golden": {"metadata_key": GOLDEN_KEY, "count": 0, "atol": atol},
        "parity": None,
        "versions": meta["versions"],
        "opset": opset,
        "ir_version": IR_VERSION,
        "created_at": meta["created_at"],
    }


def _check_options(opset: int, atol: float) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(f"--opset {opset} is out of range; use {MIN_OPSET}..{MAX_OPSET} "
                          f"({MAX_OPSET} is the newest onnxruntime 1.16 runs)")
    if not (0 < atol <= MAX_ATOL):
        raise ConfigError(f"--atol {atol!r} is out of range; use a tolerance in (0, {MAX_ATOL:g}] "
                          f"(default {ATOL_FOR_VALIDATION:g})")


def build_bundle(
    run_dir: Path, meta: dict[str, Any], opset: int = DEFAULT_OPSET, atol: float = ATOL_FOR_VALIDATION,
) -> tuple[Any, dict[str, Any], dict[str, np.ndarray]]:
    """Convert and compose; returns (model proto without metadata, manifest draft, Keras test outputs).

    meta : the run directory's metadata, as ``check_run_dir`` returned it (checked once, by the caller).
    """
    spec = json.loads((run_dir / "feature_spec.json").read_text(encoding="utf-8"))
    scaler = Scaler.load(run_dir / "scaler.json")
    models = load_members(run_dir, meta)
    seq_len, n_feat = meta["seq_len"], meta["n_features"]
    if len(scaler.mean) != n_feat or len(spec["features"]) != n_feat:
        raise RunDirError(f"{run_dir}: scaler ({len(scaler.mean)}), feature spec ({len(spec['features'])}) "
                          f"and metadata ({n_feat}) disagree on the number of features")
    protos = [convert_member(m, seq_len, n_feat, opset, f"{run_dir.name}/{x['file']}")
              for m, x in zip(models, meta["ensemble"]["members"], strict=True)]
    model = compose(convert_scaler(scaler, opset), protos, meta["ensemble"]["weights"], seq_len, n_feat, opset)
    windows = read_npy(run_dir / TEST_WINDOWS)
    if windows.ndim != 3 or windows.shape[1:] != (seq_len, n_feat) or windows.dtype != np.float32:
        raise RunDirError(f"{run_dir / TEST_WINDOWS}: shape {windows.shape} {windows.dtype}; "
                          f"expected (n, {seq_len}, {n_feat}) float32")
    ref = keras_reference(models, scaler, meta["ensemble"]["weights"], windows)
    ref["windows"] = windows
    return model, _manifest(meta, spec, scaler, opset, len(models), atol), ref


def _serialize(model: Any, manifest: dict[str, Any], golden: str) -> bytes:
    from onnx import helper

    del model.metadata_props[:]
    helper.set_model_props(model, {
        MANIFEST_KEY: json.dumps(manifest, sort_keys=True, separators=(",", ":"), allow_nan=False),
        GOLDEN_KEY: golden,
    })
    return model.SerializeToString(deterministic=True)


def export_run(
    run_dir: Path, out: Path | None = None, opset: int = DEFAULT_OPSET,
    atol: float = ATOL_FOR_VALIDATION, overwrite: bool = False,
) -> ExportResult:
    """Export ``run_dir`` to ``out`` (default ``<run_dir>/bundle.onnx``) if the parity gate passes."""
    import onnx

    started = time.monotonic()
    run_dir = Path(run_dir)
    _check_options(opset, atol)
    meta = check_run_dir(run_dir)
    out = Path(out) if out is not None else run_dir / "bundle.onnx"
    report_path = out.with_name(out.name.removesuffix(".onnx") + ".parity.json")
    for p in (out, report_path):
        check_destination(p, overwrite)

    model, manifest, ref = build_bundle(run_dir, meta, opset, atol)
    model.producer_name = "signalpack"
    model.producer_version = __version__
    model.model_version = int("".join(ch for ch in manifest["created_at"] if ch.isdigit())[:14])
    model.doc_string = (
        "signalpack SELL/HOLD/BUY LSTM ensemble. Input 'features' float32 [batch, seq_len, n_features]: "
        "raw features in the manifest's FeatureSpec order. Outputs: probabilities, signal, confidence, "
        f"member_probabilities. Manifest JSON under metadata key '{MANIFEST_KEY}'. Not financial advice."
    )
    windows = ref.pop("windows")
    g = select_golden(ref["signal"])
    golden = dumps({INPUT_NAME: windows[g]}, {k: v[g] for k, v in ref.items()})
    manifest["golden"]["count"] = len(g)

    draft = _serialize(model, manifest, golden)
    onnx.checker.check_model(onnx.load_from_string(draft), full_check=True)
    got = onnx_outputs(draft, windows)
    report = compare(ref, got, atol, _test_index(run_dir, len(windows)))
    report.raise_if_failed()
    manifest["parity"] = report.summary()
    try:
        validate(manifest, "manifest")
    except SchemaError as exc:
        raise ExportError(f"the manifest does not match schemas/manifest.schema.json: {exc}") from exc
    data = _serialize(model, manifest, golden)
    if len(data) >= 2**31:
        raise ExportError("the bundle would exceed 2 GB, the protobuf limit")
    _check_final(data, draft, out.name)
    atomic_write_bytes(out, data, overwrite=overwrite)
    sha256 = hashlib.sha256(data).hexdigest()
    report_doc = {"bundle": out.name, "sha256": sha256, **report.to_dict()}
    atomic_write_bytes(report_path, (json.dumps(report_doc, indent=2, sort_keys=True) + "\n").encode(),
                       overwrite=True)
    return ExportResult(out, report_path, report, sha256, len(data),
                        round(time.monotonic() - started, 2))


def _check_final(data: bytes, draft: bytes, name: str) -> None:
    """The bytes about to be written: the same graph the parity gate ran, and they pass the scorer's
    own load and golden-vector check (what ``score verify`` will do with the file)."""
    import onnx

    from signalpack.score.bundle import open_bundle, verify_bundle

    final_graph = onnx.load_from_string(data).graph.SerializeToString(deterministic=True)
    if final_graph != onnx.load_from_string(draft).graph.SerializeToString(deterministic=True):
        raise ExportError(f"{name}: the graph changed after the parity gate ran; nothing written")
    try:
        bundle = open_bundle(data, Path(name))
        verify_bundle(bundle).raise_if_failed(name)
    except SignalpackError as exc:
        raise ExportError(f"{name}: the bundle fails the scorer's own check, nothing written ({exc})") from exc

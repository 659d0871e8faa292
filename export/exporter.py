"""Export a run directory as ONE self-describing ONNX bundle, behind two parity gates.

check the run directory (once) → compile the features and convert the scaler and
members → compose (raw bars in, signal out) → feature parity (the graph's float64
features against ``compute_features`` on every test window) → model parity (raw
bars through the bundle against Keras on polars features, every test window) →
golden vectors (32 raw-bar windows) → manifest (both gates' figures and
tolerances) → validate against its schema → serialize → sign (``--sign-key``: the
signature appended as the last metadata entry, ``score/signature.py``) → the scorer's
own loader (signature included) and golden-vector check on those exact bytes → write
them atomically, with
``<bundle>.parity.json`` and the standard ONNX test-data folder
``<bundle>.test_data/test_data_set_0/`` (``input_0.pb``, ``output_<i>.pb``) beside it.
A failing gate writes nothing. The same run directory always gives the same bytes.
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
from signalpack.atomic import atomic_dir, atomic_write_bytes, check_destination
from signalpack.errors import ConfigError, ExportError, RunDirError, SignalpackError, first_line
from signalpack.export.compose import FEATURES_F64, compose
from signalpack.export.convert import convert_member, convert_scaler
from signalpack.export.drift_reference import drift_reference
from signalpack.export.feature_parity import FeatureParityReport, window_feature_parity
from signalpack.export.parity import (
    ParityReport,
    compare,
    keras_reference,
    load_members,
    onnx_outputs,
)
from signalpack.schemas import SchemaError, validate
from signalpack.score import ed25519
from signalpack.score.contract import (
    ATOL_FOR_VALIDATION,
    BAR_COLUMNS,
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
    OUTPUT_NAMES,
    PROBABILITIES,
    SIGNAL,
)
from signalpack.score.features import FeatureSpec, check_spec
from signalpack.score.golden import dumps
from signalpack.score.signature import read_private_key, sign_bundle
from signalpack.train.rundir import TEST_BARS, TEST_WINDOWS, check_run_dir, read_npy
from signalpack.train.scaler import Scaler

__all__ = [
    "N_GOLDEN",
    "Built",
    "ExportResult",
    "build_bundle",
    "export_run",
    "select_golden",
    "test_data_path",
    "with_feature_output",
]

N_GOLDEN = 32
TEST_DATA_SET = "test_data_set_0"


@dataclass(frozen=True)
class ExportResult:
    bundle: Path
    report_path: Path
    report: ParityReport
    sha256: str
    size: int
    seconds: float
    feature_report: FeatureParityReport | None = None
    test_data: Path | None = None


@dataclass(frozen=True)
class Built:
    """What ``build_bundle`` returns: the composed graph and what the gates compare it with."""

    model: Any
    """The bundle graph (``onnx.ModelProto``), without metadata."""
    manifest: dict[str, Any]
    """The manifest draft (parity figures and golden count filled in later)."""
    reference: dict[str, np.ndarray]
    """The Keras ensemble's outputs on the test windows (polars features)."""
    bars: np.ndarray
    """The same test windows as raw bars, float64 [n, W, 5]: the bundle's input."""
    spec: FeatureSpec


def test_data_path(bundle: Path) -> Path:
    """``<bundle>.test_data``: the ONNX model-zoo test-data folder written beside a bundle."""
    return bundle.with_name(bundle.name.removesuffix(".onnx") + ".test_data")


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


def _threshold_record(t: dict[str, Any]) -> dict[str, Any]:
    """How the bundle's confidence threshold was chosen (no grid: that stays in the run directory)."""
    out = {"mode": t["mode"], "thresholds_tried": t["thresholds_tried"]}
    if t["mode"] == "auto":
        out.update(segment=t["segment"], rule=t["rule"], fell_back=t["fell_back"])
    return out


def _verdict_record(meta: dict[str, Any]) -> dict[str, Any]:
    """The run's verdict, with the walk-forward count when there was one."""
    out = dict(meta["verdict"])
    wf = meta.get("walk_forward")
    if wf:
        out["walk_forward"] = {k: wf["skill_count"][k] for k in ("folds", "model_skill", "strategy_skill",
                                                                 "strategy_judged")}
    return out


def _manifest(meta: dict[str, Any], spec: FeatureSpec, scaler: Scaler, opset: int,
              n_members: int, atol: float, drift: dict[str, Any] | None = None) -> dict[str, Any]:
    m = meta["metrics"]
    headline = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
    sim = meta["simulation"]
    perf = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades", "exposure")
    seq_len, n_feat = meta["seq_len"], meta["n_features"]
    width = spec.lookback + seq_len
    drift_entry = {} if drift is None else {"drift_reference": drift}
    return {
        "format_version": MANIFEST_FORMAT_VERSION,
        "model": "signalpack LSTM ensemble",
        "classes": list(CLASS_NAMES),
        "seq_len": seq_len,
        "n_features": n_feat,
        "window_rows": width,
        "feature_spec": spec.to_dict(),
        "confidence_threshold": meta["confidence_threshold"],
        "threshold": _threshold_record(meta["threshold"]),
        "verdict": _verdict_record(meta),
        "ensemble": {
            "members": n_members,
            "weights": meta["ensemble"]["weights"],
            "weight_metric": meta["ensemble"]["weight_metric"],
            "learning_rates": [x["learning_rate"] for x in meta["ensemble"]["members"]],
        },
        "scaler": {"mean": list(scaler.mean), "scale": list(scaler.scale)},
        "inputs": {INPUT_NAME: {"dtype": "float64", "shape": ["batch", width, len(BAR_COLUMNS)],
                                "columns": list(BAR_COLUMNS)}},
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
            "intervals": {
                "method": m["uncertainty"]["bootstrap"]["method"],
                "confidence": m["uncertainty"]["bootstrap"]["confidence"],
                "ensemble": {k: m["uncertainty"]["model"][k] for k in headline},
                "differences": {b: {k: d[k] for k in headline} for b, d in m["uncertainty"]["differences"].items()},
            },
            "simulation": {
                "strategy": {k: sim["strategy"][k] for k in perf},
                "buy_and_hold": {k: sim["buy_and_hold"][k] for k in perf},
            },
        },
        "golden": {"metadata_key": GOLDEN_KEY, "count": 0, "atol": atol},
        "parity": None,
        "feature_parity": None,
        "versions": meta["versions"],
        "opset": opset,
        "ir_version": IR_VERSION,
        "created_at": meta["created_at"],
        **drift_entry,
    }


def _check_options(opset: int, atol: float) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(f"--opset {opset} is out of range; use {MIN_OPSET}..{MAX_OPSET} "
                          "(the in-graph features are written for opset <= 17)")
    if not (0 < atol <= MAX_ATOL):
        raise ConfigError(f"--atol {atol!r} is out of range; use a tolerance in (0, {MAX_ATOL:g}] "
                          f"(default {ATOL_FOR_VALIDATION:g})")


def build_bundle(
    run_dir: Path, meta: dict[str, Any], opset: int = DEFAULT_OPSET, atol: float = ATOL_FOR_VALIDATION,
    training_data: Path | None = None,
) -> Built:
    """Compile the features, convert the scaler and members, and compose them; read the test windows.

    meta : the run directory's metadata, as ``check_run_dir`` returned it (checked once, by the caller).
    training_data : the run's data file, for the manifest's drift reference (``drift_reference.py``).
    """
    spec_path = run_dir / "feature_spec.json"
    try:
        spec = check_spec(json.loads(spec_path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RunDirError(f"{spec_path}: {first_line(exc)}") from exc
    scaler = Scaler.load(run_dir / "scaler.json")
    models = load_members(run_dir, meta)
    seq_len, n_feat = meta["seq_len"], meta["n_features"]
    if len(scaler.mean) != n_feat or spec.n_features != n_feat:
        raise RunDirError(f"{run_dir}: scaler ({len(scaler.mean)}), feature spec ({spec.n_features}) "
                          f"and metadata ({n_feat}) disagree on the number of features")
    protos = [convert_member(m, seq_len, n_feat, opset, f"{run_dir.name}/{x['file']}")
              for m, x in zip(models, meta["ensemble"]["members"], strict=True)]
    model = compose(convert_scaler(scaler, opset), protos, meta["ensemble"]["weights"], spec, seq_len, opset)
    windows = read_npy(run_dir / TEST_WINDOWS)
    if windows.ndim != 3 or windows.shape[1:] != (seq_len, n_feat) or windows.dtype != np.float32:
        raise RunDirError(f"{run_dir / TEST_WINDOWS}: shape {windows.shape} {windows.dtype}; "
                          f"expected (n, {seq_len}, {n_feat}) float32")
    bars = read_npy(run_dir / TEST_BARS)
    width = spec.lookback + seq_len
    if bars.shape != (len(windows), width, len(BAR_COLUMNS)) or bars.dtype != np.float64:
        raise RunDirError(f"{run_dir / TEST_BARS}: shape {bars.shape} {bars.dtype}; "
                          f"expected ({len(windows)}, {width}, {len(BAR_COLUMNS)}) float64")
    ref = keras_reference(models, scaler, meta["ensemble"]["weights"], windows)
    drift = drift_reference(run_dir, meta, width, training_data)
    return Built(model, _manifest(meta, spec, scaler, opset, len(models), atol, drift), ref, bars, spec)


def with_feature_output(model: Any) -> bytes:
    """The bundle graph with its float64 features (``compose.FEATURES_F64``) as an extra output:
    what the feature-parity gate runs, so it checks the very nodes the bundle ships."""
    from onnx import TensorProto, helper

    probe = type(model)()
    probe.CopyFrom(model)
    del probe.metadata_props[:]
    probe.graph.output.append(helper.make_tensor_value_info(FEATURES_F64, TensorProto.DOUBLE, None))
    return probe.SerializeToString(deterministic=True)


def _test_data(bars: np.ndarray, outputs: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The ONNX model-zoo test-data files: input_0.pb and output_<i>.pb (graph output order) as TensorProtos."""
    from onnx import numpy_helper

    files = {"input_0.pb": numpy_helper.from_array(bars, INPUT_NAME).SerializeToString()}
    for i, name in enumerate(OUTPUT_NAMES):
        files[f"output_{i}.pb"] = numpy_helper.from_array(outputs[name], name).SerializeToString()
    return files


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
    atol: float = ATOL_FOR_VALIDATION, overwrite: bool = False, sign_key: Path | None = None,
    training_data: Path | None = None,
) -> ExportResult:
    """Export ``run_dir`` to ``out`` (default ``<run_dir>/bundle.onnx``) if the parity gate passes.

    sign_key : an Ed25519 private key file (``signalpack keygen``): the bundle's bytes are signed and
        the signature appended as its last metadata entry (``score/signature.py``).
    training_data : the run's data file (its recorded sha256 is checked), for the drift reference; by
        default the embedded S&P 500 file when the run used it, else the test windows
        (``drift_reference.py``).
    """
    import onnx

    started = time.monotonic()
    run_dir = Path(run_dir)
    _check_options(opset, atol)
    seed = read_private_key(sign_key) if sign_key is not None else None
    meta = check_run_dir(run_dir)
    out = Path(out) if out is not None else run_dir / "bundle.onnx"
    report_path = out.with_name(out.name.removesuffix(".onnx") + ".parity.json")
    data_dir = test_data_path(out)
    for p in (out, report_path):
        check_destination(p, overwrite)
    check_destination(data_dir, overwrite, folder=True)

    built = build_bundle(run_dir, meta, opset, atol, training_data)
    model, manifest, ref, bars = built.model, built.manifest, built.reference, built.bars
    model.producer_name = "signalpack"
    model.producer_version = __version__
    model.model_version = int("".join(ch for ch in manifest["created_at"] if ch.isdigit())[:14])
    width = manifest["window_rows"]
    model.doc_string = (
        f"signalpack SELL/HOLD/BUY LSTM ensemble. Input '{INPUT_NAME}' float64 [batch, {width}, 5]: "
        f"{width} raw bars of one symbol (open, high, low, close, volume), oldest first; the last bar is "
        "the one scored. The features are computed inside the graph. Outputs: probabilities, signal, "
        f"confidence, member_probabilities. Manifest JSON under metadata key '{MANIFEST_KEY}'. "
        "Not financial advice."
    )
    g = select_golden(ref[SIGNAL])
    golden = dumps({INPUT_NAME: bars[g]}, {k: v[g] for k, v in ref.items()})
    manifest["golden"]["count"] = len(g)

    draft = _serialize(model, manifest, golden)
    onnx.checker.check_model(onnx.load_from_string(draft), full_check=True)
    feature_report = window_feature_parity(with_feature_output(model), bars, built.spec, meta["seq_len"],
                                           output=FEATURES_F64)
    feature_report.raise_if_failed()
    got = onnx_outputs(draft, bars)
    report = compare(ref, got, atol, _test_index(run_dir, len(bars)))
    report.raise_if_failed()
    manifest["parity"] = report.summary()
    manifest["feature_parity"] = feature_report.summary()
    try:
        validate(manifest, "manifest")
    except SchemaError as exc:
        raise ExportError(f"the manifest does not match schemas/manifest.schema.json: {exc}") from exc
    data = _serialize(model, manifest, golden)
    if len(data) >= 2**31:
        raise ExportError("the bundle would exceed 2 GB, the protobuf limit")
    public = None
    if seed is not None:
        data = sign_bundle(data, seed)
        public = ed25519.public_key(seed)
    _check_final(data, draft, out.name, public)
    test_files = _test_data(bars[g], {k: v[g] for k, v in ref.items()})
    with atomic_dir(data_dir, overwrite=overwrite) as tmp_dir:
        (tmp_dir / TEST_DATA_SET).mkdir()
        for fname, blob in test_files.items():
            (tmp_dir / TEST_DATA_SET / fname).write_bytes(blob)
        atomic_write_bytes(out, data, overwrite=overwrite)
    sha256 = hashlib.sha256(data).hexdigest()
    report_doc = {"bundle": out.name, "sha256": sha256, **report.to_dict(),
                  "feature_parity": {**feature_report.summary(), "lines": feature_report.lines()}}
    atomic_write_bytes(report_path, (json.dumps(report_doc, indent=2, sort_keys=True) + "\n").encode(),
                       overwrite=True)
    return ExportResult(out, report_path, report, sha256, len(data),
                        round(time.monotonic() - started, 2), feature_report, data_dir)


def _check_final(data: bytes, draft: bytes, name: str, public: bytes | None = None) -> None:
    """The bytes about to be written (signed, if ``public`` is the signer's key): the same graph the
    parity gate ran, a model onnx.checker accepts, and they pass the scorer's own load (with the
    signature checked) and golden-vector check (what ``score verify`` will do with the file)."""
    import onnx

    from signalpack.score.bundle import open_bundle, verify_bundle

    final = onnx.load_from_string(data)
    try:
        onnx.checker.check_model(final)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{name}: onnx.checker refuses the final bytes, nothing written ({first_line(exc)})") from exc
    final_graph = final.graph.SerializeToString(deterministic=True)
    if final_graph != onnx.load_from_string(draft).graph.SerializeToString(deterministic=True):
        raise ExportError(f"{name}: the graph changed after the parity gate ran; nothing written")
    try:
        bundle = open_bundle(data, Path(name), trusted_key=public)
        verify_bundle(bundle).raise_if_failed(name)
    except SignalpackError as exc:
        raise ExportError(f"{name}: the bundle fails the scorer's own check, nothing written ({exc})") from exc

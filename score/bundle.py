"""Load a signalpack bundle safely, check its manifest, and verify its golden vectors.

Loading order matters for safety: the file is read and its protobuf scanned
*before* onnxruntime sees it, so a bundle that points at external data (a path
the runtime would open), carries oversized metadata or is truncated is refused
without touching anything else. The session is then built from the bytes
already read; no path found inside a bundle is ever opened.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signalpack.errors import BundleError, VerifyMismatch, first_line
from signalpack.schemas import SchemaError, validate
from signalpack.score.contract import (
    BAR_COLUMNS,
    CONFIDENCE,
    INPUT_NAME,
    MANIFEST_KEY,
    MEMBER_PROBABILITIES,
    N_CLASSES,
    OUTPUT_NAMES,
    PROBABILITIES,
    SIGNAL,
    SUPPORTED_MANIFEST_VERSIONS,
)
from signalpack.score.golden import decode_arrays
from signalpack.score.protobuf import ModelInfo, ProtobufError, scan_model

__all__ = [
    "DEFAULT_BUNDLE",
    "MAX_BUNDLE_BYTES",
    "MAX_METADATA_BYTES",
    "Bundle",
    "VerifyReport",
    "inspect_bundle",
    "load_bundle",
    "open_bundle",
    "read_bundle_bytes",
    "resolve_model",
    "verify_bundle",
]

MAX_BUNDLE_BYTES = 512 * 2**20
MAX_METADATA_BYTES = 8 * 2**20


@dataclass
class Bundle:
    """A loaded bundle: its onnxruntime session, manifest and identity."""

    path: Path
    sha256: str
    size: int
    info: ModelInfo
    manifest: dict[str, Any]
    session: Any

    @property
    def model_id(self) -> str:
        return self.sha256[:12]

    @property
    def seq_len(self) -> int:
        return int(self.manifest["seq_len"])

    @property
    def window_rows(self) -> int:
        """W: the rows of raw bars one window reads (the features' look-back + seq_len), checked
        equal to the graph's own input shape when the bundle was opened."""
        return int(self.manifest["window_rows"])

    @property
    def threshold(self) -> float:
        return float(self.manifest["confidence_threshold"])

    def golden(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        key = self.manifest["golden"]["metadata_key"]
        raw = self.info.metadata.get(key)
        if raw is None:
            raise BundleError(f"{self.path.name}: no golden vectors under metadata key {key!r}")
        try:
            doc = json.loads(raw)
            return decode_arrays(doc["inputs"]), decode_arrays(doc["outputs"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BundleError(f"{self.path.name}: golden vectors are unreadable ({exc})") from exc

    def run(self, bars: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs for raw-bar windows, float64 [n, W, 5] (``bar_windows.gather_windows``)."""
        outs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(bars, dtype=np.float64)})
        return dict(zip(OUTPUT_NAMES, outs, strict=True))


DEFAULT_BUNDLE = Path(__file__).parent / "models" / "default.onnx"


def resolve_model(model: str | os.PathLike[str] | None) -> Path:
    """--model, else $SCORE_MODEL, else the default bundle shipped inside the package."""
    if model is not None:
        return Path(model)
    env = os.environ.get("SCORE_MODEL")
    if env:
        return Path(env)
    return DEFAULT_BUNDLE


def read_bundle_bytes(path: Path) -> bytes:
    if not path.exists():
        raise BundleError(f"{path}: no such bundle")
    if path.is_dir():
        raise BundleError(f"{path}: is a directory, expected an .onnx bundle")
    size = path.stat().st_size
    if size == 0:
        raise BundleError(f"{path.name}: the bundle is empty (0 bytes)")
    if size > MAX_BUNDLE_BYTES:
        raise BundleError(f"{path.name}: {size} bytes is over the {MAX_BUNDLE_BYTES} byte limit for a bundle")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read the bundle ({exc.strerror})") from exc


def parse_manifest(info: ModelInfo, name: str) -> dict[str, Any]:
    """The manifest, checked: present, JSON, a known format version, valid against the schema."""
    raw = info.metadata.get(MANIFEST_KEY)
    if raw is None:
        raise BundleError(f"{name}: no signalpack manifest (metadata key {MANIFEST_KEY!r}); "
                          "is this a signalpack bundle?")
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{name}: the manifest is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{name}: the manifest is not a JSON object")
    version = manifest.get("format_version")
    if version == 1:
        raise BundleError(
            f"{name}: bundle format 1 (features computed outside the graph) is no longer scored; "
            "re-export its run directory as format 2: signalpack export RUN_DIR --overwrite"
        )
    if version not in SUPPORTED_MANIFEST_VERSIONS:
        raise BundleError(
            f"{name}: manifest format version {version!r} is not supported by this scorer "
            f"(supports {list(SUPPORTED_MANIFEST_VERSIONS)}); upgrade signalpack"
        )
    try:
        validate(manifest, "manifest")
    except SchemaError as exc:
        raise BundleError(f"{name}: the manifest does not match its schema: {exc}") from exc
    return manifest


def load_bundle(path: str | os.PathLike[str], threads: int = 0) -> Bundle:
    """Read, scan, check and open a bundle with onnxruntime (CPU)."""
    path = Path(path)
    return open_bundle(read_bundle_bytes(path), path, threads)


def open_bundle(data: bytes, path: Path, threads: int = 0) -> Bundle:
    """Scan, check and open a bundle's bytes (``path`` names it in messages and in ``Bundle.path``)."""
    name = path.name
    try:
        info = scan_model(data)
    except ProtobufError as exc:
        raise BundleError(f"{name}: not a readable ONNX model, truncated or corrupt ({exc})") from exc
    if not info.has_graph or not info.ir_version:
        raise BundleError(f"{name}: not an ONNX model (no graph or IR version)")
    if info.external_tensors:
        raise BundleError(f"{name}: references external data files ({info.external_tensors} tensors); "
                          "signalpack bundles must be self-contained")
    if info.metadata_bytes > MAX_METADATA_BYTES:
        raise BundleError(f"{name}: {info.metadata_bytes} bytes of metadata is over the "
                          f"{MAX_METADATA_BYTES} byte limit")
    manifest = parse_manifest(info, name)
    _check_graph_against_manifest(info, manifest, name)
    session = _session(data, name, threads)
    _check_session_against_manifest(session, manifest, name)
    return Bundle(path, hashlib.sha256(data).hexdigest(), len(data), info, manifest, session)


def _session(data: bytes, name: str, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BundleError(f"{name}: onnxruntime cannot load the graph ({first_line(exc)})") from exc


def _check_graph_against_manifest(info: ModelInfo, manifest: dict[str, Any], name: str) -> None:
    if info.inputs != [INPUT_NAME] or sorted(info.outputs) != sorted(OUTPUT_NAMES):
        raise BundleError(f"{name}: graph inputs {info.inputs} / outputs {info.outputs} are not a "
                          f"signalpack bundle's ({INPUT_NAME} → {', '.join(OUTPUT_NAMES)})")
    if info.ir_version != manifest["ir_version"] or info.opsets.get("", 0) != manifest["opset"]:
        raise BundleError(f"{name}: graph IR {info.ir_version} / opset {info.opsets.get('')} differ from "
                          f"the manifest's ({manifest['ir_version']} / {manifest['opset']})")
    declared = manifest["inputs"][INPUT_NAME]["shape"]
    if declared[1:] != [manifest["window_rows"], len(BAR_COLUMNS)]:
        raise BundleError(f"{name}: the manifest's input shape {declared} disagrees with its window_rows "
                          f"{manifest['window_rows']}")


def _check_session_against_manifest(session: Any, manifest: dict[str, Any], name: str) -> None:
    inp = session.get_inputs()[0]
    shape = list(inp.shape)
    want = [manifest["window_rows"], len(BAR_COLUMNS)]
    if inp.type != "tensor(double)" or len(shape) != 3 or shape[1:] != want:
        raise BundleError(f"{name}: graph input {INPUT_NAME!r} is {inp.type} {shape}; the manifest says "
                          f"float64 [batch, {want[0]}, {want[1]}]")
    outs = {o.name: o for o in session.get_outputs()}
    m = manifest["ensemble"]["members"]
    mp = list(outs[MEMBER_PROBABILITIES].shape)
    if len(mp) != 3 or mp[1:] != [m, N_CLASSES]:
        raise BundleError(f"{name}: graph output {MEMBER_PROBABILITIES} is {mp}; the manifest says "
                          f"[batch, {m}, {N_CLASSES}]")


@dataclass
class VerifyReport:
    atol: float
    count: int
    max_abs_diff: dict[str, float]
    signal_mismatches: int

    @property
    def passed(self) -> bool:
        return self.signal_mismatches == 0 and all(v <= self.atol for v in self.max_abs_diff.values())

    def raise_if_failed(self, name: str) -> None:
        if self.passed:
            return
        worst = max(self.max_abs_diff, key=lambda k: self.max_abs_diff[k])
        raise VerifyMismatch(
            f"{name}: golden vectors do not reproduce: {worst} max abs diff "
            f"{self.max_abs_diff[worst]:.3g} > atol {self.atol:g}, {self.signal_mismatches} signal "
            "mismatches; the bundle is corrupt or this runtime computes differently"
        )

    def lines(self) -> list[str]:
        out = [f"{'✓' if v <= self.atol else '✗'} {k:<22} max abs diff {v:.3g} (atol {self.atol:g})"
               for k, v in self.max_abs_diff.items()]
        out.append(f"{'✓' if not self.signal_mismatches else '✗'} {'signal':<22} "
                   f"{self.signal_mismatches} of {self.count} differ beyond a tie")
        return out


def verify_bundle(bundle: Bundle) -> VerifyReport:
    """Rerun the golden vectors and compare (``report.raise_if_failed`` turns a miss into exit 1)."""
    inputs, expected = bundle.golden()
    bars = inputs.get(INPUT_NAME)
    if (bars is None or bars.dtype != np.float64 or bars.ndim != 3 or len(bars) == 0
            or bars.shape[1:] != (bundle.window_rows, len(BAR_COLUMNS))):
        raise BundleError(f"{bundle.path.name}: golden inputs are not float64 windows of the manifest's shape "
                          f"[n >= 1, {bundle.window_rows}, {len(BAR_COLUMNS)}]")
    missing = [k for k in OUTPUT_NAMES if k not in expected]
    if missing:
        raise BundleError(f"{bundle.path.name}: golden vectors lack the outputs {missing}")
    got = bundle.run(bars)
    atol = float(bundle.manifest["golden"]["atol"])
    diffs = {}
    for k in (PROBABILITIES, CONFIDENCE, MEMBER_PROBABILITIES):
        if expected[k].shape != got[k].shape:
            raise VerifyMismatch(f"{bundle.path.name}: {k} has shape {list(got[k].shape)}, "
                                 f"golden vectors expect {list(expected[k].shape)}")
        diffs[k] = float(np.abs(expected[k].astype(np.float64) - got[k]).max(initial=0.0))
    top2 = np.sort(expected[PROBABILITIES], axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > atol
    mismatches = int(((expected[SIGNAL] != got[SIGNAL]) & clear).sum())
    return VerifyReport(atol, len(bars), diffs, mismatches)


def inspect_bundle(bundle: Bundle) -> dict[str, Any]:
    """What ``score inspect`` shows: the manifest plus the graph's identity and interface."""
    def io(items: list[Any]) -> list[dict[str, Any]]:
        return [{"name": x.name, "type": x.type, "shape": [d if isinstance(d, int) else str(d) for d in x.shape]}
                for x in items]

    return {
        "file": bundle.path.name,
        "size_bytes": bundle.size,
        "sha256": bundle.sha256,
        "model_id": bundle.model_id,
        "producer": f"{bundle.info.producer_name} {bundle.info.producer_version}".strip(),
        "model_version": bundle.info.model_version,
        "ir_version": bundle.info.ir_version,
        "opsets": bundle.info.opsets,
        "graph": {"inputs": io(bundle.session.get_inputs()), "outputs": io(bundle.session.get_outputs()),
                  "ops": {op: bundle.info.op_types.count(op) for op in sorted(set(bundle.info.op_types))}},
        "manifest": bundle.manifest,
    }

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
import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signalpack.errors import BundleError, VerifyMismatch, first_line, printable
from signalpack.schemas import SchemaError, validate
from signalpack.score.contract import (
    BAR_COLUMNS,
    CONFIDENCE,
    INPUT_NAME,
    MANIFEST_KEY,
    MAX_WINDOW_ROWS,
    MEMBER_PROBABILITIES,
    N_CLASSES,
    OUTPUT_COLUMNS,
    OUTPUT_NAMES,
    PROBABILITIES,
    SIGNAL,
    SUPPORTED_MANIFEST_VERSIONS,
)
from signalpack.score.drift import check_reference
from signalpack.score.golden import decode_arrays
from signalpack.score.protobuf import ModelInfo, ProtobufError, scan_model
from signalpack.score.signature import (
    SignatureInfo,
    check_sha256,
    find_signature,
    normalize_sha256,
    verify_signature,
)

__all__ = [
    "DEFAULT_BUNDLE",
    "MAX_BUNDLE_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_JSON_DEPTH",
    "Bundle",
    "VerifyReport",
    "check_manifest",
    "inspect_bundle",
    "load_bundle",
    "open_bundle",
    "read_bundle_bytes",
    "resolve_model",
    "verify_bundle",
]

MAX_BUNDLE_BYTES = 512 * 2**20
MAX_METADATA_BYTES = 8 * 2**20
MAX_JSON_DEPTH = 64
"""Deepest nesting of the manifest or golden-vector JSON (theirs is 5 and 3): checked before parsing,
so a crafted document cannot exhaust the parser's stack."""
WEIGHT_SUM_TOL = 1e-6
"""The ensemble weights must sum to 1 within this (export normalises them in float64)."""
GOLDEN_PROB_TOL = 1e-5
"""Golden probabilities lie in [0, 1] and sum to 1 within this; the ensemble's are the manifest weights
applied to the members' within it too (float32 rounding is ~1e-7)."""


@dataclass
class Bundle:
    """A loaded bundle: its onnxruntime session, manifest and identity."""

    path: Path
    sha256: str
    size: int
    info: ModelInfo
    manifest: dict[str, Any]
    session: Any
    signature: SignatureInfo | None = None
    """The signature entry (``signature.py``): None if unsigned; ``verified`` only with a trusted key."""

    def __post_init__(self) -> None:
        if not isinstance(self.session, _GuardedSession):
            self.session = _GuardedSession(self.session, self.path.name, self.manifest)

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

    @property
    def drift_reference(self) -> dict[str, Any] | None:
        """The training distribution of the drift features (``score/drift.py``), checked at load; None in a
        bundle exported before drift statistics."""
        return self.manifest.get("drift_reference")

    def golden(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The golden inputs and outputs, checked complete and consistent (``read_golden``)."""
        return read_golden(self.info, self.manifest, self.path.name)

    def run(self, bars: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs for raw-bar windows, float64 [n >= 1, W, 5] (``bar_windows.gather_windows``).

        A graph that fails at run time, or gives outputs of other shapes or types than the manifest
        says, raises BundleError (one line), never onnxruntime's exception (``_GuardedSession``)."""
        outs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(bars, dtype=np.float64)})
        return dict(zip(OUTPUT_NAMES, outs, strict=True))


class _GuardedSession:
    """An onnxruntime session whose ``run`` keeps the scorer's promises whatever the graph does.

    - An empty batch is refused before onnxruntime sees it (onnxruntime aborts the process on some
      graphs given zero windows).
    - Any exception from onnxruntime (a Reshape to an impossible shape, an out-of-range Gather...)
      becomes one BundleError line naming the bundle.
    - Every output must have the dtype and shape the manifest declares ([batch, ...]): a graph that
      gives ``probabilities`` shaped [batch, 2] is refused, not broadcast into the scores.

    Everything else (``get_inputs``, ``get_outputs``, ...) is the session's own. The runner's
    threads call ``run`` concurrently; this object holds no state of its own beyond the expectations.
    """

    def __init__(self, session: Any, name: str, manifest: dict[str, Any]) -> None:
        self._session = session
        self._name = name
        self._specs = output_specs(manifest)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._session, attr)

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any], run_options: Any = None) -> list[Any]:
        names = list(output_names) if output_names else [o.name for o in self._session.get_outputs()]
        batch = None
        for value in input_feed.values():
            shape = getattr(value, "shape", ())
            if not shape or 0 in shape:
                raise BundleError(f"{self._name}: refusing to run the graph on an empty batch (shape {list(shape)})")
            batch = shape[0]
        if run_options is None:
            run_options = _quiet_run_options()
        try:
            outs = self._session.run(names, input_feed, run_options)
        except Exception as exc:  # onnxruntime's own exception types, whatever the graph does
            raise BundleError(f"{self._name}: the graph fails at run time ({first_line(exc)})") from exc
        if len(outs) != len(names):
            raise BundleError(f"{self._name}: the graph gave {len(outs)} outputs for {len(names)} requested")
        for out_name, out in zip(names, outs, strict=True):
            spec = self._specs.get(out_name)
            if spec is None:
                continue
            dtype, tail = spec
            shape = tuple(getattr(out, "shape", ()))
            if not isinstance(out, np.ndarray) or str(out.dtype) != dtype or shape != (batch, *tail):
                got = f"{getattr(out, 'dtype', type(out).__name__)} {list(shape)}"
                raise BundleError(f"{self._name}: graph output {out_name} is {got} at run time; the manifest "
                                  f"says {dtype} {[batch, *tail]}")
        return outs


def _quiet_run_options() -> Any:
    """Run options that keep onnxruntime from logging a failing node to stderr itself (in colour, over
    several lines): the failure is reported once, as the BundleError line."""
    options = import_onnxruntime().RunOptions()
    options.log_severity_level = 4  # fatal only
    return options


def output_specs(manifest: dict[str, Any]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Each output's dtype and shape after the batch dimension, as the contract and the manifest's
    ``ensemble.members`` define them."""
    members = int(manifest["ensemble"]["members"])
    return {
        PROBABILITIES: ("float32", (N_CLASSES,)),
        SIGNAL: ("int64", ()),
        CONFIDENCE: ("float32", ()),
        MEMBER_PROBABILITIES: ("float32", (members, N_CLASSES)),
    }


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
    """The manifest, checked: one entry, JSON of bounded depth with finite numbers only, a known
    format version, valid against the schema, meaningful (``check_manifest``), and golden vectors
    that are complete and consistent with it (``read_golden``)."""
    _check_metadata_keys(info, name)
    raw = info.metadata.get(MANIFEST_KEY)
    if raw is None:
        raise BundleError(f"{name}: no signalpack manifest (metadata key {MANIFEST_KEY!r}); "
                          "is this a signalpack bundle?")
    manifest = _parse_json(raw, "manifest", name)
    if not isinstance(manifest, dict):
        raise BundleError(f"{name}: the manifest is not a JSON object")
    version = manifest.get("format_version")
    if version == 1 and not isinstance(version, bool):
        raise BundleError(
            f"{name}: bundle format 1 (features computed outside the graph) is no longer scored; "
            "re-export its run directory as format 2: signalpack export RUN_DIR --overwrite"
        )
    if isinstance(version, bool) or version not in SUPPORTED_MANIFEST_VERSIONS:
        raise BundleError(
            f"{name}: manifest format version {printable(json.dumps(version), 60)} is not supported by this "
            f"scorer (supports {list(SUPPORTED_MANIFEST_VERSIONS)}); upgrade signalpack"
        )
    try:
        validate(manifest, "manifest")
    except SchemaError as exc:
        raise BundleError(f"{name}: the manifest does not match its schema: {exc}") from exc
    check_manifest(manifest, name)
    read_golden(info, manifest, name)
    return manifest


def _check_metadata_keys(info: ModelInfo, name: str) -> None:
    """Each metadata key at most once (onnx.checker's rule): with two ``signalpack.manifest`` entries
    one reader would take the first and another the last, so what was checked need not be what runs."""
    for key, count in info.metadata_key_counts.items():
        if count > 1:
            raise BundleError(f"{name}: metadata key {printable(json.dumps(key), 80)} appears {count} times; "
                              "a bundle holds each key once (a second manifest or golden set is tampering)")


# ---- JSON from the bundle

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)


def _json_depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest, found without parsing (linear, no recursion):
    strings removed, then the running count of opening minus closing brackets. For any prefix the
    parser accepts this equals its nesting, so a document deeper than the limit is refused before
    ``json.loads`` could recurse into it."""
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    b = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    return int(np.cumsum(np.where(np.isin(b, _OPENING), 1, -1), dtype=np.int64).max())


class _NonFinite(ValueError):
    pass


def _refuse_constant(text: str) -> float:
    raise _NonFinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise _NonFinite(text[:40])
    return value


def _parse_json(raw: str, what: str, name: str) -> Any:
    """``raw`` parsed, refusing nesting deeper than MAX_JSON_DEPTH and any NaN/Infinity (JSON has none;
    Python's json module accepts them, and ``1e999`` overflows to inf)."""
    depth = _json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise BundleError(f"{name}: the {what} JSON nests {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed")
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFinite as exc:
        raise BundleError(f"{name}: the {what} holds the non-finite number {printable(str(exc), 40)}; "
                          "JSON has no NaN or Infinity") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an integer over 4300 digits
        raise BundleError(f"{name}: the {what} is not valid JSON ({first_line(exc, 120)})") from None


# ---- the manifest's meaning (beyond its schema)

_WINDOW = "window"
_POSITIVE = "positive"
_FEATURE_PARAMS: dict[str, tuple[dict[str, tuple[str, int]], Callable[..., int]]] = {
    # kind: ({parameter: (rule, least value)}, look-back from the parameters) -- score/features.py's
    # FEATURE_KINDS, restated here because the scorer imports no feature code (a test keeps them equal).
    # A window of n rows is an integer in [least, MAX_WINDOW_ROWS]; a std needs n >= 2.
    "log_return": ({"n": (_WINDOW, 1)}, lambda n: n),
    "volatility": ({"n": (_WINDOW, 2)}, lambda n: n),
    "close_to_sma": ({"n": (_WINDOW, 1)}, lambda n: n - 1),
    "sma_ratio": ({"fast": (_WINDOW, 1), "slow": (_WINDOW, 1)}, lambda fast, slow: max(fast, slow) - 1),
    "bar_range": ({}, lambda: 0),
    "close_location": ({}, lambda: 0),
    "gap": ({}, lambda: 1),
    "body": ({}, lambda: 0),
    "upper_shadow": ({}, lambda: 0),
    "lower_shadow": ({}, lambda: 0),
    "volume_zscore": ({"n": (_WINDOW, 2)}, lambda n: n - 1),
    "rsi": ({"n": (_WINDOW, 1)}, lambda n: n),
    "bollinger_position": ({"n": (_WINDOW, 2), "k": (_POSITIVE, 0)}, lambda n, k: n - 1),
    "atr": ({"n": (_WINDOW, 1)}, lambda n: n),
    "stochastic": ({"n": (_WINDOW, 1)}, lambda n: n - 1),
}
_FEATURE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_RESERVED_NAMES = frozenset(c.lower() for c in (*OUTPUT_COLUMNS, *BAR_COLUMNS))
"""Feature names that would collide with a key or output column of ``score run``, or an input column."""


def _field(name: str, where: str, problem: str) -> BundleError:
    return BundleError(f"{name}: manifest field {where}: {problem}")


def _show(value: Any, limit: int = 60) -> str:
    return printable(json.dumps(value) if isinstance(value, str) else repr(value), limit)


def check_manifest(manifest: dict[str, Any], name: str) -> None:
    """What the schema cannot say, for a manifest that matches it (finite numbers are ensured by
    ``_parse_json``; ranges such as the threshold's [0.34, 1] and scale > 0 by the schema):

    - the ensemble: one weight and one learning rate per member, weights summing to 1;
    - the scaler: one mean and one scale per feature;
    - the FeatureSpec (documentation of the graph's features, still checked): n_features entries,
      names unique (case-insensitively) and plain (``[A-Za-z0-9_]{1,64}``, no key/output/input column
      name), known kinds with exactly their parameters, windows integers in the bounds this code
      supports, each recorded look-back equal to the one its parameters give, the spec's look-back
      their maximum, and ``window_rows`` = look-back + seq_len <= MAX_WINDOW_ROWS;
    - the outputs: exactly the contract's dtypes and shapes;
    - ``feature_parity`` names the same features;
    - ``drift_reference``, when present: known drift features that fit the window, edges in order,
      shares summing to 1 (``drift.check_reference``).

    Raises BundleError naming the bundle and the field.
    """
    ens = manifest["ensemble"]
    members = ens["members"]
    for key in ("weights", "learning_rates"):
        if len(ens[key]) != members:
            raise _field(name, f"ensemble.{key}", f"{len(ens[key])} values for {members} members")
    total = math.fsum(ens["weights"])
    if abs(total - 1.0) > WEIGHT_SUM_TOL:
        raise _field(name, "ensemble.weights", f"the weights sum to {total:.9g}, not 1 (within {WEIGHT_SUM_TOL:g})")

    n = manifest["n_features"]
    for key in ("mean", "scale"):
        if len(manifest["scaler"][key]) != n:
            raise _field(name, f"scaler.{key}", f"{len(manifest['scaler'][key])} values for n_features {n}")

    spec = manifest["feature_spec"]
    feats = spec["features"]
    if len(feats) != n:
        raise _field(name, "feature_spec.features", f"{len(feats)} features for n_features {n}")
    seen: dict[str, int] = {}
    lookbacks = []
    for i, f in enumerate(feats):
        where = f"feature_spec.features[{i}]"
        fname = f["name"]
        if not _FEATURE_NAME.fullmatch(fname):
            raise _field(name, f"{where}.name", f"{_show(fname)} must be 1 to 64 letters, digits or underscores")
        key = fname.lower()
        if key in _RESERVED_NAMES:
            raise _field(name, f"{where}.name", f"{_show(fname)} is the name of a key, output or input column")
        if key in seen:
            raise _field(name, f"{where}.name", f"{_show(fname)} repeats feature {seen[key]}'s name")
        seen[key] = i
        lookback = _feature_lookback(f, where, name)
        if f["lookback"] != lookback:
            raise _field(name, f"{where}.lookback", f"records {_show(f['lookback'])}, but its kind and parameters "
                         f"give {lookback}")
        lookbacks.append(lookback)
    if spec["lookback"] != max(lookbacks):
        raise _field(name, "feature_spec.lookback", f"{_show(spec['lookback'])} is not the features' largest "
                     f"look-back, {max(lookbacks)}")
    width = spec["lookback"] + manifest["seq_len"]
    if manifest["window_rows"] != width or width > MAX_WINDOW_ROWS:
        raise BundleError(f"{name}: the manifest's window_rows {_show(manifest['window_rows'])} is not "
                          f"feature_spec.lookback + seq_len = {width} (at most {MAX_WINDOW_ROWS})")

    for out, (dtype, tail) in output_specs(manifest).items():
        want = {"dtype": dtype, "shape": ["batch", *tail]}
        if manifest["outputs"][out] != want:
            raise _field(name, f"outputs.{out}", f"must be {json.dumps(want)}")

    parity_names = set(manifest["feature_parity"]["features"])
    if parity_names != {f["name"] for f in feats}:
        raise _field(name, "feature_parity.features", "does not name the same features as feature_spec")

    drift = manifest.get("drift_reference")
    problem = check_reference(drift, manifest["window_rows"]) if drift is not None else None
    if problem is not None:
        raise _field(name, *problem)


def _feature_lookback(f: dict[str, Any], where: str, name: str) -> int:
    """The look-back this feature's kind and parameters give, after checking them against what the
    feature code supports."""
    kind = f["kind"]
    if kind not in _FEATURE_PARAMS:
        raise _field(name, f"{where}.kind", f"unknown kind {_show(kind)}; known: {', '.join(sorted(_FEATURE_PARAMS))}")
    rules, lookback = _FEATURE_PARAMS[kind]
    params = f["params"]
    if set(params) != set(rules):
        raise _field(name, f"{where}.params", f"{kind} takes {sorted(rules) or 'no parameters'}, "
                     f"got {printable(str(sorted(params)), 120)}")
    values: dict[str, Any] = {}
    for p, (rule, least) in rules.items():
        v = params[p]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _field(name, f"{where}.params.{p}", f"must be a number (got {_show(v)})")
        if rule == _POSITIVE:
            if not v > 0:
                raise _field(name, f"{where}.params.{p}", f"must be > 0 (got {_show(v)})")
            values[p] = v
        else:
            if (isinstance(v, float) and not v.is_integer()) or not least <= v <= MAX_WINDOW_ROWS:
                raise _field(name, f"{where}.params.{p}", f"a window must be an integer in [{least}, "
                             f"{MAX_WINDOW_ROWS}] (got {_show(v)})")
            values[p] = int(v)
    return int(lookback(**values))


# ---- the golden vectors


def read_golden(info: ModelInfo, manifest: dict[str, Any], name: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The golden inputs and outputs, checked complete and consistent with the manifest before any of
    them reaches onnxruntime: JSON ``{"inputs": {"ohlcv"}, "outputs": {every output}}``; at least one
    window, ``golden.count`` of them, each float64 [W, 5] and finite; outputs of the graph's dtypes and
    shapes for that batch; probabilities (ensemble and members) in [0, 1] summing to 1; the ensemble's
    probabilities equal to the manifest's weights applied to the members'; confidence their maximum
    and signal their argmax (near-ties aside). This catches, for instance, member weights negated in
    the graph with the golden vectors regenerated from it."""
    key = manifest["golden"]["metadata_key"]
    raw = info.metadata.get(key)
    if raw is None:
        raise BundleError(f"{name}: no golden vectors under metadata key {printable(json.dumps(key), 80)}")
    doc = _parse_json(raw, "golden vector set", name)
    if not isinstance(doc, dict) or sorted(doc) != ["inputs", "outputs"]:
        raise BundleError(f'{name}: the golden vectors must be a JSON object with exactly the keys "inputs" and '
                          '"outputs"')
    try:
        inputs, outputs = decode_arrays(doc["inputs"]), decode_arrays(doc["outputs"])
    except ValueError as exc:
        raise BundleError(f"{name}: golden vectors are unreadable: {first_line(exc, 200)}") from None
    if list(inputs) != [INPUT_NAME]:
        raise BundleError(f"{name}: golden inputs must be exactly {INPUT_NAME!r}")
    missing = [k for k in OUTPUT_NAMES if k not in outputs]
    extra = [k for k in outputs if k not in OUTPUT_NAMES]
    if missing or extra:
        what = f"lack the outputs {missing}" if missing else f"hold unknown outputs {printable(str(extra), 120)}"
        raise BundleError(f"{name}: golden vectors {what}")
    bars, width, count = inputs[INPUT_NAME], manifest["window_rows"], manifest["golden"]["count"]
    if bars.dtype != np.float64 or bars.ndim != 3 or bars.shape[1:] != (width, len(BAR_COLUMNS)) or len(bars) < 1:
        raise BundleError(f"{name}: golden inputs are {bars.dtype} {list(bars.shape)}, not float64 windows of the "
                          f"manifest's shape [n >= 1, {width}, {len(BAR_COLUMNS)}]")
    batch = len(bars)
    if batch != count:
        raise BundleError(f"{name}: {batch} golden windows, but the manifest's golden.count is {count}")
    for out, (dtype, tail) in output_specs(manifest).items():
        a = outputs[out]
        if str(a.dtype) != dtype or a.shape != (batch, *tail):
            raise BundleError(f"{name}: golden output {out} is {a.dtype} {list(a.shape)}; the graph gives "
                              f"{dtype} {[batch, *tail]}")
    probs = outputs[PROBABILITIES].astype(np.float64)
    members = outputs[MEMBER_PROBABILITIES].astype(np.float64)
    _check_distribution(probs, PROBABILITIES, name)
    _check_distribution(members, MEMBER_PROBABILITIES, name)
    weights = np.asarray(manifest["ensemble"]["weights"], dtype=np.float64)
    mix_diff = float(np.abs(np.einsum("m,nmc->nc", weights, members) - probs).max())
    if mix_diff > GOLDEN_PROB_TOL:
        raise BundleError(f"{name}: golden probabilities are not the manifest's ensemble weights applied to "
                          f"member_probabilities (max diff {mix_diff:.3g} > {GOLDEN_PROB_TOL:g})")
    conf_diff = float(np.abs(outputs[CONFIDENCE].astype(np.float64) - probs.max(axis=1)).max())
    if conf_diff > GOLDEN_PROB_TOL:
        raise BundleError(f"{name}: golden confidence is not the largest probability (max diff {conf_diff:.3g})")
    signal = outputs[SIGNAL]
    top2 = np.sort(probs, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > manifest["golden"]["atol"]
    if ((signal < 0) | (signal >= N_CLASSES)).any() or (clear & (signal != probs.argmax(axis=1))).any():
        raise BundleError(f"{name}: golden signal is not the class of the largest probability")
    return inputs, outputs


def _check_distribution(p: np.ndarray, what: str, name: str) -> None:
    """Probabilities over the last axis: each in [0, 1] and summing to 1 (within GOLDEN_PROB_TOL)."""
    low, high = float(p.min()), float(p.max())
    worst = float(np.abs(p.sum(axis=-1) - 1.0).max())
    if low < -GOLDEN_PROB_TOL or high > 1 + GOLDEN_PROB_TOL or worst > GOLDEN_PROB_TOL:
        raise BundleError(f"{name}: golden {what} are not probabilities (values in [{low:.3g}, {high:.3g}], a row sum "
                          f"off 1 by {worst:.3g}); a tampered ensemble or member")


def load_bundle(path: str | os.PathLike[str], threads: int = 0, *, trusted_key: bytes | None = None,
                expect_sha256: str | None = None) -> Bundle:
    """Read, scan, check and open a bundle with onnxruntime (CPU); see ``open_bundle`` for the pins."""
    path = Path(path)
    if expect_sha256 is not None:
        normalize_sha256(expect_sha256)  # a malformed pin is a usage error, before the file is read
    return open_bundle(read_bundle_bytes(path), path, threads, trusted_key=trusted_key,
                       expect_sha256=expect_sha256)


def open_bundle(data: bytes, path: Path, threads: int = 0, *, trusted_key: bytes | None = None,
                expect_sha256: str | None = None) -> Bundle:
    """Scan, check and open a bundle's bytes (``path`` names it in messages and in ``Bundle.path``).

    expect_sha256 : hex; the bytes' sha256 must equal it (``--expect-sha256``).
    trusted_key : a raw 32-byte Ed25519 public key; the bytes must carry a valid signature by it
        (``--trusted-key``). Without one, a signature is reported (``Bundle.signature``), not checked.
    Both pins are checked on these bytes, first: a refused bundle is never parsed further nor
    handed to onnxruntime.
    """
    name = path.name
    if expect_sha256 is not None:
        check_sha256(data, expect_sha256, name)
    if trusted_key is not None:
        signature = verify_signature(data, trusted_key, name)
    else:
        signature = find_signature(data, name)
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
    _check_golden_run(session, info, manifest, name)
    return Bundle(path, hashlib.sha256(data).hexdigest(), len(data), info, manifest, session, signature)


def import_onnxruntime() -> Any:
    """onnxruntime with its telemetry off: no ~/.cache/Microsoft/... database, no warning on a read-only HOME.

    onnxruntime 1.32 starts its telemetry when its native module loads: it creates
    ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}`` (or
    prints a warning line where HOME is read-only), and ``disable_telemetry_events()``
    afterwards does not undo that. Only ``ORT_DISABLE_TELEMETRY=1``, set before the
    first import, does; this sets it, then also disables the events (onnxruntime
    >= 1.16 has the call). Every onnxruntime import in signalpack goes through here.
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # also for child processes (Spark's workers)
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
    return ort


def _session(data: bytes, name: str, threads: int) -> Any:
    ort = import_onnxruntime()

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
        raise BundleError(f"{name}: graph inputs {printable(info.inputs, 120)} / outputs {printable(info.outputs, 200)} "
                          f"are not a signalpack bundle's ({INPUT_NAME} → {', '.join(OUTPUT_NAMES)})")
    if info.ir_version != manifest["ir_version"] or info.opsets.get("", 0) != manifest["opset"]:
        raise BundleError(f"{name}: graph IR {info.ir_version} / opset {info.opsets.get('')} differ from "
                          f"the manifest's ({manifest['ir_version']} / {manifest['opset']})")
    declared = manifest["inputs"][INPUT_NAME]["shape"]
    if declared[1:] != [manifest["window_rows"], len(BAR_COLUMNS)]:
        raise BundleError(f"{name}: the manifest's input shape {printable(declared, 80)} disagrees with its "
                          f"window_rows {manifest['window_rows']}")


_ORT_TYPES = {"float32": "tensor(float)", "int64": "tensor(int64)"}


def _check_session_against_manifest(session: Any, manifest: dict[str, Any], name: str) -> None:
    """The graph's interface as onnxruntime reads it, against the manifest: input float64 [batch, W, 5],
    each output of the manifest's type and rank, its fixed dimensions equal (the batch dimension free)."""
    inputs = session.get_inputs()
    inp = inputs[0]
    shape = list(inp.shape)
    want = [manifest["window_rows"], len(BAR_COLUMNS)]
    if (len(inputs) != 1 or inp.type != "tensor(double)" or len(shape) != 3 or shape[1:] != want
            or isinstance(shape[0], int)):
        raise BundleError(f"{name}: graph input {INPUT_NAME!r} is {printable(inp.type, 40)} {printable(shape, 80)}; "
                          f"the manifest says float64 [batch, {want[0]}, {want[1]}]")
    outs = {o.name: o for o in session.get_outputs()}
    for out, (dtype, tail) in output_specs(manifest).items():
        o = outs.get(out)
        dims = list(o.shape) if o is not None else []
        if (o is None or o.type != _ORT_TYPES[dtype] or len(dims) != 1 + len(tail) or isinstance(dims[0], int)
                or any(isinstance(d, int) and d != t for d, t in zip(dims[1:], tail, strict=True))):
            got = f"{printable(o.type, 40)} {printable(dims, 80)}" if o is not None else "missing"
            raise BundleError(f"{name}: graph output {out} is {got}; the manifest says {dtype} "
                              f"{['batch', *tail]}")


def _check_golden_run(session: Any, info: ModelInfo, manifest: dict[str, Any], name: str) -> None:
    """Run the golden inputs once, at load: a graph that fails at run time, or whose outputs' shapes or
    types differ from the manifest's in practice, is refused before anything is scored or written
    (``score run``) — not half-way through a file. Values are compared by ``verify_bundle`` only."""
    inputs, _ = read_golden(info, manifest, name)
    _GuardedSession(session, name, manifest).run(list(OUTPUT_NAMES), {INPUT_NAME: inputs[INPUT_NAME]})


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
        if self.max_abs_diff[worst] <= self.atol:  # only signals differ: say so, not a probability
            what = f"{self.signal_mismatches} of {self.count} signals differ beyond a tie"
        else:
            what = (f"{worst} max abs diff {self.max_abs_diff[worst]:.3g} > atol {self.atol:g}, "
                    f"{self.signal_mismatches} signal mismatches")
        raise VerifyMismatch(
            f"{name}: golden vectors do not reproduce: {what}; the bundle is corrupt or this runtime "
            "computes differently"
        )

    def lines(self) -> list[str]:
        out = [f"{'✓' if v <= self.atol else '✗'} {k:<22} max abs diff {v:.3g} (atol {self.atol:g})"
               for k, v in self.max_abs_diff.items()]
        out.append(f"{'✓' if not self.signal_mismatches else '✗'} {'signal':<22} "
                   f"{self.signal_mismatches} of {self.count} differ beyond a tie")
        return out


def verify_bundle(bundle: Bundle) -> VerifyReport:
    """Rerun the golden vectors and compare (``report.raise_if_failed`` turns a miss into exit 1).

    The golden vectors were checked complete and consistent when the bundle was opened
    (``read_golden``); a graph that fails or gives other shapes raises BundleError (``Bundle.run``)."""
    inputs, expected = bundle.golden()
    bars = inputs[INPUT_NAME]
    got = bundle.run(bars)
    atol = float(bundle.manifest["golden"]["atol"])
    diffs = {}
    for k in (PROBABILITIES, CONFIDENCE, MEMBER_PROBABILITIES):
        if expected[k].shape != got[k].shape:
            raise VerifyMismatch(f"{bundle.path.name}: {k} has shape {list(got[k].shape)}, "
                                 f"golden vectors expect {list(expected[k].shape)}")
        diffs[k] = float(np.abs(expected[k].astype(np.float64) - got[k]).max(initial=0.0))
        if not math.isfinite(diffs[k]):  # NaN from the graph: a difference, not a pass
            diffs[k] = math.inf
    if expected[SIGNAL].shape != got[SIGNAL].shape:
        raise VerifyMismatch(f"{bundle.path.name}: {SIGNAL} has shape {list(got[SIGNAL].shape)}, "
                             f"golden vectors expect {list(expected[SIGNAL].shape)}")
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
                  "ops": dict(sorted(Counter(bundle.info.op_types).items()))},
        "manifest": bundle.manifest,
        "signature": bundle.signature.to_dict() if bundle.signature is not None else None,
    }

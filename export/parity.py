"""The parity gate: the Keras ensemble (scaler applied as in training) against onnxruntime.

Separate from conversion (as in Optimum's exporter): ``keras_reference`` and
``onnx_outputs`` produce the two sides, ``compare`` measures every output and
every member, and ``ParityReport.raise_if_failed`` raises one ``ParityError``
listing everything that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signalpack.errors import ParityError, RunDirError, first_line
from signalpack.score.contract import (
    ATOL_FOR_VALIDATION,
    CONFIDENCE,
    INPUT_NAME,
    MEMBER_PROBABILITIES,
    PROBABILITIES,
    SIGNAL,
)
from signalpack.train.ensemble import ensemble_predict, member_predict
from signalpack.train.scaler import Scaler

__all__ = [
    "ParityReport",
    "check_parity",
    "compare",
    "keras_reference",
    "load_members",
    "onnx_outputs",
    "run_parity",
]


def load_members(run_dir: Path, meta: dict[str, Any]) -> list[Any]:
    """Load the members with ``safe_mode=True`` (no arbitrary code from the files)."""
    import keras

    models = []
    for m in meta["ensemble"]["members"]:
        path = run_dir / m["file"]
        try:
            models.append(keras.saving.load_model(path, compile=False, safe_mode=True))
        except Exception as exc:  # keras raises many kinds for a corrupt file
            raise RunDirError(f"{path}: not a loadable Keras model ({type(exc).__name__}: {first_line(exc)})") from exc
    return models


def keras_reference(
    models: list[Any], scaler: Scaler, weights: list[float], windows: np.ndarray
) -> dict[str, np.ndarray]:
    """The four outputs, computed the way training computed them (float32 scaling, weighted sum)."""
    scaled = scaler.transform(windows)
    members = [member_predict(m, scaled) for m in models]
    probs = ensemble_predict(members, weights)
    return {
        PROBABILITIES: probs,
        SIGNAL: probs.argmax(axis=1).astype(np.int64),
        CONFIDENCE: probs.max(axis=1).astype(np.float32),
        MEMBER_PROBABILITIES: np.stack(members, axis=1).astype(np.float32),
    }


def onnx_outputs(model_bytes: bytes, bars: np.ndarray, batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Every output of the bundle graph on raw-bar windows (float64 [n, W, 5])."""
    from signalpack.score.bundle import import_onnxruntime

    ort = import_onnxruntime()  # telemetry off

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for start in range(0, max(len(bars), 1), batch_size):
        chunk = np.ascontiguousarray(bars[start : start + batch_size], dtype=np.float64)
        if len(chunk) == 0:
            break
        for n, v in zip(names, sess.run(names, {INPUT_NAME: chunk}), strict=True):
            parts[n].append(v)
    return {n: np.concatenate(v) if v else np.zeros((0,)) for n, v in parts.items()}


@dataclass
class ParityReport:
    atol: float
    n_windows: int
    outputs: dict[str, dict[str, float]]
    members: list[dict[str, float]]
    label_agreement: float
    label_disagreements: int
    label_disagreements_beyond_tie: int
    worst: list[dict[str, Any]] = field(default_factory=list)

    @property
    def max_abs_diff(self) -> float:
        return max(v["max_abs_diff"] for k, v in self.outputs.items() if k != SIGNAL)

    @property
    def failures(self) -> list[str]:
        out = [
            f"{name}: max abs diff {v['max_abs_diff']:.3g} > atol {self.atol:g}"
            for name, v in self.outputs.items()
            if name != SIGNAL and v["max_abs_diff"] > self.atol
        ]
        if self.label_disagreements_beyond_tie:
            out.append(f"signal: {self.label_disagreements_beyond_tie} windows disagree where the "
                       f"top two probabilities differ by more than {self.atol:g}")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, Any]:
        """Compact, reproducible form for the manifest (3 significant digits)."""
        return {
            "passed": self.passed,
            "atol": self.atol,
            "windows": self.n_windows,
            "max_abs_diff": {k: _sig(v["max_abs_diff"]) for k, v in self.outputs.items() if k != SIGNAL},
            "member_max_abs_diff": [_sig(m["max_abs_diff"]) for m in self.members],
            "label_agreement": round(self.label_agreement, 6),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "outputs": self.outputs,
            "members": self.members,
            "label_disagreements": self.label_disagreements,
            "label_disagreements_beyond_tie": self.label_disagreements_beyond_tie,
            "worst_windows": self.worst,
        }

    def lines(self) -> list[str]:
        out = []
        for name, v in self.outputs.items():
            if name == SIGNAL:
                continue
            mark = "✓" if v["max_abs_diff"] <= self.atol else "✗"
            out.append(f"{mark} {name:<22} max abs diff {v['max_abs_diff']:.3g}  mean {v['mean_abs_diff']:.3g}")
        for k, m in enumerate(self.members):
            out.append(f"  member {k:<15} max abs diff {m['max_abs_diff']:.3g}  mean {m['mean_abs_diff']:.3g}")
        mark = "✓" if not self.label_disagreements_beyond_tie else "✗"
        out.append(f"{mark} signal                 agreement {self.label_agreement:.4%} "
                   f"({self.label_disagreements} differ, {self.label_disagreements_beyond_tie} beyond a tie)")
        out.append(f"{'PASSED' if self.passed else 'FAILED'}: {self.n_windows} windows, atol {self.atol:g}")
        return out

    def raise_if_failed(self) -> None:
        if not self.passed:
            raise ParityError("parity gate failed: " + "; ".join(self.failures))


def _sig(x: float) -> float:
    return float(f"{x:.3g}")


def compare(
    ref: dict[str, np.ndarray], got: dict[str, np.ndarray], atol: float = ATOL_FOR_VALIDATION,
    index: list[dict[str, Any]] | None = None, n_worst: int = 5,
) -> ParityReport:
    """Max and mean absolute difference per output and per member; label agreement; worst windows."""
    outputs = {}
    for name in (PROBABILITIES, CONFIDENCE, MEMBER_PROBABILITIES):
        d = np.abs(ref[name].astype(np.float64) - got[name].astype(np.float64))
        outputs[name] = {"max_abs_diff": float(d.max(initial=0.0)), "mean_abs_diff": float(d.mean()) if d.size else 0.0}
    mp = np.abs(ref[MEMBER_PROBABILITIES].astype(np.float64) - got[MEMBER_PROBABILITIES])
    members = [
        {"max_abs_diff": float(mp[:, k].max(initial=0.0)), "mean_abs_diff": float(mp[:, k].mean()) if mp.size else 0.0}
        for k in range(mp.shape[1])
    ]
    disagree = ref[SIGNAL] != got[SIGNAL]
    top2 = np.sort(ref[PROBABILITIES], axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    beyond = disagree & (margin > atol)
    outputs[SIGNAL] = {"max_abs_diff": float(disagree.any()), "mean_abs_diff": float(disagree.mean()) if len(disagree) else 0.0}
    per_window = np.abs(ref[PROBABILITIES].astype(np.float64) - got[PROBABILITIES]).max(axis=1, initial=0.0)
    worst = []
    for i in np.argsort(-per_window, kind="stable")[:n_worst]:
        row = {"window": int(i), "max_abs_diff": float(per_window[i]),
               "keras_signal": int(ref[SIGNAL][i]), "onnx_signal": int(got[SIGNAL][i])}
        if index is not None:
            row.update(index[int(i)])
        worst.append(row)
    n = len(disagree)
    return ParityReport(
        atol=atol, n_windows=n, outputs=outputs, members=members,
        label_agreement=float(1 - disagree.mean()) if n else 1.0,
        label_disagreements=int(disagree.sum()), label_disagreements_beyond_tie=int(beyond.sum()),
        worst=worst,
    )


def check_parity(
    run_dir: Path, meta: dict[str, Any], bundle_bytes: bytes, windows: np.ndarray, bars: np.ndarray,
    atol: float = ATOL_FOR_VALIDATION, index: list[dict[str, Any]] | None = None,
) -> tuple[ParityReport, dict[str, np.ndarray]]:
    """Keras on polars feature ``windows`` (raw float32) against the bundle on the same windows' raw
    ``bars`` (float64 [n, W, 5]); returns the report and the Keras outputs.

    meta : the run directory's metadata, as ``check_run_dir`` returned it.
    """
    if len(windows) != len(bars):
        raise ValueError(f"internal: {len(windows)} feature windows but {len(bars)} bar windows")
    models = load_members(run_dir, meta)
    scaler = Scaler.load(run_dir / "scaler.json")
    ref = keras_reference(models, scaler, meta["ensemble"]["weights"], windows)
    got = onnx_outputs(bundle_bytes, bars)
    return compare(ref, got, atol, index), ref


def run_parity(
    run_dir: Path, bundle_path: Path, data: Path | None = None, atol: float = ATOL_FOR_VALIDATION,
    report_path: Path | None = None,
) -> ParityReport:
    """The `signalpack parity` job: test-segment windows of the run, or every window of ``data``."""
    import json

    from signalpack.atomic import atomic_write_bytes
    from signalpack.score.bar_windows import raw_windows
    from signalpack.score.bundle import read_bundle_bytes
    from signalpack.score.features import FeatureSpec, compute_features
    from signalpack.score.io import load_ohlcv
    from signalpack.score.windows import symbol_windows
    from signalpack.train.rundir import TEST_BARS, TEST_WINDOWS, check_run_dir, read_npy

    run_dir, bundle_path = Path(run_dir), Path(bundle_path)
    meta = check_run_dir(run_dir)
    model_bytes = read_bundle_bytes(bundle_path)
    if data is None:
        windows, bars = read_npy(run_dir / TEST_WINDOWS), read_npy(run_dir / TEST_BARS)
        index = None
    else:
        spec = FeatureSpec.from_json((run_dir / "feature_spec.json").read_text(encoding="utf-8"))
        loaded = load_ohlcv(data, min_rows=spec.lookback + meta["seq_len"])
        windows, idx = symbol_windows(compute_features(loaded.frame, spec), spec.names, meta["seq_len"])
        bars, _ = raw_windows(loaded.frame, spec.lookback, meta["seq_len"])  # the same windows, same order
        index = [{"symbol": s, "timestamp": t.isoformat()} for s, t in idx.iter_rows()]
    report, _ = check_parity(run_dir, meta, model_bytes, windows, bars, atol, index)
    if report_path is not None:
        doc = {"bundle": bundle_path.name, "data": str(data) if data else "test segment", **report.to_dict()}
        atomic_write_bytes(report_path, (json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n").encode(),
                           overwrite=True)
    return report

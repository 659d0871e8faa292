"""The feature-parity gate: the ONNX feature graph against ``compute_features`` (polars), feature by feature.

``feature_parity`` cuts the frame into raw-bar windows (``raw_windows``), runs the
graph with onnxruntime on the CPU, and compares every window's seq_len steps with
the polars features of the same rows. The report gives, per feature, the largest
absolute and relative differences, and fails every feature with a value outside
``|graph - polars| <= FEATURE_ATOL + FEATURE_RTOL * |polars|`` (NaN or inf fails).

Flat windows: the standard deviation of equal values whose mean is not exact in
floating point (volume 1 for 5 bars, a close of 1.1 for 20 bars) is rounding
noise, different on each side. Both sides treat a std at most
``features.FLAT_RTOL`` x |mean| as 0 where it divides (volume z-scores,
Bollinger position), so such windows give exactly 0 on both (feature set 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from signalpack.errors import ParityError
from signalpack.score.bar_windows import BAR_COLUMNS, raw_windows
from signalpack.score.features import FeatureSpec, compute_features

__all__ = [
    "FEATURE_ATOL", "FEATURE_RTOL", "FeatureDiff", "FeatureParityReport", "feature_parity", "graph_features",
    "polars_features", "polars_window_features", "window_feature_parity",
]

FEATURE_RTOL = 1e-9
"""Relative tolerance of the gate (float64 on both sides).

The graph cannot be bit-exact: it sums in another order than polars (a MatMul
instead of a left fold), takes log returns as differences of ln(close), computes
standard deviations from sums of squares, and onnxruntime's Log differs from
libm's by an ulp. On the S&P 500, GOOG and EUR/USD test data the worst relative
difference of a value that is not near zero is ~1e-10, so 1e-9 leaves a margin
of 10 while staying 60 times below float32's half-ulp (6e-8): the model reads
its features as float32, so values within the gate reach it identically or one
float32 ulp apart.
"""
FEATURE_ATOL = 1e-10
"""Absolute floor of the gate, for values at or near 0, where relative error means nothing.

Some features are differences of nearly equal numbers divided by a small
spread: (close - SMA) / std, (ln(1 + v) - mean) / std. Their absolute error is
about eps * |close| / std whatever their value, up to ~7e-13 on the test data
and ~1e-11 for very quiet series (close / std ~ 1e5). 1e-10 covers that, and is
still far below any feature's meaningful scale and float32's resolution of the
scaled inputs (~1e-7): a wrong window, row or formula differs by 1e-6 or more.
"""


@dataclass(frozen=True)
class FeatureDiff:
    """One feature's comparison over every window and step."""

    name: str
    max_abs: float
    max_rel: float
    """max |graph - polars| / |polars| over values whose polars value is not exactly 0 (an exact 0
    against 1e-16 would read as 1e+292; those values are judged by the absolute floor alone)."""
    tolerance_used: float
    """max |graph - polars| / (atol + rtol * |polars|): the gate fails a feature above 1."""
    failing: int
    """Values outside the tolerance (NaN and inf count)."""
    worst_row: int
    """Frame row of the largest |graph - polars| / (atol + rtol * |polars|)."""

    @property
    def passed(self) -> bool:
        return self.failing == 0


@dataclass
class FeatureParityReport:
    rtol: float
    atol: float
    windows: int
    seq_len: int
    features: list[FeatureDiff] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.features)

    @property
    def failures(self) -> list[str]:
        return [
            f"{f.name}: {f.failing} values beyond atol {self.atol:g} + rtol {self.rtol:g} x |polars| "
            f"(max abs {f.max_abs:.3g}, max rel {f.max_rel:.3g}, worst at frame row {f.worst_row})"
            for f in self.features
            if not f.passed
        ]

    @property
    def worst(self) -> FeatureDiff:
        """The feature closest to (or furthest beyond) its tolerance."""
        return max(self.features, key=lambda f: f.tolerance_used)

    def lines(self) -> list[str]:
        """One line per feature, e.g. ``✓ vol_20  max abs 3.1e-17  max rel 2.2e-15``."""
        width = max((len(f.name) for f in self.features), default=0)
        return [
            f"{'✓' if f.passed else '✗'} {f.name:<{width}}  max abs {f.max_abs:.1e}  max rel {f.max_rel:.1e}"
            + ("" if f.passed else f"  ({f.failing} values beyond tolerance)")
            for f in self.features
        ]

    def summary(self) -> dict[str, Any]:
        """What the manifest records (``feature_parity``): the tolerance, the worst figures, and per feature."""
        return {
            "passed": self.passed, "rtol": self.rtol, "atol": self.atol, "windows": self.windows,
            "max_abs": max((f.max_abs for f in self.features), default=0.0),
            "max_rel": max((f.max_rel for f in self.features), default=0.0),
            "features": {f.name: {"max_abs": f.max_abs, "max_rel": f.max_rel} for f in self.features},
        }

    def raise_if_failed(self) -> None:
        if not self.passed:
            raise ParityError(
                f"feature graph differs from compute_features on {len(self.failures)} of "
                f"{len(self.features)} features ({self.windows} windows x {self.seq_len} steps): "
                + "; ".join(self.failures)
            )


def graph_features(model: Any, windows: np.ndarray, batch_size: int = 512, output: str | None = None) -> np.ndarray:
    """Run a feature graph (ModelProto or bytes) with onnxruntime on the CPU: [n, W, 5] → [n, S, F].

    output : the output holding the features (default: the graph's first output).
    """
    from signalpack.score.bundle import import_onnxruntime

    ort = import_onnxruntime()  # telemetry off

    data = model if isinstance(model, bytes | bytearray) else model.SerializeToString()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(bytes(data), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    wanted = [output or sess.get_outputs()[0].name]
    parts = [sess.run(wanted, {name: windows[i : i + batch_size]})[0] for i in range(0, len(windows), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 0, 0))


def polars_features(frame: pl.DataFrame, spec: FeatureSpec, ends: np.ndarray, seq_len: int) -> np.ndarray:
    """``compute_features`` at the rows of each window's last seq_len steps: [n, S, F]."""
    rows = "__feature_parity_row"
    ref = compute_features(frame.with_row_index(rows), spec)
    at = np.full(frame.height, -1, dtype=np.int64)
    at[ref.get_column(rows).to_numpy()] = np.arange(ref.height)
    idx = at[ends[:, None] - (seq_len - 1) + np.arange(seq_len)[None, :]]
    if (idx < 0).any():
        raise ValueError("internal: a window step falls in a symbol's warm-up rows")
    return ref.select(spec.names).to_numpy()[idx]


def feature_parity(
    model: Any,
    frame: pl.DataFrame,
    spec: FeatureSpec,
    seq_len: int,
    batch_size: int = 512,
    rtol: float = FEATURE_RTOL,
    atol: float = FEATURE_ATOL,
) -> FeatureParityReport:
    """Compare the graph's features with ``compute_features(frame, spec)`` on every window of ``frame``.

    model : the feature graph (``onnx.ModelProto`` or its bytes), input [batch, W, 5].
    frame : a checked, (symbol, timestamp)-sorted OHLCV frame (``load_ohlcv(path).frame``).
    """
    windows, ends = raw_windows(frame, spec.lookback, seq_len)
    if len(windows) == 0:
        raise ValueError(f"the frame holds no window of {spec.lookback + seq_len} rows of one symbol")
    got = graph_features(model, windows, batch_size)
    want = polars_features(frame, spec, ends, seq_len)
    step_rows = ends[:, None] - (seq_len - 1) + np.arange(seq_len)[None, :]
    return _compare(got, want, spec.names, step_rows, rtol, atol)


def polars_window_features(windows: np.ndarray, spec: FeatureSpec, seq_len: int) -> np.ndarray:
    """``compute_features`` of each raw-bar window on its own, at its last seq_len rows: [n, S, F].

    Every window becomes a symbol of its own, so one polars call computes them all, and each
    window's features can read nothing but its own W rows (the look-back is finite).
    """
    n, width, _ = windows.shape
    flat = windows.reshape(n * width, len(BAR_COLUMNS))
    frame = pl.DataFrame({
        "symbol": np.repeat(np.arange(n, dtype=np.int64), width),
        "timestamp": np.tile(np.arange(width, dtype=np.int64), n),
        **{c: flat[:, k] for k, c in enumerate(BAR_COLUMNS)},
    })
    feats = compute_features(frame, spec)
    if feats.height != n * seq_len:
        raise ValueError(f"internal: {feats.height} feature rows for {n} windows of {seq_len} steps")
    return feats.select(spec.names).to_numpy().reshape(n, seq_len, spec.n_features)


def window_feature_parity(
    model: Any, windows: np.ndarray, spec: FeatureSpec, seq_len: int, output: str | None = None,
    batch_size: int = 512, rtol: float = FEATURE_RTOL, atol: float = FEATURE_ATOL,
) -> FeatureParityReport:
    """Compare a graph's features with ``polars_window_features`` on given raw-bar windows (export's gate).

    model : a graph with input [batch, W, 5] whose ``output`` holds the features (the bundle graph
        with its float64 feature tensor exposed, or a standalone feature graph).
    The report's ``worst_row`` is ``window index * seq_len + step``.
    """
    if len(windows) == 0:
        raise ValueError("no window to compare")
    got = graph_features(model, windows, batch_size, output)
    want = polars_window_features(windows, spec, seq_len)
    step_rows = np.arange(len(windows) * seq_len).reshape(len(windows), seq_len)
    return _compare(got, want, spec.names, step_rows, rtol, atol)


def _compare(got: np.ndarray, want: np.ndarray, names: list[str], step_rows: np.ndarray,
             rtol: float, atol: float) -> FeatureParityReport:
    """Per feature: max abs and relative difference, the share of the tolerance used, failures."""
    n, seq_len = want.shape[:2]
    report = FeatureParityReport(rtol, atol, n, seq_len)
    if got.shape != want.shape:
        raise ParityError(f"feature graph output has shape {got.shape}, expected {want.shape}")
    diff = np.abs(got - want)
    diff = np.where(np.isnan(diff), np.inf, diff)
    scale = np.abs(want)
    used = diff / (atol + rtol * scale)
    rel = np.where(scale > 0, diff / np.maximum(scale, np.finfo(np.float64).tiny), 0.0)
    for k, name in enumerate(names):
        worst = np.unravel_index(int(np.argmax(used[..., k])), used.shape[:2])
        report.features.append(
            FeatureDiff(
                name=name,
                max_abs=float(diff[..., k].max()),
                max_rel=float(rel[..., k].max()),
                tolerance_used=float(used[..., k].max()),
                failing=int((used[..., k] > 1.0).sum()),
                worst_row=int(step_rows[worst]),
            )
        )
    return report

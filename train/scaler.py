"""StandardScaler fitted on training rows only, stored as JSON (never pickled).

Scaling is applied in float32, ``(x - mean) / scale``, exactly as the exported
ONNX graph's Sub/Div does, so Keras and onnxruntime see the same inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Scaler", "fit_scaler"]


@dataclass(frozen=True)
class Scaler:
    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    n_samples_seen: int

    def transform(self, x: np.ndarray) -> np.ndarray:
        """x : float array of shape (..., n_features) → float32, scaled."""
        x32 = np.asarray(x, dtype=np.float32)
        return (x32 - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "n_samples_seen": self.n_samples_seen,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        return cls(tuple(d["feature_names"]), tuple(map(float, d["mean"])),
                   tuple(map(float, d["scale"])), int(d["n_samples_seen"]))

    @classmethod
    def load(cls, path: Path) -> Scaler:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def to_sklearn(self) -> Any:
        """The equivalent fitted sklearn StandardScaler (for skl2onnx at export)."""
        from sklearn.preprocessing import StandardScaler

        sk = StandardScaler()
        sk.mean_ = np.asarray(self.mean, dtype=np.float64)
        sk.scale_ = np.asarray(self.scale, dtype=np.float64)
        sk.var_ = sk.scale_**2
        sk.n_features_in_ = len(self.mean)
        sk.n_samples_seen_ = self.n_samples_seen
        return sk


def fit_scaler(x_train: np.ndarray, feature_names: list[str]) -> Scaler:
    """Fit sklearn's StandardScaler on training rows (float32 values, as the model sees them).

    A constant feature gets scale 1.0 (sklearn's rule), never 0.
    """
    from sklearn.preprocessing import StandardScaler

    sk = StandardScaler().fit(np.asarray(x_train, dtype=np.float32).astype(np.float64))
    return Scaler(tuple(feature_names), tuple(map(float, sk.mean_)), tuple(map(float, sk.scale_)),
                  int(sk.n_samples_seen_))

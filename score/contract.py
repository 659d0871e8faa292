"""The shared contract: every name and constant that more than one part of signalpack must agree on.

Training, export, evaluation, the scorer, the Spark engine and the JSON Schemas all
speak about the same classes, tensors, columns and metadata keys. They are defined
here once, in the scorer's layer (the base every other package depends on), and
imported everywhere else; a test checks the schemas agree with these names.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATOL_FOR_VALIDATION",
    "BARS_INPUT_NAME",
    "BAR_COLUMNS",
    "BUY",
    "CLASS_NAMES",
    "CONFIDENCE",
    "DEFAULT_OPSET",
    "FEATURES_NAME",
    "GOLDEN_KEY",
    "HOLD",
    "INPUT_NAME",
    "IR_VERSION",
    "KEY_COLUMNS",
    "MANIFEST_FORMAT_VERSION",
    "MANIFEST_KEY",
    "MAX_ATOL",
    "MAX_OPSET",
    "MAX_WINDOW_ROWS",
    "MEMBER_PROBABILITIES",
    "METADATA_FORMAT_VERSION",
    "MIN_OPSET",
    "N_CLASSES",
    "OUTPUT_COLUMNS",
    "OUTPUT_NAMES",
    "PROBABILITIES",
    "PROB_COLUMNS",
    "SELL",
    "SIGNAL",
    "SUPPORTED_MANIFEST_VERSIONS",
]

# --------------------------------------------------------------------------- classes

CLASS_NAMES: Final[tuple[str, str, str]] = ("SELL", "HOLD", "BUY")
"""Class order used everywhere (labels, probabilities, signals): SELL=0, HOLD=1, BUY=2."""
SELL: Final = 0
HOLD: Final = 1
BUY: Final = 2
N_CLASSES: Final = len(CLASS_NAMES)

# --------------------------------------------------------------------------- the graph's interface

INPUT_NAME: Final = "ohlcv"
"""The graph's only input (bundle format 2): raw bars, float64 [batch, W, 5], columns ``BAR_COLUMNS``,
oldest row first, W = the features' look-back + seq_len rows of one symbol."""
FEATURES_NAME: Final = "features"
"""The graph's internal tensor that feeds the scaler: features, float32 [batch, seq_len, n_features]
(format 1's input)."""
PROBABILITIES: Final = "probabilities"
SIGNAL: Final = "signal"
CONFIDENCE: Final = "confidence"
MEMBER_PROBABILITIES: Final = "member_probabilities"
OUTPUT_NAMES: Final = (PROBABILITIES, SIGNAL, CONFIDENCE, MEMBER_PROBABILITIES)
"""The graph's outputs, in this order: [batch, 3] float32, [batch] int64, [batch] float32,
[batch, members, 3] float32."""

BAR_COLUMNS: Final = ("open", "high", "low", "close", "volume")
"""Column order of a raw-bar window (last axis), the input of the in-graph features (bundle format 2)."""
BARS_INPUT_NAME: Final = INPUT_NAME
"""Name of the raw-bar input of an in-graph feature model: float64 [batch, lookback + seq_len, 5]."""
MAX_WINDOW_ROWS: Final = 4096
"""The most rows one window may read (look-back + seq_len): bounds the memory a bundle can ask for."""

# --------------------------------------------------------------------------- scored output

PROB_COLUMNS: Final = tuple(f"prob_{c.lower()}" for c in CLASS_NAMES)
"""``prob_sell``, ``prob_hold``, ``prob_buy``."""
KEY_COLUMNS: Final = ("symbol", "timestamp")
OUTPUT_COLUMNS: Final = (*KEY_COLUMNS, *PROB_COLUMNS, "signal", "confidence", "actionable", "model_id")
"""One row of ``score run`` output, in column order (schemas/output.schema.json)."""

# --------------------------------------------------------------------------- bundle metadata

MANIFEST_KEY: Final = "signalpack.manifest"
GOLDEN_KEY: Final = "signalpack.golden"
MANIFEST_FORMAT_VERSION: Final = 2
"""2: raw bars in (features inside the graph). 1: features in (computed by the scorer), no longer scored."""
SUPPORTED_MANIFEST_VERSIONS: Final = (2,)
METADATA_FORMAT_VERSION: Final = 2
"""Format version of a run directory's metadata.json."""

IR_VERSION: Final = 8
"""ONNX IR version every bundle declares: onnxruntime 1.16+ and onnxruntime-node load it
(onnx 1.23 would otherwise stamp IR 14, which older runtimes refuse)."""
DEFAULT_OPSET: Final = 17
MIN_OPSET: Final = 14
MAX_OPSET: Final = 17
"""Default-domain opsets export supports: the in-graph features keep ReduceMin/ReduceMax ``axes``
as an attribute, which opset 18 moved to an input."""

# --------------------------------------------------------------------------- tolerance

ATOL_FOR_VALIDATION: Final = 1e-5
"""The one parity tolerance (max abs diff) between the Keras ensemble and the ONNX graph; export's
``--atol`` overrides it and the value used is recorded in the manifest for ``score verify``."""
MAX_ATOL: Final = 0.01
"""The loosest tolerance export accepts (and the manifest schema allows): beyond it a probability
difference could flip a signal that is not a near-tie."""

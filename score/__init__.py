"""signalpack scorer: TensorFlow-free loading, features, windows and (later) ONNX scoring.

Nothing under ``score/`` may import TensorFlow, Keras, scikit-learn, tf2onnx or skl2onnx:
the scorer is what ``pip install .`` installs on machines that never train.
"""

__version__ = "0.1.0"
CLASS_NAMES: tuple[str, str, str] = ("SELL", "HOLD", "BUY")
"""Class order used everywhere: SELL=0, HOLD=1, BUY=2."""

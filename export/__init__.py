"""signalpack export: Keras run directory → one ONNX bundle (next issue)."""

"""signalpack export: a Keras run directory → one ONNX bundle, with the parity gate."""

"""signalpack scorer: TensorFlow-free loading, features, windows, ONNX scoring and the shared contract.

Nothing under ``signalpack.score`` may import TensorFlow, Keras, scikit-learn, tf2onnx or
skl2onnx, nor signalpack's training, export or evaluation packages: the scorer is what
``pip install .`` is for on machines that never train. A test checks both rules.
"""

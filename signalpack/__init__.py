"""signalpack: portable ONNX packaging and batch scoring for a SELL/HOLD/BUY trading-signal model.

One installed namespace; the repository's top-level folders are its subpackages:

- ``signalpack.score``       the TensorFlow-free scorer and the shared contract (``score.contract``)
- ``signalpack.train``       training (TensorFlow): features → labels → split → members → run directory
- ``signalpack.evaluation``  metrics beside baselines, trading simulation, Sharpe statistics, reports
- ``signalpack.export``      run directory → one ONNX bundle, with the parity gate
- ``signalpack.schemas``     JSON Schemas for every contract
- ``signalpack.errors`` / ``signalpack.atomic``  the neutral base: error classes, atomic writes
- ``signalpack.cli``         the ``signalpack`` command (the scorer's is ``signalpack.score.cli``)

Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"

"""signalpack training side (TensorFlow): config, labels, split, dataset, scaler, members, ensemble,
run directory and the training pipeline. Evaluation lives in ``signalpack.evaluation``; export in
``signalpack.export``, which this package never imports.

Heavy imports (tensorflow, keras, sklearn) happen inside the functions that need
them, so importing a module here never drags TensorFlow in by accident.
"""

import os as _os

# Before TensorFlow is ever imported: quiet C++ logging, and oneDNN's custom ops off,
# so CPU numerics are the reference kernels (reproducible, and what parity is measured on).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

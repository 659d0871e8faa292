"""signalpack training side (TensorFlow): labels, split, members, ensemble, evaluation, simulation.

Heavy imports (tensorflow, keras, sklearn) happen inside the functions that need
them, so importing a module here never drags TensorFlow in by accident.
"""

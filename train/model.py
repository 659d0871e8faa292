"""One ensemble member: LSTM → [BatchNorm] → Dropout → Dense(32, relu) → Dense(16, relu) → Dense(3, softmax).

With ``linear_skip`` a linear map of the window's last step is added to the output logits (a wide path).
"""

from __future__ import annotations

from typing import Any

from signalpack.train.config import ModelConfig

__all__ = ["build_member", "configure_determinism"]


def configure_determinism(seed: int) -> None:
    """Seed Python, numpy and TensorFlow and force deterministic ops (CPU).

    Same config and data → the same weights, bit for bit.
    """
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no retracing chatter from per-member predict
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_member(n_features: int, cfg: ModelConfig, learning_rate: float,
                 wide: tuple[Any, Any] | None = None) -> Any:
    """A compiled Keras model; inputs are scaled features of shape (seq_len, n_features).

    wide : with ``linear_skip_mode = "residual"``, the wide path's (kernel (n_features, 3), bias (3,)):
        set and frozen, while the deep path's output layer starts at zero, so the untrained member
        is exactly that linear model.

    Gaussian noise and the dropouts act in
    training only: at inference the graph is a plain LSTM and dense layers (the export's fused LSTM op).
    """
    import keras

    layers: list[Any] = [keras.Input(shape=(cfg.seq_len, n_features), name="features")]
    if cfg.input_noise > 0:
        layers.append(keras.layers.GaussianNoise(cfg.input_noise, name="input_noise"))
    layers.append(keras.layers.LSTM(cfg.lstm_units, dropout=cfg.input_dropout,
                                    recurrent_dropout=cfg.recurrent_dropout, name="lstm"))
    if cfg.batch_norm:
        layers.append(keras.layers.BatchNormalization(name="batch_norm"))
    layers.append(keras.layers.Dropout(cfg.dropout, name="dropout"))
    layers += [
        keras.layers.Dense(u, activation="relu", name=f"dense_{i}")
        for i, u in enumerate(cfg.dense_units)
    ]
    if cfg.linear_skip:
        model = _with_linear_skip(layers, cfg.seq_len, residual=cfg.linear_skip_mode == "residual")
        if cfg.linear_skip_mode == "residual":
            if wide is None:
                raise ValueError("linear_skip_mode 'residual' needs the wide path's weights")
            model.get_layer("wide_logits").set_weights([w.astype("float32") for w in wide])
    else:
        layers.append(keras.layers.Dense(3, activation="softmax", name="probabilities"))
        model = keras.Sequential(layers, name="member")
    optimizer = (keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=cfg.weight_decay)
                 if cfg.weight_decay > 0 else keras.optimizers.Adam(learning_rate=learning_rate))
    # integer labels unless smoothing needs one-hot ones (``ensemble.fit_labels``): the default
    # loss stays sparse cross-entropy, so the default run's weights stay what they were, bit for bit
    loss = (keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing) if cfg.label_smoothing > 0
            else "sparse_categorical_crossentropy")
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _with_linear_skip(layers: list[Any], seq_len: int, residual: bool = False) -> Any:
    """The member with a wide path (Wide & Deep): softmax(deep logits + W · last step's features + b).

    The deep path is ``layers`` (the input and the hidden layers) and a linear output Dense; the
    softmax comes after the sum. The wide path is a linear map of the window's last step, the logistic regression's
    input. Built from plain layers (Cropping1D, Flatten, Dense, Add): no Lambda, so the saved
    member loads with ``safe_mode=True``, and the export still holds one fused LSTM op.
    ``residual``: the wide Dense is frozen (the caller sets its weights) and the deep output
    Dense starts at zero.
    """
    import keras

    inputs, *hidden = layers
    h = inputs
    for layer in hidden:
        h = layer(h)
    start = "zeros" if residual else "glorot_uniform"
    deep = keras.layers.Dense(3, kernel_initializer=start, name="deep_logits")(h)
    last = keras.layers.Cropping1D((seq_len - 1, 0), name="last_step")(inputs)
    wide = keras.layers.Dense(3, trainable=not residual, name="wide_logits")(keras.layers.Flatten(name="last_step_flat")(last))
    out = keras.layers.Activation("softmax", name="probabilities")(keras.layers.Add(name="logits")([deep, wide]))
    return keras.Model(inputs, out, name="member")

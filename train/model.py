"""One ensemble member: LSTM → BatchNorm → Dropout → Dense(32, relu) → Dense(16, relu) → Dense(3, softmax)."""

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


def build_member(n_features: int, cfg: ModelConfig, learning_rate: float) -> Any:
    """A compiled Keras model; inputs are scaled features of shape (seq_len, n_features)."""
    import keras

    layers = [
        keras.Input(shape=(cfg.seq_len, n_features), name="features"),
        keras.layers.LSTM(cfg.lstm_units, name="lstm"),
        keras.layers.BatchNormalization(name="batch_norm"),
        keras.layers.Dropout(cfg.dropout, name="dropout"),
    ]
    layers += [
        keras.layers.Dense(u, activation="relu", name=f"dense_{i}")
        for i, u in enumerate(cfg.dense_units)
    ]
    layers.append(keras.layers.Dense(3, activation="softmax", name="probabilities"))
    model = keras.Sequential(layers, name="member")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model

"""Train the ensemble members and weight them by validation macro-F1."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from signalpack.train.config import ModelConfig
from signalpack.train.model import build_member, configure_determinism

__all__ = [
    "WEIGHT_METRIC", "MemberResult", "ensemble_predict", "ensemble_weights", "logistic_start", "member_predict",
    "train_members",
]

log = logging.getLogger("signalpack.train")

WEIGHT_METRIC = "validation macro-F1"


@dataclass
class MemberResult:
    model: Any
    learning_rate: float
    seed: int
    history: list[dict[str, float]]
    best_epoch: int
    start_val_loss: float | None = None
    """Residual wide path: the validation loss of the untrained member (the logistic regression),
    its epoch 0. None: a random start."""


def train_members(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    class_weight: dict[int, float],
    cfg: ModelConfig,
    seed: int,
) -> list[MemberResult]:
    """Fit one member per learning rate, each with its own seed (seed + i).

    x_* : float32 arrays of shape (n_windows, seq_len, n_features), already scaled.
    """
    import keras

    members = []
    residual = cfg.linear_skip and cfg.linear_skip_mode == "residual"
    weights = class_weight if cfg.class_weighting == "balanced" else None
    wide = logistic_start(x_train[:, -1, :], y_train, weights) if residual else None
    for i, lr in enumerate(cfg.learning_rates):
        member_seed = seed + i
        configure_determinism(member_seed)
        model = build_member(x_train.shape[2], cfg, lr, wide=wide)
        # residual: the untrained member (the logistic regression) competes with every epoch
        start = (float(model.evaluate(x_val, fit_labels(y_val, cfg), batch_size=4096, verbose=0)[0])
                 if residual else None)
        callbacks = [
            _early_stopping(cfg.patience, start, model.get_weights() if residual else None),
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=cfg.lr_factor, patience=cfg.lr_patience,
                min_lr=cfg.min_lr,
            ),
            _epoch_logger(i, len(cfg.learning_rates), lr, cfg.max_epochs),
        ]
        if cfg.warmup_epochs > 0:
            callbacks.insert(0, _warmup(lr, cfg.warmup_epochs))
        if cfg.ema_decay > 0:
            callbacks.insert(0, _weight_average(cfg.ema_decay))  # first: early stopping must see the average
        hist = model.fit(
            x_train, fit_labels(y_train, cfg), validation_data=(x_val, fit_labels(y_val, cfg)),
            epochs=cfg.max_epochs, batch_size=cfg.batch_size,
            class_weight=weights, shuffle=True, callbacks=callbacks, verbose=0,
        )
        rows = _history_rows(hist.history)
        best = int(np.argmin([r["val_loss"] for r in rows])) + 1 if rows else 0
        if start is not None and rows and min(r["val_loss"] for r in rows) >= start:
            best = 0  # no epoch beat the logistic regression the member started as
        members.append(MemberResult(model, lr, member_seed, rows, best, start))
    return members


def logistic_start(x_last: np.ndarray, y: np.ndarray, class_weight: dict[int, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """The wide path's start for ``linear_skip_mode = "residual"``: a multinomial logistic regression.

    Fitted on the training windows' last step (the scaled features the wide path sees) with the
    members' class weights and scikit-learn's defaults (lbfgs, C = 1), as the logistic-regression
    baseline is. Returns (kernel (n_features, 3), bias (3,)), float32, so that
    ``x @ kernel + bias`` are its logits. Deterministic: lbfgs has no randomness.
    """
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(y)
    if len(classes) != 3:
        raise ValueError(f"linear_skip_mode 'residual' needs all 3 classes in the training labels, got {classes.tolist()}")
    lr = LogisticRegression(class_weight=class_weight, max_iter=2000).fit(x_last.astype(np.float64), y)
    return lr.coef_.T.astype(np.float32), lr.intercept_.astype(np.float32)


def _early_stopping(patience: int, start_loss: float | None, start_weights: list[Any] | None) -> Any:
    """Keras early stopping on validation loss, restoring the best weights.

    With ``start_loss``, the weights the member started with (``start_weights``) are the best so
    far before the first epoch: an epoch must beat them to be kept.
    """
    import keras

    class _FromStart(keras.callbacks.EarlyStopping):
        def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
            super().on_train_begin(logs)
            if start_loss is not None:
                self.best, self.best_weights, self.best_epoch = start_loss, start_weights, -1

    return _FromStart(monitor="val_loss", patience=patience, restore_best_weights=True)


def fit_labels(y: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """The labels as the loss wants them: integers, or one-hot float32 when label smoothing is on."""
    if cfg.label_smoothing > 0:
        return np.eye(3, dtype=np.float32)[np.asarray(y, dtype=np.int64)]
    return y


def _warmup(lr: float, epochs: int) -> Any:
    """Keras callback: the learning rate rises linearly to ``lr`` over the first ``epochs`` epochs
    (lr/epochs, 2·lr/epochs, …); afterwards it is left to ReduceLROnPlateau."""
    import keras

    class Warmup(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            if epoch < epochs:
                self.model.optimizer.learning_rate.assign(lr * (epoch + 1) / epochs)

    return Warmup()


def _weight_average(decay: float) -> Any:
    """Keras callback: Polyak averaging of the weights.

    After every training batch the average moves towards the weights, with TensorFlow's warm-up
    (decay min(``decay``, (1 + t) / (10 + t)) at update t) so the random initial weights fade fast.
    Validation runs on the average and the average stays in the model through ``on_epoch_end``, so
    early stopping and the LR schedule judge it and early stopping keeps it as the best weights;
    the raw weights come back when the next epoch begins. Training ends with the average in the
    model. Weights only: the member's graph, and so the export, are unchanged.
    """
    import keras

    class WeightAverage(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
            self.average = [np.array(w, dtype=np.float64) for w in self.model.get_weights()]
            self.updates = 0
            self.raw: list[np.ndarray] | None = None

        def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
            d = min(decay, (1 + self.updates) / (10 + self.updates))
            self.updates += 1
            for a, w in zip(self.average, self.model.get_weights(), strict=True):
                a *= d
                a += (1 - d) * w

        def on_test_begin(self, logs: dict[str, float] | None = None) -> None:
            if self.raw is None:
                self.raw = self.model.get_weights()
                self.model.set_weights([a.astype(r.dtype) for a, r in zip(self.average, self.raw, strict=True)])

        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            if self.raw is not None:
                self.model.set_weights(self.raw)
                self.raw = None

        def on_train_end(self, logs: dict[str, float] | None = None) -> None:
            self.on_test_begin()

    return WeightAverage()


def _history_rows(history: dict[str, list[float]]) -> list[dict[str, float]]:
    n = len(history.get("loss", []))
    keys = sorted(history)
    return [{"epoch": e + 1, **{k: float(history[k][e]) for k in keys}} for e in range(n)]


def _epoch_logger(idx: int, n: int, lr: float, max_epochs: int) -> Any:
    """Keras callback: one log line per member per epoch."""
    import keras

    def on_epoch_end(epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        log.info(
            "member %d/%d (lr %g) epoch %3d/%d  loss %.4f  acc %.3f  val_loss %.4f  val_acc %.3f",
            idx + 1, n, lr, epoch + 1, max_epochs,
            logs.get("loss", float("nan")), logs.get("accuracy", float("nan")),
            logs.get("val_loss", float("nan")), logs.get("val_accuracy", float("nan")),
        )

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def member_predict(model: Any, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Probabilities float32 (n, 3), inference mode."""
    if len(x) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


def ensemble_weights(val_scores: list[float]) -> list[float]:
    """Weights proportional to each member's validation macro-F1, summing to 1.

    Equal weights if every score is zero.
    """
    s = np.asarray(val_scores, dtype=np.float64)
    if s.sum() <= 0:
        return [1.0 / len(s)] * len(s)
    return [float(v) for v in s / s.sum()]


def ensemble_predict(member_probs: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted average of member probabilities, float32 (n, 3)."""
    out = np.zeros_like(member_probs[0], dtype=np.float32)
    for p, w in zip(member_probs, weights, strict=True):
        out += np.float32(w) * p
    return out

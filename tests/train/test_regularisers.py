"""Issue 16, item 2: the training-only regularisers are configurable, recorded in the run's config,
active in training and gone at inference, so a run that uses all of them still exports one fused
LSTM op per member and passes both parity gates. The defaults are the original shape with the
regularisation the measurements chose; the original design stays available as a config file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest

from signalpack.errors import ConfigError
from signalpack.train.config import ModelConfig, TrainConfig, config_from_dict, load_config
from signalpack.train.ensemble import fit_labels, train_members
from signalpack.train.model import build_member
from tests.conftest import SP500

ORIGINAL_DESIGN = Path(__file__).resolve().parents[2] / "docs" / "configs" / "original_design.toml"
ROUND5_U16 = ORIGINAL_DESIGN.with_name("round5_u16.toml")
ROUND7_U16_SKIP = ORIGINAL_DESIGN.with_name("round7_u16_skip.toml")
ROUND8_RESIDUAL = ORIGINAL_DESIGN.with_name("round8_residual.toml")

ALL_ON = {"weight_decay": 1e-3, "input_noise": 0.1, "input_dropout": 0.1, "recurrent_dropout": 0.1,
          "label_smoothing": 0.1, "warmup_epochs": 2, "ema_decay": 0.9, "class_weighting": "none",
          "linear_skip": False, "linear_skip_mode": "joint"}


def test_defaults_are_the_original_shape_with_issue_16_s_regularisation():
    m = ModelConfig()
    assert (m.lstm_units, m.dense_units, m.seq_len, m.learning_rates, m.patience) == (64, (32, 16), 10,
                                                                                      (1e-3, 5e-4, 2e-3), 15)
    assert (m.batch_norm, m.input_dropout, m.dropout, m.recurrent_dropout, m.batch_size) == (False, 0.4, 0.3, 0.3,
                                                                                          256)
    assert (m.weight_decay, m.input_noise, m.label_smoothing, m.warmup_epochs,
            m.class_weighting) == (0.0, 0.0, 0.0, 0, "balanced")
    assert (m.linear_skip, m.linear_skip_mode) == (True, "residual")  # round 8
    y = np.array([0, 2, 1])
    assert fit_labels(y, m) is y  # integer labels and sparse cross-entropy, as before


def test_the_original_design_stays_available_as_a_config_file():
    cfg = load_config(ORIGINAL_DESIGN).model
    assert (cfg.batch_norm, cfg.input_dropout, cfg.dropout, cfg.recurrent_dropout, cfg.batch_size,
            cfg.lstm_units) == (True, 0.0, 0.2, 0.0, 128, 64)
    assert cfg == replace(ModelConfig(), batch_norm=True, input_dropout=0.0, dropout=0.2, recurrent_dropout=0.0,
                          batch_size=128, linear_skip=False)
    names = [type(layer).__name__ for layer in build_member(5, cfg, 1e-3).layers]
    assert names == ["LSTM", "BatchNormalization", "Dropout", "Dense", "Dense", "Dense"]


def test_round_5_candidate_is_the_default_with_16_units():
    """docs/model_power.md evaluates it as "the default, LSTM(16)": nothing else may differ."""
    cfg = load_config(ROUND5_U16)
    assert cfg.model == replace(ModelConfig(), lstm_units=16, linear_skip=False)
    assert load_config(ROUND7_U16_SKIP).model == replace(ModelConfig(), lstm_units=16, linear_skip=True,
                                                         linear_skip_mode="joint")
    assert load_config(ROUND8_RESIDUAL).model == ModelConfig()  # round 8's candidate became the default
    assert (cfg.labels, cfg.split, cfg.simulation, cfg.seed) == (TrainConfig().labels, TrainConfig().split,
                                                                 TrainConfig().simulation, TrainConfig().seed)


@pytest.mark.parametrize(("key", "value", "why"), [
    ("weight_decay", -0.1, "must be in [0, 1)"),
    ("input_noise", 11.0, "must be in [0, 10]"),
    ("recurrent_dropout", 1.0, "must be in [0, 1)"),
    ("label_smoothing", 1.0, "must be in [0, 1)"),
    ("warmup_epochs", -1, "must be 0..1000"),
    ("ema_decay", 1.0, "must be in [0, 1)"),
    ("linear_skip", "yes", "must be bool"),
    ("linear_skip_mode", "ridge", "use 'joint' or 'residual'"),
    ("class_weighting", "inverse", "use 'balanced' or 'none'"),
    ("batch_norm", 1, "must be bool"),
])
def test_bad_values_are_refused_naming_the_key(key, value, why):
    with pytest.raises(ConfigError, match=rf"'model\.{key}'.*{why.replace('[', '.').replace('(', '.').replace(')', '.')}"):
        config_from_dict({"model": {key: value}})


def test_turning_the_wide_path_off_needs_one_key():
    """``linear_skip = false`` alone gives the design's plain member; the mode is then unused."""
    cfg = config_from_dict({"model": {"linear_skip": False}}).model
    assert [type(layer).__name__ for layer in build_member(5, cfg, 1e-3).layers] == [
        "LSTM", "Dropout", "Dense", "Dense", "Dense"]


def test_noise_and_dropouts_act_in_training_only():
    cfg = ModelConfig(**{**ALL_ON, "batch_norm": False})
    m = build_member(5, cfg, 1e-3)
    assert [type(layer).__name__ for layer in m.layers][:2] == ["GaussianNoise", "LSTM"]
    assert "BatchNormalization" not in [type(layer).__name__ for layer in m.layers]
    assert type(m.optimizer).__name__ == "AdamW"
    x = np.random.default_rng(0).normal(size=(64, 10, 5)).astype(np.float32)
    a, b = np.asarray(m(x, training=False)), np.asarray(m(x, training=False))
    assert np.array_equal(a, b)  # inference: deterministic
    assert not np.allclose(np.asarray(m(x, training=True)), a)  # training: noise and dropout at work
    assert fit_labels(np.array([2, 0]), cfg).tolist() == [[0, 0, 1], [1, 0, 0]]  # one-hot: smoothing needs them


def test_warmup_raises_the_rate_linearly_then_leaves_it():
    cfg = ModelConfig(learning_rates=(1e-3,), max_epochs=3, warmup_epochs=2, patience=10, lr_patience=10)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 10, 4)).astype(np.float32)
    y = rng.integers(0, 3, 256)
    (member,) = train_members(x, y, x[:64], y[:64], {0: 1.0, 1: 1.0, 2: 1.0}, cfg, seed=3)
    rates = [round(r["learning_rate"], 8) for r in member.history]
    assert rates == [5e-4, 1e-3, 1e-3]


@pytest.mark.slow
def test_a_run_with_every_regulariser_exports_with_parity(tmp_path, tiny_config):
    from signalpack.export.exporter import export_run
    from signalpack.train.pipeline import train_run

    every = {**ALL_ON, "linear_skip": True, "linear_skip_mode": "residual"}  # the wide path too: a functional member
    cfg = tiny_config.with_overrides(**{f"model__{k}": v for k, v in every.items()})
    run = train_run(SP500, cfg, tmp_path / "run")
    recorded = json.loads((run.run_dir / "config.json").read_text())["model"]
    assert {k: recorded[k] for k in every} == every
    assert config_from_dict(json.loads((run.run_dir / "config.json").read_text())).model == cfg.model
    result = export_run(run.run_dir, tmp_path / "b.onnx")
    assert result.report.passed and result.report.max_abs_diff <= 1e-5
    ops = [n.op_type for n in onnx.load(str(tmp_path / "b.onnx")).graph.node]
    assert ops.count("LSTM") == 3 and not {"Loop", "Scan", "If", "RandomNormal", "RandomNormalLike",
                                            "Dropout"} & set(ops)


def test_linear_skip_adds_a_linear_map_of_the_last_step_to_the_logits():
    """The wide path alone (deep logits zeroed) is a multinomial logistic regression on the window's
    last step; the inference twin of the functional member, noise and dropouts on, computes the same."""
    from signalpack.export.convert import inference_twin

    cfg = ModelConfig(linear_skip=True, linear_skip_mode="joint", input_noise=0.1)
    m = build_member(5, cfg, 1e-3)
    names = {layer.name for layer in m.layers}
    assert {"lstm", "deep_logits", "last_step", "wide_logits", "probabilities"} <= names
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 10, 5)).astype(np.float32)
    m.get_layer("deep_logits").set_weights([np.zeros((16, 3), np.float32), np.zeros(3, np.float32)])
    w, b = rng.normal(size=(5, 3)).astype(np.float32), np.array([0.1, -0.2, 0.3], np.float32)
    m.get_layer("wide_logits").set_weights([w, b])
    z = x[:, -1, :] @ w + b
    want = np.exp(z - z.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    assert np.allclose(np.asarray(m(x, training=False)), want, atol=1e-6)
    x[:, :-1, :] += 5.0  # earlier steps reach the output only through the (now silent) deep path
    assert np.allclose(np.asarray(m(x, training=False)), want, atol=1e-6)
    twin = inference_twin(m)
    assert twin is not m and twin.get_layer("lstm").recurrent_dropout == 0
    assert np.allclose(np.asarray(twin(x, training=False)), want, atol=1e-6)


def test_the_inference_twin_computes_what_inference_computes():
    from signalpack.export.convert import inference_twin

    plain = build_member(5, load_config(ORIGINAL_DESIGN).model, 1e-3)
    assert inference_twin(plain) is plain  # nothing training-only: converted as it is
    default = build_member(5, ModelConfig(), 1e-3, wide=(np.ones((5, 3), np.float32), np.zeros(3, np.float32)))
    default_twin = inference_twin(default)  # the default trains with recurrent dropout: converted without it
    assert default_twin is not default and default_twin.get_layer("lstm").recurrent_dropout == 0
    assert np.array_equal(default_twin.get_layer("wide_logits").get_weights()[0], np.ones((5, 3)))
    m = build_member(5, ModelConfig(**{**ALL_ON, "batch_norm": True}), 1e-3)
    twin = inference_twin(m)
    assert [type(layer).__name__ for layer in twin.layers][:2] == ["LSTM", "BatchNormalization"]
    assert twin.layers[0].dropout == 0 and twin.layers[0].recurrent_dropout == 0
    x = np.random.default_rng(2).normal(size=(32, 10, 5)).astype(np.float32)
    # equal up to float rounding (the loop and the fused LSTM kernel sum in another order); parity needs 1e-5
    diff = np.abs(np.asarray(twin(x, training=False)) - np.asarray(m(x, training=False))).max()
    assert diff <= 1e-6, diff


def test_weight_averaging_validates_on_and_ends_with_the_average_of_the_batch_weights():
    """ema_decay: the average moves after every batch; validation (and so early stopping) sees the
    average, and training ends with it in the model. Recomputed here from the weights after each batch."""
    import keras

    from signalpack.train.ensemble import _weight_average

    decay = 0.9
    rng = np.random.default_rng(5)
    x = rng.normal(size=(96, 10, 4)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    m = build_member(4, ModelConfig(ema_decay=decay, linear_skip=False, linear_skip_mode="joint"), 1e-2)
    seen: list[list[np.ndarray]] = []
    record = keras.callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append(m.get_weights()),
                                            on_train_batch_end=lambda b, logs: seen.append(m.get_weights()))
    hist = m.fit(x, y, validation_data=(x[:32], y[:32]), epochs=3, batch_size=32, shuffle=False, verbose=0,
                 callbacks=[_weight_average(decay), record])
    assert len(seen) == 1 + 9  # the initial weights, then 3 batches × 3 epochs
    avg = [np.asarray(w, np.float64) for w in seen[0]]
    for t, ws in enumerate(seen[1:]):
        d = min(decay, (1 + t) / (10 + t))
        avg = [a * d + (1 - d) * np.asarray(w, np.float64) for a, w in zip(avg, ws, strict=True)]
    final = m.get_weights()
    assert all(np.allclose(f, a, atol=1e-6) for f, a in zip(final, avg, strict=True))
    assert not all(np.allclose(f, r, atol=1e-4) for f, r in zip(final, seen[-1], strict=True))  # not the raw ones
    assert hist.history["val_loss"][-1] == pytest.approx(float(m.evaluate(x[:32], y[:32], verbose=0)[0]), abs=1e-5)


def _residual_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows whose label is the tertile of the *first* step's feature 0: invisible to a
    regression on the last step, learnable by the LSTM. Feature 1 of the last step carries a
    little of it too, so the regression is not flat."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10, 3)).astype(np.float32)
    y = np.digitize(x[:, 0, 0], [-0.43, 0.43])
    x[:, -1, 1] += 0.3 * (y - 1)
    return x, y


def test_residual_wide_path_starts_as_the_logistic_regression_and_stays_frozen():
    """linear_skip_mode = "residual": the untrained member is the training windows' balanced LR on
    the last step (scikit-learn's own probabilities), and the wide path never moves in training."""
    from sklearn.linear_model import LogisticRegression

    from signalpack.train.ensemble import logistic_start

    x, y = _residual_data(600, 7)
    weights = {0: 1.2, 1: 0.9, 2: 1.0}
    ref = LogisticRegression(class_weight=weights, max_iter=2000).fit(x[:, -1, :].astype(np.float64), y)
    cfg = ModelConfig(linear_skip=True, linear_skip_mode="residual", lstm_units=8, dense_units=(8,))
    m = build_member(3, cfg, 1e-2, wide=logistic_start(x[:, -1, :], y, weights))
    assert np.allclose(np.asarray(m(x, training=False)), ref.predict_proba(x[:, -1, :]), atol=1e-5)
    assert not m.get_layer("wide_logits").trainable and m.get_layer("deep_logits").trainable
    before = m.get_layer("wide_logits").get_weights()
    m.fit(x, y, epochs=2, batch_size=64, verbose=0)
    after = m.get_layer("wide_logits").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert not np.allclose(m.get_layer("deep_logits").get_weights()[0], 0)  # the deep path did train
    with pytest.raises(ValueError, match="needs the wide path's weights"):
        build_member(3, cfg, 1e-2)


def test_residual_members_keep_the_regression_unless_an_epoch_beats_it():
    """Early stopping counts the regression as epoch 0. A member whose training only hurts
    (a rate of 5, far too high) ends as the regression, best epoch 0; one that learns what the
    regression cannot see (the first step) moves past it."""
    from sklearn.linear_model import LogisticRegression

    x, y = _residual_data(3000, 8)
    xv, yv = _residual_data(1000, 9)
    cfg = ModelConfig(linear_skip=True, linear_skip_mode="residual", lstm_units=16, dense_units=(16,),
                      input_dropout=0.0, recurrent_dropout=0.0, dropout=0.0, learning_rates=(5.0, 1e-2),
                      max_epochs=8, patience=3, batch_size=128)
    bad, good = train_members(x, y, xv, yv, {0: 1.0, 1: 1.0, 2: 1.0}, cfg, seed=1)
    lr = LogisticRegression(max_iter=2000).fit(x[:, -1, :].astype(np.float64), y).predict_proba(xv[:, -1, :])
    assert bad.best_epoch == 0
    assert np.allclose(np.asarray(bad.model(xv, training=False)), lr, atol=1e-5)
    assert good.best_epoch > 0
    acc = float(np.mean(np.asarray(good.model(xv, training=False)).argmax(1) == yv))
    assert acc > float(np.mean(lr.argmax(1) == yv)) + 0.2, acc

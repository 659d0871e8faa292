"""The member architecture, and bit-identical weights when retrained with the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from signalpack.train.config import ModelConfig
from signalpack.train.ensemble import ensemble_predict, ensemble_weights, train_members
from signalpack.train.model import build_member


def test_member_layers_match_the_design():
    import keras

    cfg = ModelConfig()
    wide = (np.zeros((23, 3), np.float32), np.zeros(3, np.float32))
    m = build_member(23, cfg, 1e-3, wide=wide)
    # the original shape without BatchNorm (issue 16), and the residual wide path (round 8)
    assert {type(layer).__name__ for layer in m.layers} == {"InputLayer", "LSTM", "Dropout", "Dense", "Cropping1D",
                                                          "Flatten", "Add", "Activation"}
    lstm, drop = m.get_layer("lstm"), m.get_layer("dropout")
    assert lstm.units == 64
    assert (lstm.dropout, lstm.recurrent_dropout, drop.rate) == (0.4, 0.3, 0.3)
    deep = [m.get_layer(n) for n in ("dense_0", "dense_1", "deep_logits", "wide_logits")]
    assert [(layer.units, layer.activation.__name__) for layer in deep] == [
        (32, "relu"), (16, "relu"), (3, "linear"), (3, "linear"),
    ]
    assert m.get_layer("probabilities").activation.__name__ == "softmax"
    assert not m.get_layer("wide_logits").trainable
    assert m.input_shape == (None, 10, 23) and m.output_shape == (None, 3)
    assert isinstance(m.optimizer, keras.optimizers.Adam)
    assert float(m.optimizer.learning_rate) == np.float32(1e-3)


def _data(seed: int, n: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10, 5)).astype(np.float32)
    y = (x[:, -1, 0] > 0).astype(np.int64) + (x[:, -1, 1] > 0.5)
    return x, y


@pytest.mark.slow
def test_retraining_with_the_same_seed_gives_identical_weights():
    x, y = _data(0, 256)
    xv, yv = _data(1, 64)
    cfg = ModelConfig(max_epochs=2, batch_size=64, learning_rates=(1e-3, 2e-3))
    cw = {0: 1.0, 1: 1.0, 2: 1.0}
    a = train_members(x, y, xv, yv, cw, cfg, seed=7)
    b = train_members(x, y, xv, yv, cw, cfg, seed=7)
    c = train_members(x, y, xv, yv, cw, cfg, seed=8)
    for ma, mb in zip(a, b, strict=True):
        for wa, wb in zip(ma.model.get_weights(), mb.model.get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)
    assert a[0].seed == 7 and a[1].seed == 8
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a[0].model.get_weights(), c[0].model.get_weights()))


def test_ensemble_weights_and_average():
    w = ensemble_weights([0.4, 0.2, 0.2])
    assert w == [0.5, 0.25, 0.25] and abs(sum(w) - 1) < 1e-12
    assert ensemble_weights([0.0, 0.0]) == [0.5, 0.5]
    p1 = np.array([[1.0, 0.0, 0.0]], np.float32)
    p2 = np.array([[0.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(ensemble_predict([p1, p2], [0.75, 0.25]), [[0.75, 0.0, 0.25]])

"""Config loading: defaults are the design, TOML overrides, unknown keys and bad values refused."""

from __future__ import annotations

import json

import jsonschema
import pytest

from signalpack.errors import ConfigError
from signalpack.schemas import load_schema
from signalpack.train.config import TrainConfig, config_from_dict, load_config


def test_defaults_are_the_design():
    c = TrainConfig()
    assert c.model.seq_len == 10 and c.model.lstm_units == 64 and c.model.dropout == 0.3  # issue 16: was 0.2
    assert c.model.dense_units == (32, 16) and c.model.learning_rates == (1e-3, 5e-4, 2e-3)
    assert c.model.patience == 15
    s = c.simulation
    assert (s.cost, s.slippage, s.confidence_threshold) == (0.001, 0.0005, "auto")
    assert c.labels.horizon == 5 and c.purge >= c.labels.horizon
    jsonschema.validate(c.to_dict(), load_schema("config"))


def test_toml_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('seed = 3\n[model]\nmax_epochs = 7\nlearning_rates = [0.01, 0.02]\n[simulation]\nallow_short = true\n')
    c = load_config(p)
    assert c.seed == 3 and c.model.max_epochs == 7 and c.model.learning_rates == (0.01, 0.02)
    assert c.simulation.allow_short is True and c.model.lstm_units == 64
    jsonschema.validate(json.loads(json.dumps(c.to_dict())), load_schema("config"))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"modle": {}}, "unknown key 'modle'"),
        ({"model": {"lstm_unit": 3}}, "unknown key 'model.lstm_unit'"),
        ({"model": {"dropout": 1.5}}, "'model.dropout' = 1.5 is out of range"),
        ({"model": {"max_epochs": 0}}, "'model.max_epochs' = 0"),
        ({"model": {"max_epochs": "ten"}}, "'model.max_epochs' must be int, got 'ten'"),
        ({"split": {"train": 0.8}}, "must sum to 1"),
        ({"labels": {"method": "magic"}}, "'labels.method' = 'magic'"),
        ({"simulation": {"cost": -0.1}}, "'simulation.cost' = -0.1"),
        ({"simulation": {"allow_short": 1}}, "'simulation.allow_short' must be bool"),
        ({"seed": -1}, "'seed' = -1"),
    ],
)
def test_bad_config_values_are_refused(data, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data, source="c.toml")


def test_bad_toml_and_missing_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[model\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_threshold_is_auto_by_default_and_a_fixed_number_stays_available(tmp_path):
    assert TrainConfig().simulation.auto_threshold
    p = tmp_path / "c.toml"
    p.write_text('[simulation]\nconfidence_threshold = 0.6\nthreshold_grid = [0.4, 0.5]\n')
    c = load_config(p)
    assert c.simulation.confidence_threshold == 0.6 and not c.simulation.auto_threshold
    assert c.simulation.threshold() == 0.6
    jsonschema.validate(c.to_dict(), load_schema("config"))
    p.write_text('[simulation]\nconfidence_threshold = "auto"\n')
    assert load_config(p).simulation.auto_threshold
    with pytest.raises(ValueError, match="resolved"):
        TrainConfig().simulation.threshold()  # the engine can never simulate at "auto"


@pytest.mark.parametrize(
    ("sim", "match"),
    [
        ({"confidence_threshold": "automatic"}, "'simulation.confidence_threshold' must be float, got 'automatic'"),
        ({"confidence_threshold": 0.2}, "must be \"auto\" or a number in \\[0.34, 1\\]"),
        ({"threshold_grid": [0.5, 0.5]}, "'simulation.threshold_grid' = \\[0.5, 0.5\\] is out of range"),
        ({"threshold_grid": [0.3]}, "threshold_grid"),
        ({"threshold_min_trades": 0}, "threshold_min_trades"),
        ({"null_runs": -1}, "null_runs"),
    ],
)
def test_threshold_settings_are_checked(sim, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"simulation": sim})

"""Tests of bench/synthetic.py (the null check's series) and bench/null_check.py's bookkeeping: fast, no training."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from signalpack.score.io import TIMESTAMP_RANGE, load_ohlcv

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
synthetic = importlib.import_module("synthetic")
null_check = importlib.import_module("null_check")
SeriesSpec = synthetic.SeriesSpec

N = 3000


def _returns(spec: SeriesSpec) -> np.ndarray:
    return np.diff(np.log(synthetic.ohlcv_frame(spec).get_column("close").to_numpy()))


def test_same_seed_same_bytes_other_seed_other_series(tmp_path: Path) -> None:
    spec = SeriesSpec("ar0", "ar1", 5, n_bars=N, phi=0.4)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = synthetic.write_csv(spec, tmp_path / "a").read_bytes()
    b = synthetic.write_csv(spec, tmp_path / "b").read_bytes()
    assert a == b
    other = synthetic.ohlcv_frame(SeriesSpec("ar0", "ar1", 6, n_bars=N, phi=0.4))
    assert not np.array_equal(other.get_column("close").to_numpy(),
                              synthetic.ohlcv_frame(spec).get_column("close").to_numpy())


def test_the_loader_accepts_the_csv_as_written(tmp_path: Path) -> None:
    spec = SeriesSpec("rw0", "random_walk", 1, n_bars=20_000)
    data = load_ohlcv(synthetic.write_csv(spec, tmp_path))
    f = data.frame
    assert f.height == 20_000 and not data.has_symbol
    ts = f.get_column("timestamp")
    assert str(ts[0].date()) == synthetic.START and str(ts[-1].date()) < TIMESTAMP_RANGE[1]
    assert set(ts.dt.weekday().unique().to_list()) <= {1, 2, 3, 4, 5}  # business days only
    assert (ts.diff().drop_nulls().dt.total_days() >= 1).all()
    o, h, lo, c, v = (f.get_column(k).to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c)) and np.all(lo > 0) and np.all(v > 0)


def test_random_walk_has_no_autocorrelation_and_ar1_has_phi() -> None:
    rw = _returns(SeriesSpec("rw", "random_walk", 11, n_bars=20_000, sd=0.01))
    ar = _returns(SeriesSpec("ar", "ar1", 11, n_bars=20_000, sd=0.01, phi=0.4))
    rho = [np.corrcoef(r[1:], r[:-1])[0, 1] for r in (rw, ar)]
    se = 1 / np.sqrt(20_000)
    assert abs(rho[0]) < 4 * se, rho
    assert abs(rho[1] - 0.4) < 4 * se * 1.5, rho
    for r in (rw, ar):  # the stationary sd is the spec's, for both kinds
        assert r.std() == pytest.approx(0.01, rel=0.05)


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"kind": "garch"}, "'garch'"), ({"kind": "random_walk", "phi": 0.4}, "phi = 0.4"),
    ({"kind": "ar1", "phi": 1.0}, "got 1.0"), ({"kind": "ar1", "sd": 0.0}, "sd=0.0"),
    ({"kind": "ar1", "n_bars": 1}, "got 1"), ({"kind": "ar1", "seed": -1}, "got -1"),
])
def test_spec_refuses_bad_values_naming_them(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        SeriesSpec(**{"name": "x", "seed": 1, **kwargs})


def test_benchmark_series_are_the_issue_s_fifteen() -> None:
    kinds = [s.kind for s in null_check.SERIES]
    assert kinds.count("random_walk") == 10 and kinds.count("ar1") == 5
    assert all(s.n_bars == 20_000 for s in null_check.SERIES)
    assert all(s.phi == 0.4 for s in null_check.SERIES if s.kind == "ar1")
    assert len({s.seed for s in null_check.SERIES}) == 15


def _verdict(model: bool, strategy: bool | None) -> dict:
    return {"verdict": {"model_skill": model, "strategy_skill": strategy}}


def test_counts_follow_the_verdicts() -> None:
    records = {
        "rw0": {"spec": {"kind": "random_walk"}, "lr": _verdict(False, None), "ensemble": _verdict(True, True)},
        "rw1": {"spec": {"kind": "random_walk"}, "lr": _verdict(False, False)},
        "ar0": {"spec": {"kind": "ar1"}, "lr": _verdict(True, True), "ensemble": _verdict(False, False)},
    }
    c = null_check.counts(records)
    assert c["lr"]["random_walks_run"] == 2 and c["lr"]["random_walks_model_skill_false"] == 2
    assert c["lr"]["random_walks_strategy_skill_not_true"] == 2 and c["lr"]["random_walks_strategy_skill_null"] == 1
    assert c["ensemble"]["random_walks_run"] == 1 and c["ensemble"]["random_walks_model_skill_false"] == 0
    assert c["ensemble"]["random_walks_strategy_skill_not_true"] == 0
    assert c["lr"]["planted_model_skill_true"] == 1 and c["ensemble"]["planted_model_skill_true"] == 0
    assert any("incomplete" in line for line in null_check.count_lines(c))


def test_results_of_another_configuration_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "nc.json"
    cfg = null_check.TrainConfig()
    mine = null_check.config_record(cfg)
    other = null_check.config_record(cfg.with_overrides(model__max_epochs=2))
    assert mine["hash"] != other["hash"] and mine["default_train_config"] and not other["default_train_config"]
    null_check.write_results(out, other, {}, {"rw0": {"spec": {"kind": "random_walk"}, "lr": _verdict(False, None)}})
    assert json.loads(out.read_text())["config"]["hash"] == other["hash"]
    with pytest.raises(SystemExit, match=other["hash"]):
        null_check.load_results(out, mine, replace=False)
    assert null_check.load_results(out, mine, replace=True) == {}
    assert set(null_check.load_results(out, other, replace=False)) == {"rw0"}


def test_jsonable_turns_numpy_and_nan_into_json() -> None:
    doc = null_check.jsonable({"a": np.float32(0.5), "b": np.int64(3), "c": float("nan"), "d": np.arange(2),
                               "e": (np.bool_(True),)})
    assert doc == {"a": 0.5, "b": 3, "c": None, "d": [0, 1], "e": [True]}
    json.dumps(doc, allow_nan=False)

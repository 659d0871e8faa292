"""Tests of bench/verdict_power.py: the oracle is the generating process's own law, and the bookkeeping."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
verdict_power = importlib.import_module("verdict_power")
model_power = importlib.import_module("model_power")
null_check = importlib.import_module("null_check")
learning_curves = importlib.import_module("learning_curves")
synthetic = importlib.import_module("synthetic")


def test_oracle_probabilities_match_the_training_labels(tmp_path: Path) -> None:
    """Calibrated against the labels train.labels computes: per class, and within confidence bins."""
    from signalpack.score.features import default_feature_spec
    from signalpack.score.io import load_ohlcv
    from signalpack.train.config import TrainConfig
    from signalpack.train.dataset import build_dataset, labelled_features

    spec = synthetic.SeriesSpec("o", "ar1", 7990, n_bars=20_000, drift=null_check.DRIFT, phi=null_check.PHI)
    cfg, fs = TrainConfig(), default_feature_spec()
    ds = build_dataset(labelled_features(load_ohlcv(synthetic.write_csv(spec, tmp_path)).frame, fs, cfg), fs, cfg)
    lab = cfg.labels
    rows = np.concatenate([ds.ends[k] for k in ("train", "validation", "test")])
    rows = rows[rows > lab.vol_window]  # the frame starts at the first feature row: vol needs 20 returns of it
    y = ds.labels(rows)
    p = verdict_power.oracle_probs(ds.frame.get_column("close").to_numpy(), rows, spec, lab.horizon,
                                   lab.threshold, lab.vol_window)
    assert p.shape == (len(rows), 3) and np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0)
    freq = np.bincount(y, minlength=3) / len(y)
    assert np.abs(p.mean(axis=0) - freq).max() < 0.015, (p.mean(axis=0), freq)
    # where the oracle says BUY is likelier, BUY is more frequent: it reads the signal, not only the prior
    high = p[:, 2] > np.quantile(p[:, 2], 0.8)
    low = p[:, 2] < np.quantile(p[:, 2], 0.2)
    assert abs(np.mean(y[high] == 2) - p[high, 2].mean()) < 0.03
    assert np.mean(y[high] == 2) > np.mean(y[low] == 2) + 0.2
    # a wrong law (no autocorrelation) fits the same labels worse: the log loss tells them apart
    flat = verdict_power.oracle_probs(ds.frame.get_column("close").to_numpy(), rows,
                                      synthetic.SeriesSpec("f", "ar1", 1, drift=spec.drift, phi=0.0),
                                      lab.horizon, lab.threshold, lab.vol_window)
    ll = -np.mean(np.log(p[np.arange(len(y)), y]))
    ll_flat = -np.mean(np.log(np.clip(flat[np.arange(len(y)), y], 1e-12, 1)))
    assert ll < ll_flat - 0.01


def test_binomial_and_wilson() -> None:
    assert verdict_power.at_least(4, 5, 1.0) == 1.0 and verdict_power.at_least(4, 5, 0.0) == 0.0
    assert verdict_power.at_least(4, 5, 0.7) == pytest.approx(5 * 0.7**4 * 0.3 + 0.7**5)
    lo, hi = verdict_power.wilson(30, 40)
    assert lo < 0.75 < hi and hi - lo == pytest.approx(0.26, abs=0.02)
    assert verdict_power.wilson(40, 40)[1] == 1.0 and verdict_power.wilson(0, 40)[0] == 0.0


@pytest.mark.parametrize(("argv", "named"), [
    (["--n", "3", "--first-seed", "5102"], "overlap"),
    (["--first-seed", "-1"], "--first-seed -1"),
    (["--bars", "200000"], "--bars 200000"),
    (["--n", "0"], "--n 0"),
])
def test_bad_options_are_refused_in_one_line_before_any_work(argv: list[str], named: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vp.json"
    with pytest.raises(SystemExit) as exc:
        verdict_power.main([*argv, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and named in err, err
    assert not out.exists()


def test_the_reserved_list_is_complete() -> None:
    spent = {s.seed for s in (*null_check.SERIES, *learning_curves.TUNING, *model_power.PLANTED,
                              *model_power.WALKS, *model_power.EXTRA)} | set(range(5000, 5005))
    reserved = {seed for a, b in verdict_power.RESERVED for seed in range(a, b)}
    assert spent <= reserved
    assert not {s.seed for s in model_power.EXTRA} & {s.seed for s in (*model_power.PLANTED, *model_power.WALKS)}
    assert all(s.n_bars == 20_000 and s.phi == 0.4 for s in model_power.EXTRA) and len(model_power.EXTRA) == 55


def test_extra_series_run_only_on_their_own() -> None:
    assert [s.name for s in model_power.select("e0,e3")] == ["e0", "e3"]
    with pytest.raises(SystemExit, match="on their own"):
        model_power.select("p0,e0")
    assert "e0" not in {s.name for s in model_power.select(None)}
    rec = {"spec": {"kind": "ar1"}, "lr": {"verdict": {"model_skill": True}, "balanced_accuracy": {"estimate": 0.4}},
           "ensemble": {"verdict": {"model_skill": False}, "balanced_accuracy": {"estimate": 0.39}}}
    c = model_power.counts({f"e{i}": rec for i in range(10)})
    assert c["series_set"] == "extra" and c["planted_total"] == 10
    lines = model_power.count_lines(c)
    assert "in 0/10 (LR: 10/10)" in lines[0] and not any("met" in line for line in lines), lines
    assert model_power.counts({"p0": rec})["series_set"] == "issue"


def test_oracle_gain_and_spread_are_the_ar1_law() -> None:
    """h = 1: the mean is phi·(r − mu) + mu, the spread the innovation's sd."""
    spec = synthetic.SeriesSpec("g", "ar1", 1, sd=0.01, drift=0.0, phi=0.5)
    close = 100 * np.exp(np.cumsum(np.r_[0.0, 0.02, np.full(30, 0.001)]))
    p = verdict_power.oracle_probs(close, np.array([25]), spec, 1, 0.0, 20)
    # threshold 0: P(BUY) = P(F > 0) with F ~ N(0.5·0.001, 0.01·sqrt(1 − 0.25))
    expected = 0.5 * (1 + math.erf(0.5 * 0.001 / (0.01 * math.sqrt(0.75)) / math.sqrt(2)))
    assert p[0, 2] == pytest.approx(expected, rel=1e-9) and p[0, 1] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_tune_ensemble_scores_a_tuning_series_against_the_oracle(tmp_path: Path) -> None:
    """Round 5's path end to end on a short tuning-seed series: the oracle beats chance and is paired."""
    tune_ensemble = importlib.import_module("tune_ensemble")
    spec = synthetic.SeriesSpec("tune_smoke", "ar1", 9000, n_bars=4000, drift=null_check.DRIFT, phi=null_check.PHI)
    r = tune_ensemble.validation_scores(synthetic.write_csv(spec, tmp_path), {"max_epochs": 1}, spec)
    t = r["test"]
    assert t["windows"] > 300 and all(0.0 <= t[k] <= 1.0 for k in ("ensemble_ba", "lr_ba", "oracle_ba"))
    assert t["oracle_ba"] > 0.36, t  # phi = 0.4 is there to see for the process's own law
    assert len(r["members_val_ba"]) == 3 and all(e in (0, 1) for e in r["best_epochs"])  # 0: kept the start

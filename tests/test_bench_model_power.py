"""Tests of bench/model_power.py's series and bookkeeping, and its logistic-regression part on a real file."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
model_power = importlib.import_module("model_power")
null_check = importlib.import_module("null_check")
learning_curves = importlib.import_module("learning_curves")


def test_series_are_the_issue_s_and_their_seeds_are_fresh() -> None:
    planted, walks = model_power.PLANTED, model_power.WALKS
    assert len(planted) == 5 and len(walks) == 10
    assert all(s.kind == "ar1" and s.phi == 0.4 and s.n_bars == 20_000 for s in planted)
    assert all(s.kind == "random_walk" and s.n_bars == 20_000 for s in walks)
    assert set(model_power.REAL) == {"sp500", "goog", "eurusd"}
    fresh = {s.seed for s in (*planted, *walks)}
    first_attempt = set(range(5000, 5005))  # spent on the first configuration tried (docs/model_power.md)
    used = {s.seed for s in (*null_check.SERIES, *learning_curves.TUNING)} | first_attempt
    assert len(fresh) == 15 and not fresh & used  # never tuned on, never evaluated before


def _rec(kind: str, ens_skill: bool | None, ens_ba: float | None, lr_ba: float = 0.40) -> dict:
    rec: dict = {"spec": {"kind": kind}, "lr": {"verdict": {"model_skill": True, "strategy_skill": None},
                                                "balanced_accuracy": {"estimate": lr_ba}}}
    if ens_ba is not None:
        rec["ensemble"] = {"verdict": {"model_skill": ens_skill, "strategy_skill": None},
                           "balanced_accuracy": {"estimate": ens_ba}}
    return rec


def test_counts_and_bars_follow_the_records() -> None:
    records = {f"p{i}": _rec("ar1", i < 4, 0.395) for i in range(5)}
    records |= {f"r{i}": _rec("random_walk", i == 0, 0.35) for i in range(10)}
    c = model_power.counts(records)
    assert c["planted_ensemble_model_skill_true"] == 4 and c["walks_ensemble_model_skill_not_true"] == 9
    assert c["planted_mean_ensemble_balanced_accuracy"] == pytest.approx(0.395)
    lines = model_power.count_lines(c)
    assert len(lines) == 3 and all(line.endswith("met") and "NOT" not in line for line in lines), lines
    assert "(LR: 5/5)" in lines[0]

    records["p0"] = _rec("ar1", False, 0.30)  # mean drops to 0.376 < 0.40 - 0.01, skill 3 of 5
    lines = model_power.count_lines(model_power.counts(records))
    assert sum(line.endswith("NOT met") for line in lines) == 2, lines

    only_ensemble = {n: {k: v for k, v in r.items() if k != "lr"} for n, r in records.items()}
    assert "(LR: not run)" in model_power.count_lines(model_power.counts(only_ensemble))[0]

    del records["r9"]
    assert "incomplete (9 of 10 run)" in model_power.count_lines(model_power.counts(records))[-1]


def test_extra_sets_are_fresh_and_run_apart_from_the_issue_s_and_each_other() -> None:
    extra = {s.seed for s in model_power.EXTRA}
    issue = {s.seed for s in (*model_power.PLANTED, *model_power.WALKS)}
    used = {s.seed for s in (*null_check.SERIES, *learning_curves.TUNING)} | set(range(5000, 5005))
    assert len(extra) == 55 and not extra & (issue | used)
    assert [s.name for s in model_power.select("f0,f14")] == ["f0", "f14"]
    for mixed in ("p0,f1", "e0,f1"):
        with pytest.raises(SystemExit, match="apart|not the issue's set"):
            model_power.select(mixed)


def test_unknown_series_is_refused_naming_it() -> None:
    with pytest.raises(SystemExit, match="nope"):
        model_power.select("p0,nope")
    assert [s.name for s in model_power.select("sp500,p1,sp500")] == ["sp500", "p1"]


def test_lr_part_on_the_real_default_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mp.json"
    assert model_power.main(["--only", "lr", "--series", "sp500", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    rec = doc["series"]["sp500"]
    assert rec["spec"] == {"name": "sp500", "kind": "real", "file": "sp500_daily.csv.gz"}
    ba = rec["lr"]["balanced_accuracy"]
    assert ba["low"] <= ba["estimate"] <= ba["high"] and 0.2 < ba["estimate"] < 0.6
    assert rec["lr"]["verdict"]["model_skill"] in (True, False, None) and "ensemble" not in rec
    assert doc["config"]["default_train_config"] is True
    printed = capsys.readouterr().out
    assert "sp500" in printed and f"{100 * ba['estimate']:.1f}" in printed
    # the same configuration resumes instead of measuring again
    assert model_power.main(["--only", "lr", "--series", "sp500", "--out", str(out), "--resume"]) == 0
    assert "already in" in capsys.readouterr().out


@pytest.mark.parametrize(("script", "argv"), [
    ("learning_curves", ["--series", "tune0,nope"]),
    ("learning_curves", ["--series", "pool9"]),
    ("learning_curves", ["--variants", "baseline,bogus"]),
    ("tune_ensemble", ["--series", "sp500,bogus"]),
    ("tune_ensemble", ["--configs", "nope"]),
])
def test_tuning_scripts_refuse_unknown_names_in_one_line(script: str, argv: list[str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Before any work: exit 2, one line naming the option and the value, no results file written."""
    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(script).main([*argv, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and argv[0] in err and "known:" in err, err
    assert not out.exists()

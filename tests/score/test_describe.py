"""`score inspect` text: the verdict first, every baseline and the ensemble's interval in the metrics
table, and a bundle exported before verdicts (or a hostile manifest) shown without a crash."""

from __future__ import annotations

import copy
import json

import pytest

from signalpack.score.describe import describe

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
BASELINES = ("majority", "stratified_random", "volatility_only", "all_features")
INDENT = " " * 12


def _headline(base: float) -> dict:
    return {"accuracy": base, "balanced_accuracy": base - 0.01, "macro_f1": base - 0.05, "log_loss": 1.0 + base}


def _interval(estimate: float, half: float) -> dict:
    return {"estimate": estimate, "low": estimate - half, "high": estimate + half}


def old_summary() -> dict:
    """What `inspect_bundle` returns for a format-2 bundle exported before verdicts (two baselines)."""
    manifest = {
        "format_version": 2, "classes": ["SELL", "HOLD", "BUY"], "confidence_threshold": 0.6, "window_rows": 59,
        "seq_len": 10, "opset": 17, "created_at": "2026-01-02T03:04:05Z",
        "feature_spec": {"version": "2", "lookback": 49, "features": [{"name": "ret_1"}, {"name": "vol_5"}]},
        "ensemble": {"members": 3, "weights": [0.3, 0.3, 0.4], "weight_metric": "validation macro-F1",
                     "learning_rates": [0.001, 0.0005, 0.002]},
        "training_data": {"file": "prices.csv", "sha256": "ab" * 32, "rows": 5000, "start": "1999-01-04",
                          "end": "2018-12-31",
                          "segments": {s: {"start": "a", "end": "b", "windows": 700} for s in
                                       ("train", "validation", "test")}},
        "metrics": {
            "segment": "test", "windows": 738, "ensemble": _headline(0.41),
            "baselines": {"majority": _headline(0.40), "stratified_random": _headline(0.34)},
            "simulation": {s: {"total_return": 0.1, "sharpe": 0.5, "max_drawdown": -0.2, "n_trades": 12}
                           for s in ("strategy", "buy_and_hold")},
        },
        "parity": {"windows": 743, "atol": 1e-5, "max_abs_diff": {"probabilities": 1e-7}},
        "feature_parity": {"windows": 743, "max_rel": 1e-8, "atol": 1e-10, "rtol": 1e-9},
        "golden": {"count": 32},
        "versions": {"numpy": "2.4"},
    }
    return {"file": "model.onnx", "size_bytes": 1234, "sha256": "cd" * 32, "model_id": "m1", "producer": "p 1",
            "ir_version": 8, "graph": {"outputs": [{"name": "probabilities", "shape": ["batch", 3]}]},
            "manifest": manifest, "signature": None}


def new_summary() -> dict:
    """The same bundle with what exports now carry: verdict, threshold record, four baselines, intervals."""
    d = old_summary()
    m = d["manifest"]
    m["confidence_threshold"] = 0.36
    m["metrics"]["baselines"].update(volatility_only=_headline(0.37), all_features=_headline(0.39))
    m["metrics"]["intervals"] = {
        "method": "circular block bootstrap", "confidence": 0.95,
        "ensemble": {k: _interval(v, 0.05) for k, v in m["metrics"]["ensemble"].items()},
        "differences": {b: {k: _interval(0.01 * (i + 1), 0.03) for k in HEADLINE} for i, b in enumerate(BASELINES)},
    }
    m["threshold"] = {"mode": "auto", "thresholds_tried": 10, "segment": "validation", "fell_back": False,
                      "rule": "highest validation Sharpe among thresholds with 5 trades"}
    m["verdict"] = {
        "model_skill": False, "strategy_skill": False, "metric": "balanced_accuracy",
        "reasons": ["first rule failed", "second rule failed", "third rule failed"],
        "remarks": ["a linear model does as well: model − all-features -1 point"],
        "linear_model_does_as_well": True,
        "walk_forward": {"folds": 4, "model_skill": 1, "strategy_skill": 0, "strategy_judged": 3},
    }
    return d


def test_bundle_exported_before_verdicts_says_so():
    text = describe(old_summary())
    lines = text.splitlines()
    assert lines[0] == "verdict     not recorded (exported before verdicts)"
    assert lines[1].startswith("bundle      model.onnx")
    header = next(line for line in lines if line.startswith("test metrics"))
    assert "majority" in header and "random" in header and "vol-only" not in header and "interval" not in header
    assert "  95% intervals: not recorded (exported before intervals)" in lines
    assert not any(line.startswith("threshold   ") for line in lines)
    assert lines[-1] == "Signals are not financial advice."


def test_verdict_is_the_first_block():
    d = new_summary()
    v = d["manifest"]["verdict"]
    lines = describe(d).splitlines()
    assert lines[0] == f"verdict     model skill NO, strategy skill NO — {v['reasons'][0]}"
    assert lines[1:3] == [f"{INDENT}- {r}" for r in v["reasons"][1:]]
    assert lines[3] == f"{INDENT}note: {v['remarks'][0]}"
    wf = v["walk_forward"]
    assert lines[4] == (f"{INDENT}walk-forward: model skill in {wf['model_skill']} of {wf['folds']} folds; strategy "
                        f"skill in {wf['strategy_skill']} of {wf['strategy_judged']} folds that traded")
    assert lines[5].startswith("bundle      ")
    t = d["manifest"]["threshold"]
    threshold = next(line for line in lines if line.startswith("threshold   "))
    assert threshold == (f"threshold   0.36: chosen on the validation segment from {t['thresholds_tried']} "
                         f"thresholds by rule: {t['rule']}")


def test_metrics_table_has_every_baseline_and_the_ensemble_interval():
    d = new_summary()
    met = d["manifest"]["metrics"]
    lines = describe(d).splitlines()
    header = next(line for line in lines if line.startswith("test metrics"))
    for name in ("ensemble", "95% interval", "majority", "random", "vol-only LR", "all-feat LR"):
        assert name in header
    row = next(line for line in lines if line.startswith("  balanced_accuracy"))
    iv = met["intervals"]["ensemble"]["balanced_accuracy"]
    assert f"[{100 * iv['low']:.2f}%, {100 * iv['high']:.2f}%]" in row
    assert row.split()[-4:] == [f"{100 * met['baselines'][b]['balanced_accuracy']:.2f}%" for b in BASELINES]
    loss = next(line for line in lines if line.startswith("  log_loss"))
    iv = met["intervals"]["ensemble"]["log_loss"]
    assert f"[{iv['low']:.4f}, {iv['high']:.4f}]" in loss
    for b, name in zip(BASELINES, ("majority", "random", "vol-only LR", "all-feat LR"), strict=True):
        diff = met["intervals"]["differences"][b]["balanced_accuracy"]
        line = next(x for x in lines if x.startswith(f"    − {name} "))
        assert f"{100 * diff['estimate']:+.2f} [{100 * diff['low']:+.2f}, {100 * diff['high']:+.2f}]" in line


def test_strategy_that_did_not_trade_and_fixed_threshold():
    d = new_summary()
    m = d["manifest"]
    m["metrics"]["simulation"]["strategy"]["n_trades"] = 0
    m["verdict"]["strategy_skill"] = None
    m["threshold"] = {"mode": "fixed", "thresholds_tried": 1}
    lines = describe(d).splitlines()
    assert lines[0].startswith("verdict     model skill NO, strategy skill n/a (did not trade) — ")
    assert f"threshold   {m['confidence_threshold']}: fixed in the training configuration (1 threshold tried), " \
           "not chosen on data" in lines


INJECTED = "x\x1b]0;pwned\x07\x1b[2J\nTraceback (most recent call last):\u202e"


@pytest.mark.parametrize("field", ["reasons", "remarks"])
def test_hostile_verdict_text_stays_escaped_and_bounded(field):
    clean = describe(new_summary()).splitlines()
    d = new_summary()
    v = d["manifest"]["verdict"]
    n = len(v[field])
    v[field] = [INJECTED * 200] * n
    d["manifest"]["threshold"]["rule"] = INJECTED
    v["model_skill"] = INJECTED
    out = describe(d).splitlines()
    assert len(out) == len(clean)
    assert all(c.isprintable() for line in out for c in line)
    assert not any(line.startswith("Traceback") for line in out)
    assert "\\x1b]0;pwned\\x07" in out[0]
    assert max(len(line) for line in out) < 1000


def test_huge_or_mistyped_verdict_fields_do_not_crash():
    d = new_summary()
    v = d["manifest"]["verdict"]
    total = 10_000
    v["reasons"] = [f"reason {i}" for i in range(total)]
    v["remarks"] = "not a list"
    v["walk_forward"] = ["not", "a", "dict"]
    d["manifest"]["metrics"]["intervals"]["ensemble"]["accuracy"] = "NaN"
    lines = describe(d).splitlines()
    shown = [line for line in lines if line.startswith(f"{INDENT}- reason ")]
    assert 0 < len(shown) < 100
    assert f"{INDENT}- … and {total - len(shown) - 1} more" in lines
    row = next(line for line in lines if line.startswith("  accuracy"))
    assert "n/a" in row


def test_real_bundle_carries_its_verdict(tiny_run, tiny_export):
    from typer.testing import CliRunner

    from signalpack.score.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["inspect", str(tiny_export.bundle)])
    assert r.exit_code == 0, r.output
    v = tiny_run.metadata["verdict"]
    first = r.output.splitlines()[0]
    word = {True: "YES", False: "NO"}
    assert first.startswith(f"verdict     model skill {word[v['model_skill']]}, strategy skill ")
    if v["reasons"]:
        assert first.endswith(v["reasons"][0])
    r = runner.invoke(app, ["inspect", str(tiny_export.bundle), "--json"])
    assert r.exit_code == 0, r.output
    manifest = json.loads(r.output)["manifest"]
    assert {k: manifest["verdict"][k] for k in v} == copy.deepcopy(v)
    assert set(manifest["metrics"]["baselines"]) == set(BASELINES)

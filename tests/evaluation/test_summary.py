"""The plain-text summary printed after `signalpack train` and `signalpack demo`: the verdict first,
every figure beside its no-skill reference, intervals, nulls, and no crash on older metadata."""

from __future__ import annotations

import copy

import pytest

from signalpack.evaluation.summary import summary_table


@pytest.fixture()
def meta(tiny_run) -> dict:
    """A private copy of the tiny run's metadata, free to edit."""
    return copy.deepcopy(tiny_run.metadata)


def _word(flag) -> str:
    return {True: "YES", False: "NO", None: "n/a"}[flag]


def _table_start(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith("test segment ("))


def test_verdict_block_comes_first(meta):
    v = meta["verdict"]
    lines = summary_table(meta).splitlines()
    assert lines[0].startswith(f"verdict: model skill {_word(v['model_skill'])}, strategy skill "
                               f"{_word(v['strategy_skill'])}")
    head = lines[:_table_start(lines)]
    for reason in v["reasons"]:
        assert f"  - {reason}" in head
    for remark in v["remarks"]:
        assert f"  note: {remark}" in head
    thr = meta["threshold"]
    threshold = next(line for line in head if line.startswith("confidence threshold"))
    assert f"{meta['confidence_threshold']:g}" in threshold
    if thr["mode"] == "auto":
        assert f"from {thr['thresholds_tried']} thresholds" in threshold and f"  rule: {thr['rule']}" in head
    assert lines[-1] == "Signals are not financial advice."


def test_metrics_table_shows_every_baseline_with_intervals(meta):
    text = summary_table(meta)
    lines = text.splitlines()
    start = _table_start(lines)
    header = lines[start]
    for name in ("ensemble", "member 0", "majority", "random", "vol-only LR", "all-feat LR"):
        assert name in header
    m = meta["metrics"]
    row = next(line for line in lines if line.startswith("balanced accuracy"))
    cols = [m["ensemble"], *m["members"]] + [m["baselines"][k] for k in
                                              ("majority", "stratified_random", "volatility_only", "all_features")]
    assert row.split()[2:] == [f"{100 * c['balanced_accuracy']:.2f}%" for c in cols]
    assert f"mean of {m['baselines']['stratified_random']['draws']} draws" in text

    u = m["uncertainty"]
    boot = u["bootstrap"]
    assert f"{boot['method']}; block length {boot['block_length']} bars" in text
    iv = u["model"]["balanced_accuracy"]
    assert f"{100 * iv['estimate']:.2f}%  [{100 * iv['low']:.2f}%, {100 * iv['high']:.2f}%]" in text
    for key, name in (("majority", "majority"), ("stratified_random", "random"), ("volatility_only", "vol-only LR"),
                      ("all_features", "all-feat LR")):
        d = u["differences"][key]["balanced_accuracy"]
        line = next(x for x in lines if x.startswith(f"    − {name} "))
        assert line.split()[-4:] == [f"{100 * d['estimate']:+.2f}", "pts", f"[{100 * d['low']:+.2f},",
                                     f"{100 * d['high']:+.2f}]"]


def test_simulation_shows_nulls_psr_against_buy_and_hold_and_trial_count(meta):
    sim = meta["simulation"]
    if not sim["strategy"]["n_trades"]:
        pytest.skip("the tiny run made no trades: the no-trade test covers this run")
    text = summary_table(meta)
    for key in ("exposure_matched", "block_permuted"):
        assert f"p = {sim['nulls'][key]['p_value']:.3f}" in text
    vs = sim["psr_vs_buy_and_hold"]
    assert (f"PSR P(SR > 0) {sim['sharpe_statistics']['psr']:.3f}, against buy-and-hold's Sharpe "
            f"{vs['psr_vs_benchmark']:.3f}") in text
    assert f"buy-and-hold's own P(SR > 0) {vs['benchmark_psr']:.3f}" in text
    tried = meta["threshold"]["thresholds_tried"]
    strategies = 1 + len(meta["metrics"]["members"])
    assert sim["sharpe_statistics"]["n_trials"] == tried * strategies
    assert f"{tried * strategies} trials = {tried} thresholds × {strategies} strategies" in text


def test_metadata_before_verdicts_does_not_crash(meta):
    for key in ("verdict", "threshold", "learning"):
        meta.pop(key, None)
    for key in ("uncertainty", "linear_baselines"):
        meta["metrics"].pop(key, None)
    for key in ("volatility_only", "all_features"):
        meta["metrics"]["baselines"].pop(key)
    for key in ("nulls", "psr_vs_buy_and_hold"):
        meta["simulation"].pop(key, None)
    lines = summary_table(meta).splitlines()
    assert lines[0] == "verdict: not recorded (run predates verdicts)"
    assert "vol-only LR" not in lines[_table_start(lines)]
    assert "95% intervals: not recorded (the run predates them)" in lines
    assert lines[-1] == "Signals are not financial advice."


def _no_trades(meta: dict) -> dict:
    meta["simulation"]["strategy"]["n_trades"] = 0
    meta["simulation"]["nulls"] = {}
    meta["verdict"]["strategy_skill"] = None
    return meta


def test_no_signal_reached_the_threshold_says_why(meta):
    _no_trades(meta)
    thr = meta["confidence_threshold"]
    top = thr - 0.037
    meta["metrics"]["ensemble"].update(share_confident=0.0, max_confidence=top)
    text = summary_table(meta)
    assert text.splitlines()[0].endswith("strategy skill n/a (did not trade)")
    why = next(line for line in text.splitlines() if line.startswith("  why no trades: "))
    assert f"no test signal reached the threshold {thr:g}: the top confidence on test was {top:.3f}" in why
    assert "strategy nulls: not run" in text
    assert text.splitlines()[-1] == "Signals are not financial advice."

    del meta["metrics"]["ensemble"]["max_confidence"]  # what metadata.json holds then is named instead
    why = next(line for line in summary_table(meta).splitlines() if line.startswith("  why no trades: "))
    assert "not recorded in metadata.json" in why
    assert f"{100 * meta['metrics']['ensemble']['mean_confidence']:.2f}%" in why


def test_signals_reached_the_threshold_but_none_opened_a_position(meta):
    _no_trades(meta)
    ens = meta["metrics"]["ensemble"]
    ens["share_confident"] = 0.25
    ens.pop("max_confidence", None)  # runs before max_confidence was recorded
    why = next(line for line in summary_table(meta).splitlines() if line.startswith("  why no trades: "))
    assert f"{round(0.25 * ens['n'])} of {ens['n']} labelled test windows reached the threshold" in why
    assert "none opened a position" in why

    top = meta["confidence_threshold"] + 0.02
    ens["max_confidence"] = top
    why = next(line for line in summary_table(meta).splitlines() if line.startswith("  why no trades: "))
    assert (f"test signals reached the threshold {meta['confidence_threshold']:g} (top confidence {top:.3f}), "
            "but none opened a position") in why


def test_auto_threshold_that_fell_back_is_explained(meta):
    _no_trades(meta)
    meta["metrics"]["ensemble"]["share_confident"] = 0.0
    thr = meta["confidence_threshold"]
    meta["threshold"] = {"mode": "auto", "threshold": thr, "rule": "the stated rule", "min_trades": 5,
                         "fell_back": True, "segment": "validation", "thresholds_tried": 3,
                         "grid": [{"threshold": thr, "n_trades": 2, "sharpe_per_bar": 0.01, "total_return": 0.0}]}
    text = summary_table(meta)
    assert (f"on validation no threshold of the grid made 5 round trips, so the rule fell back to the highest, "
            f"{thr:g}, which made 2 there") in text
    assert "(none made 5 round trips there, so the rule fell back to the highest)" in text


def test_fixed_threshold_reports_its_trial_count(meta):
    n_strategies = 1 + len(meta["metrics"]["members"])
    meta["threshold"] = {"mode": "fixed", "threshold": 0.6, "thresholds_tried": 1}
    meta["confidence_threshold"] = 0.6
    meta["simulation"]["trials"] = [{"name": n, "threshold": 0.6, "sharpe_per_bar": 0.0}
                                    for n in ["model", *(f"member {i}" for i in range(n_strategies - 1))]]
    meta["simulation"]["sharpe_statistics"]["n_trials"] = n_strategies
    lines = summary_table(meta).splitlines()
    i = lines.index("confidence threshold 0.6: fixed in the configuration, not chosen on data")
    assert lines[i + 1] == (f"  the DSR counts {n_strategies} trials = 1 threshold × {n_strategies} strategies "
                            "(the ensemble and each member)")


def test_walk_forward_shows_each_fold_verdict_and_the_count(meta):
    flags = [(True, False), (False, None), (False, True)]  # (model skill, strategy skill) per fold
    folds = []
    for i, (model, strategy) in enumerate(flags):
        folds.append({
            "fold": i,
            "verdict": {"model_skill": model, "strategy_skill": strategy, "reasons": [f"reason of fold {i}"]},
            "simulation": {"strategy": {"n_trades": 0 if strategy is None else 7}},
        })
    meta["walk_forward"] = {"k": len(folds), "folds": folds, "aggregate": {
        "ensemble.balanced_accuracy": {"mean": 0.4, "std": 0.01},
        "volatility_only.balanced_accuracy": {"mean": 0.37, "std": 0.02},
    }}
    lines = summary_table(meta).splitlines()
    model = sum(m for m, _ in flags)
    judged = [s for _, s in flags if s is not None]
    count = f"model skill in {model} of {len(flags)} folds; strategy skill in {sum(judged)} of {len(judged)} folds"
    assert any(line.startswith("walk-forward, 3 expanding-window folds: " + count) for line in lines)
    assert f"  walk-forward: {count} that traded" in lines[:_table_start(lines)]
    for i, (model_flag, strategy) in enumerate(flags):
        strategy_text = "n/a (did not trade)" if strategy is None else _word(strategy)
        assert (f"  fold {i}: model skill {_word(model_flag)}, strategy skill {strategy_text} — reason of fold {i}"
                in lines)
    assert any(line.startswith("  vol-only LR baseline") and "37.00%" in line for line in lines)

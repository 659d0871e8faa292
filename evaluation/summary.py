"""Plain-text summary of a run: the verdict first, then every figure beside its no-skill reference.

``summary_table(meta)`` is what ``signalpack train`` and ``signalpack demo`` print. The
sentence builders here (``verdict_lines``, ``threshold_lines``, ``no_trade_reason``,
``trials_text``) are shared with the HTML report, so both say the same thing in the same
words. Every function reads ``metadata.json`` as written by any signalpack version: a key
an older run lacks gives a sentence saying it was not recorded, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "BASELINES",
    "no_trade_reason",
    "ordinal",
    "skill_word",
    "summary_table",
    "threshold_lines",
    "traded",
    "trials_text",
    "verdict_lines",
    "walk_forward_count",
]

BASELINES: tuple[tuple[str, str], ...] = (
    ("majority", "majority"),
    ("stratified_random", "random"),
    ("volatility_only", "vol-only LR"),
    ("all_features", "all-feat LR"),
)
"""(metadata key, short column name) of every no-skill reference, in table order."""

_HEADLINE = (
    ("accuracy", "accuracy", True),
    ("balanced_accuracy", "balanced accuracy", True),
    ("macro_f1", "macro F1", False),
    ("log_loss", "log loss", False),
)
"""(key, label, shown as a percentage)."""

_COL = 12
_LABEL = 30


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:7.2f}%"


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:8.3f}"


def _dig(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def skill_word(value: Any, traded: bool = True) -> str:
    """YES / NO for a verdict flag; "n/a (did not trade)" for a strategy that was not judged."""
    if value is None:
        return "n/a" if traded else "n/a (did not trade)"
    return "YES" if value else "NO"


# --------------------------------------------------------------------------- shared sentences


def trials_text(meta: dict[str, Any]) -> str | None:
    """"32 trials = 8 thresholds × 4 strategies": the DSR's trial count and where it comes from."""
    n = _dig(meta, "simulation.sharpe_statistics.n_trials")
    if n is None:
        return None
    tried = _dig(meta, "threshold.thresholds_tried")
    trials = _dig(meta, "simulation.trials") or []
    names = {t.get("name") for t in trials if isinstance(t, dict) and t.get("name") is not None}
    if tried and names and len(names) * tried == n:
        return (f"{n} trials = {tried} threshold{'s' if tried != 1 else ''} × {len(names)} strateg"
                f"{'ies' if len(names) != 1 else 'y'} (the ensemble and each member)")
    return f"{n} trials (the ensemble and each member)"


def threshold_lines(meta: dict[str, Any]) -> list[str]:
    """The confidence threshold, how it was chosen (on validation by a stated rule, or fixed) and
    the DSR's trial count it implies: one sentence per line."""
    thr = meta.get("confidence_threshold")
    shown = "n/a" if thr is None else f"{thr:g}"
    rec = meta.get("threshold")
    trials = trials_text(meta)
    tail = [f"the DSR counts {trials}"] if trials else []
    if not isinstance(rec, dict):
        return [(f"confidence threshold {shown}: how it was chosen is not recorded (the run predates threshold "
                "records)"), *tail]
    if rec.get("mode") == "auto":
        head = (f"confidence threshold {shown}: chosen on the {rec.get('segment', 'validation')} segment from "
                f"{rec.get('thresholds_tried', '?')} thresholds")
        if rec.get("fell_back"):
            head += (f" (none made {rec.get('min_trades', '?')} round trips there, so the rule fell back to the "
                     "highest)")
        return [head, f"rule: {rec.get('rule', 'not recorded')}", *tail]
    return [f"confidence threshold {shown}: fixed in the configuration, not chosen on data", *tail]


def no_trade_reason(meta: dict[str, Any], top_confidence: float | None = None) -> str:
    """Why the strategy made no trades, from the figures that show it.

    top_confidence : the highest confidence of any test window, when the caller has the
        predictions (the report); otherwise ``metrics.ensemble.max_confidence`` if the run
        recorded it, else the sentence says what metadata.json does hold.
    """
    thr = float(meta["confidence_threshold"])
    ens = _dig(meta, "metrics.ensemble") or {}
    top = top_confidence if top_confidence is not None else ens.get("max_confidence")
    share, n = ens.get("share_confident"), ens.get("n")
    entry = "an entry needs a BUY, or a SELL when shorting is allowed, at or above it"
    parts = []
    if top is not None and top < thr:
        parts.append(f"no test signal reached the threshold {thr:g}: the top confidence on test was {top:.3f}")
    elif top is not None:
        parts.append(f"test signals reached the threshold {thr:g} (top confidence {top:.3f}), but none opened a "
                     f"position ({entry})")
    elif share == 0:
        parts.append(f"no labelled test window reached the threshold {thr:g} (the top test confidence is not "
                     f"recorded in metadata.json; the mean was {_pct(ens.get('mean_confidence')).strip()}, and "
                     "predictions.csv holds every window's)")
    elif share is not None and n:
        parts.append(f"{round(share * n)} of {n} labelled test windows reached the threshold {thr:g}, but none "
                     f"opened a position ({entry})")
    else:
        parts.append(f"the test segment made no trades at the threshold {thr:g}")
    rec = meta.get("threshold")
    if isinstance(rec, dict) and rec.get("mode") == "auto":
        grid = {p.get("threshold"): p for p in rec.get("grid") or [] if isinstance(p, dict)}
        val = grid.get(rec.get("threshold", thr), {}).get("n_trades")
        if rec.get("fell_back"):
            parts.append(f"on validation no threshold of the grid made {rec.get('min_trades', '?')} round trips, "
                         f"so the rule fell back to the highest, {thr:g}"
                         + (f", which made {val} there" if val is not None else ""))
        elif val is not None:
            parts.append(f"on validation {thr:g} made {val} round trips")
    elif isinstance(rec, dict):
        parts.append(f"{thr:g} is fixed in the configuration, not chosen on validation")
    return "; ".join(parts)


def walk_forward_count(wf: dict[str, Any]) -> str | None:
    """"model skill in k of K folds; strategy skill in s of j folds that traded" (None: no fold verdicts)."""
    count = wf.get("skill_count")
    if isinstance(count, dict) and "folds" in count:
        return (f"model skill in {count['model_skill']} of {count['folds']} folds; strategy skill in "
                f"{count['strategy_skill']} of {count['strategy_judged']} folds that traded")
    verdicts = [f.get("verdict") for f in wf.get("folds") or []]
    if not verdicts or not all(isinstance(v, dict) for v in verdicts):
        return None
    judged = [v for v in verdicts if v.get("strategy_skill") is not None]
    return (f"model skill in {sum(bool(v.get('model_skill')) for v in verdicts)} of {len(verdicts)} folds; "
            f"strategy skill in {sum(bool(v.get('strategy_skill')) for v in judged)} of {len(judged)} folds "
            "that traded")


def traded(meta: dict[str, Any]) -> bool:
    """Whether the strategy made any trade on the test segment (a strategy that did not is not judged)."""
    return bool(_dig(meta, "simulation.strategy.n_trades"))


def verdict_lines(meta: dict[str, Any], top_confidence: float | None = None) -> list[str]:
    """The verdict block: the verdict, each failed rule, the linear-model remark, why there were
    no trades (if so), the walk-forward count and the threshold. First line unindented."""
    v = meta.get("verdict")
    if not isinstance(v, dict):
        lines = ["verdict: not recorded (run predates verdicts)"]
    else:
        did_trade = traded(meta)
        lines = [(f"verdict: model skill {skill_word(v.get('model_skill'))}, strategy skill "
                 f"{skill_word(v.get('strategy_skill'), did_trade)}")]
        lines += [f"  - {r}" for r in v.get("reasons") or []]
        lines += [f"  note: {r}" for r in v.get("remarks") or []]
    if not traded(meta):
        lines.append(f"  why no trades: {no_trade_reason(meta, top_confidence)}")
    wf = meta.get("walk_forward")
    count = walk_forward_count(wf) if isinstance(wf, dict) else None
    if count:
        lines.append(f"  walk-forward: {count}")
    head, *rest = threshold_lines(meta)
    return [*lines, head, *(f"  {r}" for r in rest)]


# --------------------------------------------------------------------------- the table


def _interval(iv: Any, pct: bool, signed: bool = False) -> str:
    if not isinstance(iv, dict) or iv.get("estimate") is None:
        return "n/a"
    e, lo, hi = iv["estimate"], iv.get("low"), iv.get("high")
    if pct:
        f = (lambda x: f"{100 * x:+.2f}") if signed else (lambda x: f"{100 * x:.2f}%")
        return f"{f(e)}{' pts' if signed else ''}  [{f(lo)}, {f(hi)}]"
    g = (lambda x: f"{x:+.4f}") if signed else (lambda x: f"{x:.4f}")
    return f"{g(e)}  [{g(lo)}, {g(hi)}]"


def _classification(meta: dict[str, Any]) -> list[str]:
    m = meta["metrics"]
    base = m["baselines"]
    cols = [("ensemble", m["ensemble"])]
    cols += [(f"member {i}", mm) for i, mm in enumerate(m.get("members") or [])]
    cols += [(name, base[key]) for key, name in BASELINES if isinstance(base.get(key), dict)]
    lines = [f"{'test segment (' + str(m['ensemble']['n']) + ' windows)':<{_LABEL}}"
             + "".join(f"{name:>{_COL}}" for name, _ in cols)]
    for key, label, pct in (*_HEADLINE, ("share_confident", "share >= threshold", True)):
        fmt = _pct if pct else _num
        lines.append(f"{label:<{_LABEL}}" + "".join(f"{fmt(c.get(key)):>{_COL}}" for _, c in cols))
    draws = base.get("stratified_random", {}).get("draws")
    notes = [f"random: stratified random, {'mean of ' + str(draws) + ' draws' if draws else 'one draw'}"]
    if "volatility_only" in base or "all_features" in base:
        notes.append("LR: logistic regression on the window's last step, fitted on the training windows "
                     "(vol-only: the volatility features only)")
    lines.append("; ".join(notes))
    return lines + _uncertainty(m.get("uncertainty"), (meta.get("verdict") or {}).get("metric"))


def _uncertainty(u: Any, metric: str | None) -> list[str]:
    if not isinstance(u, dict):
        return ["95% intervals: not recorded (the run predates them)"]
    b = u.get("bootstrap") or {}
    lines = ["", (f"95% intervals: {b.get('method', 'bootstrap')}; block length {b.get('block_length', '?')} bars, "
                 f"{b.get('resamples', '?')} resamples")]
    for key, label, pct in _HEADLINE:
        lines.append(f"  {'ensemble ' + label:<{_LABEL - 2}}{_interval((u.get('model') or {}).get(key), pct)}")
    metric = metric or "balanced_accuracy"
    label, pct = next(((lbl, p) for k, lbl, p in _HEADLINE if k == metric), (metric, False))
    better = "above" if metric != "log_loss" else "below"
    lines.append(f"  model − baseline, {label} (skill needs the interval {better} 0):")
    for key, name in BASELINES:
        iv = (u.get("differences") or {}).get(key, {}).get(metric)
        if iv is not None:
            lines.append(f"    − {name:<{_LABEL - 6}}{_interval(iv, pct, signed=True)}")
    return lines


def _simulation(meta: dict[str, Any]) -> list[str]:
    sim = meta["simulation"]
    s, bh, rnd = sim["strategy"], sim["buy_and_hold"], sim.get("random") or {}
    lines = ["", f"{'trading simulation (test)':<{_LABEL}}{'strategy':>{_COL}}{'buy & hold':>{_COL}}"]
    rows: Sequence[tuple[str, str, Callable[[Any], str]]] = (
        ("total_return", "total return", _pct), ("cagr", "CAGR", _pct), ("sharpe", "Sharpe", _num),
        ("max_drawdown", "max drawdown", _pct),
        ("n_trades", "trades", lambda v: f"{v:8d}" if v is not None else "n/a"), ("exposure", "exposure", _pct),
    )
    for key, label, fmt in rows:
        lines.append(f"{label:<{_LABEL}}{fmt(s.get(key)):>{_COL}}{fmt(bh.get(key)):>{_COL}}")
    if not s.get("n_trades"):
        lines.append("no trades: the strategy stayed in cash (why: see the verdict above)")
    lines += _nulls(sim)
    if rnd.get("runs"):
        lines.append(
            f"random-signal baseline (same trade count only): {rnd['runs']} runs, median return "
            f"{_pct(rnd['median_return']).strip()}; strategy at the {ordinal(round(rnd['strategy_percentile']))} "
            "percentile")
    lines += _sharpe(meta)
    return lines


def _nulls(sim: dict[str, Any]) -> list[str]:
    nulls = sim.get("nulls")
    if not isinstance(nulls, dict):
        return []
    if not nulls:
        return ["strategy nulls: not run (the strategy made no trades, or null runs are off)"]
    lines = ["strategy nulls (beaten at 95% when p <= 0.05):"]
    for key, name in (("exposure_matched", "exposure-matched random entries (same trades and holding times)"),
                      ("block_permuted", "own signals block-permuted in time")):
        n = nulls.get(key)
        if isinstance(n, dict):
            blocks = f", blocks of {n['block_length']} bars" if n.get("block_length") else ""
            pct = n.get("strategy_percentile")
            lines.append(
                f"  {name}: {n.get('runs')} runs{blocks}; p = {n.get('p_value', float('nan')):.3f}, strategy at the "
                f"{ordinal(round(pct)) if pct is not None else 'n/a'} percentile (null median "
                f"{_pct(n.get('median')).strip()})")
    return lines


def _sharpe(meta: dict[str, Any]) -> list[str]:
    sim = meta["simulation"]
    stats, vs = sim.get("sharpe_statistics"), sim.get("psr_vs_buy_and_hold")
    lines = []
    if isinstance(stats, dict):
        if stats.get("psr") is None:
            lines.append(f"probabilistic / deflated Sharpe ratio: n/a ({stats.get('note')})")
        else:
            psr = f"PSR P(SR > 0) {stats['psr']:.3f}"
            if isinstance(vs, dict) and vs.get("psr_vs_benchmark") is not None:
                psr += (f", against buy-and-hold's Sharpe {vs['psr_vs_benchmark']:.3f} (skill needs >= 0.95); "
                        f"buy-and-hold's own P(SR > 0) {_f3(vs.get('benchmark_psr'))}")
            lines.append(psr)
            sr0 = stats.get("sr0_per_bar")
            lines.append(f"DSR {stats['dsr']:.3f}: P(SR > SR0" + (f" = {sr0:.4f} per bar" if sr0 is not None else "")
                         + "), SR0 being the best Sharpe ratio expected with no skill from "
                         + (trials_text(meta) or f"{stats['n_trials']} trials"))
    return lines


def _f3(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _walk_forward(wf: dict[str, Any]) -> list[str]:
    lines = ["", f"walk-forward, {wf['k']} expanding-window folds"]
    count = walk_forward_count(wf)
    if count:
        lines[-1] += f": {count}"
    for f in wf.get("folds") or []:
        v = f.get("verdict")
        if isinstance(v, dict):
            did = bool(_dig(f, "simulation.strategy.n_trades"))
            first = (v.get("reasons") or ["every rule passed"])[0]
            lines.append(f"  fold {f.get('fold')}: model skill {skill_word(v.get('model_skill'))}, strategy skill "
                         f"{skill_word(v.get('strategy_skill'), did)} — {first}")
    lines.append("(mean ± std across folds)")
    agg = wf.get("aggregate") or {}
    for key, label, fmt in (
        ("ensemble.balanced_accuracy", "balanced accuracy", _pct),
        ("majority.balanced_accuracy", "  majority baseline", _pct),
        ("stratified_random.balanced_accuracy", "  random baseline", _pct),
        ("volatility_only.balanced_accuracy", "  vol-only LR baseline", _pct),
        ("all_features.balanced_accuracy", "  all-features LR", _pct),
        ("ensemble.log_loss", "log loss", _num),
        ("majority.log_loss", "  majority baseline", _num),
        ("strategy.total_return", "strategy total return", _pct),
        ("buy_and_hold.total_return", "  buy & hold", _pct),
        ("strategy.sharpe", "strategy Sharpe", _num),
        ("buy_and_hold.sharpe", "  buy & hold", _num),
    ):
        a = agg.get(key)
        if isinstance(a, dict):
            lines.append(f"{label:<{_LABEL}}{fmt(a['mean']).strip():>{_COL}} ± {fmt(a['std']).strip()}")
    return lines


def summary_table(meta: dict[str, Any]) -> str:
    """The verdict block, then classification metrics (ensemble, members, four baselines) with
    intervals, the simulation beside buy-and-hold and its nulls, and walk-forward if run."""
    lines = verdict_lines(meta)
    lines.append("")
    lines += _classification(meta)
    lines += _simulation(meta)
    wf = meta.get("walk_forward")
    if wf:
        lines += _walk_forward(wf)
    lines.append("Signals are not financial advice.")
    return "\n".join(lines)

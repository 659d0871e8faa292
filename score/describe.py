"""Human-readable text for `score inspect`: the verdict first, then every metric beside its baselines.

Every string in the text comes from the bundle (its manifest, its graph) or the command line, so
each is escaped (``signalpack.errors.printable``) and cut to a sensible length: a manifest field
cannot move the cursor, retitle the terminal or forge a line. The verdict's reasons and the
threshold's rule are such strings too, and the fields newer than format 2's first bundles
(verdict, threshold, baselines beyond the two, intervals) may be absent: an older bundle says
"not recorded", never fails.
"""

from __future__ import annotations

from typing import Any

from signalpack.errors import printable

__all__ = ["describe"]

_VALUE_CHARS = 80
_LIST_CHARS = 2000
_REASON_CHARS = 400
_MAX_REASONS = 20
_INDENT = " " * 12
_BASELINES = (("majority", "majority"), ("stratified_random", "random"), ("volatility_only", "vol-only LR"),
              ("all_features", "all-feat LR"))
_HEADLINE = (("accuracy", True), ("balanced_accuracy", True), ("macro_f1", False), ("log_loss", False))


def _t(v: Any, limit: int = _VALUE_CHARS) -> str:
    """A value from the bundle as terminal-safe text."""
    return printable(v, limit)


def _f(v: Any, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.2f}%" if pct else f"{v:.4g}"


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _n(v: Any, pct: bool = False, signed: bool = False, digits: str = ".4g") -> str:
    """A number from the bundle's newer fields, which may be absent: anything but a number is "n/a"."""
    if not _is_num(v):
        return "n/a"
    if pct:
        return f"{100 * v:+.2f}" if signed else f"{100 * v:.2f}%"
    return f"{v:+.4f}" if signed else f"{v:{digits}}"


def _bounds(iv: Any, pct: bool, signed: bool = False) -> str:
    """"[low, high]" of an interval record; log loss and macro-F1 to 4 decimals."""
    if not isinstance(iv, dict):
        return "n/a"
    return f"[{_n(iv.get('low'), pct, signed, '.4f')}, {_n(iv.get('high'), pct, signed, '.4f')}]"


def _flag(v: Any, not_judged: str = "n/a") -> str:
    if v is None:
        return not_judged
    return "YES" if v is True else "NO" if v is False else _t(v, 20)


def _texts(v: Any) -> list[str]:
    """A list of strings from the bundle, each made safe; anything else is no list."""
    return [_t(r, _REASON_CHARS) for r in v[:_MAX_REASONS]] if isinstance(v, list) else []


def _verdict(m: dict[str, Any]) -> list[str]:
    """The verdict block: skill flags and the first reason, then the rest, the remarks, walk-forward."""
    v = m.get("verdict")
    if not isinstance(v, dict):
        return ["verdict     not recorded (exported before verdicts)"]
    trades = ((m.get("metrics") or {}).get("simulation") or {}).get("strategy", {}).get("n_trades")
    reasons = _texts(v.get("reasons"))
    head = (f"verdict     model skill {_flag(v.get('model_skill'))}, strategy skill "
            f"{_flag(v.get('strategy_skill'), 'n/a (did not trade)' if trades == 0 else 'n/a')}")
    passed = v.get("model_skill") is True and v.get("strategy_skill") is True
    lines = [head + (f" — {reasons[0]}" if reasons else " — every rule passed" if passed else "")]
    lines += [f"{_INDENT}- {r}" for r in reasons[1:]]
    total = v.get("reasons")
    if isinstance(total, list) and len(total) > _MAX_REASONS:
        lines.append(f"{_INDENT}- … and {len(total) - _MAX_REASONS} more")
    lines += [f"{_INDENT}note: {r}" for r in _texts(v.get("remarks"))]
    wf = v.get("walk_forward")
    if isinstance(wf, dict):
        lines.append(f"{_INDENT}walk-forward: model skill in {_t(wf.get('model_skill'), 10)} of "
                     f"{_t(wf.get('folds'), 10)} folds; strategy skill in {_t(wf.get('strategy_skill'), 10)} of "
                     f"{_t(wf.get('strategy_judged'), 10)} folds that traded")
    return lines


def _threshold(m: dict[str, Any]) -> list[str]:
    t = m.get("threshold")
    if not isinstance(t, dict):
        return []
    if t.get("mode") == "auto":
        line = (f"threshold   {_t(m['confidence_threshold'], 20)}: chosen on the {_t(t.get('segment'), 20)} segment "
                f"from {_t(t.get('thresholds_tried'), 10)} thresholds"
                + (" (none made enough trades there: the rule fell back to the highest)" if t.get("fell_back") else "")
                + f" by rule: {_t(t.get('rule'), _REASON_CHARS)}")
    else:
        line = (f"threshold   {_t(m['confidence_threshold'], 20)}: fixed in the training configuration "
                f"({_t(t.get('thresholds_tried'), 10)} threshold tried), not chosen on data")
    return [line]


def _metrics(met: dict[str, Any], metric: Any) -> list[str]:
    """Test metrics: the ensemble with its 95% interval beside every baseline, then model − baseline."""
    base = met["baselines"]
    cols = [(k, name) for k, name in _BASELINES if isinstance(base.get(k), dict)]
    iv = met.get("intervals") if isinstance(met.get("intervals"), dict) else {}
    ens_iv = iv.get("ensemble") if isinstance(iv.get("ensemble"), dict) else None
    lines = [f"test metrics ({met['windows']} windows)   ensemble" + (f"{'95% interval':>22}" if ens_iv else "")
             + "".join(f"{name:>13}" for _, name in cols)]
    for key, pct in _HEADLINE:
        row = f"  {key:<27}{_f(met['ensemble'][key], pct):>10}"
        if ens_iv is not None:
            row += f"{_bounds(ens_iv.get(key), pct):>22}"
        lines.append(row + "".join(f"{_n(base[k].get(key), pct):>13}" for k, _ in cols))
    if iv:
        metric = metric if metric in dict(_HEADLINE) else "balanced_accuracy"
        pct = dict(_HEADLINE)[metric]
        lines.append(f"  95% intervals: {_t(iv.get('method'), 120)}")
        diffs = iv.get("differences") if isinstance(iv.get("differences"), dict) else {}
        side = "below" if metric == "log_loss" else "above"
        lines.append(f"  model − baseline, {metric}{' in points' if pct else ''} (model skill needs every "
                     f"no-direction reference's interval {side} 0):")
        for k, name in _BASELINES:
            d = diffs.get(k)
            if isinstance(d, dict):
                iv_m = d.get(metric) if isinstance(d.get(metric), dict) else {}
                lines.append(f"    − {name:<23}{_n(iv_m.get('estimate'), pct, True)} {_bounds(iv_m, pct, True)}"
                             + ("  (beside the verdict, not a rule of it)" if k == "all_features" else ""))
    else:
        lines.append("  95% intervals: not recorded (exported before intervals)")
    return lines


def _signature(sig: dict[str, Any] | None) -> str:
    from signalpack.score.signature import SignatureInfo

    return "none (unsigned)" if sig is None else SignatureInfo(**sig).line()


def describe(d: dict[str, Any]) -> str:
    m = d["manifest"]
    ens = m["ensemble"]
    td = m["training_data"]
    met = m["metrics"]
    verdict = m.get("verdict")
    lines = [
        *_verdict(m),
        f"bundle      {_t(d['file'], 200)}  {d['size_bytes']:,} bytes  sha256 {d['sha256']}",
        f"signature   {_signature(d.get('signature'))}",
        (f"model id    {d['model_id']}  ({_t(d['producer'])}, created {_t(m['created_at'])}, "
        f"IR {d['ir_version']}, opset {m['opset']})"),
        f"classes     {', '.join(m['classes'])}   confidence threshold {m['confidence_threshold']}",
        *_threshold(m),
        (f"input       ohlcv float64 [batch, {m['window_rows']}, 5]: open, high, low, close, volume; "
        f"{m['window_rows']} bars of one symbol, oldest first; the last bar is the one scored"),
        (f"features    computed in the graph (feature set v{_t(m['feature_spec']['version'], 20)}, look-back "
        f"{m['feature_spec']['lookback']} + seq_len {m['seq_len']} rows): "
        f"{_t(', '.join(f['name'] for f in m['feature_spec']['features']), _LIST_CHARS)}"),
        "outputs     " + _t(", ".join(f"{o['name']} {o['shape']}" for o in d["graph"]["outputs"]), _LIST_CHARS),
        (f"ensemble    {ens['members']} members, weights {[round(w, 4) for w in ens['weights']]} "
        f"({_t(ens['weight_metric'])}), learning rates {ens['learning_rates']}"),
        (f"trained on  {_t(td['file'], 200)} (sha256 {td['sha256'][:12]}…), {td['rows']} rows, "
        f"{_t(td['start'], 40)} .. {_t(td['end'], 40)}"),
    ]
    for seg in ("train", "validation", "test"):
        r = td["segments"][seg]
        lines.append(f"  {seg:<11} {_t(r['start'], 40)} .. {_t(r['end'], 40)}  {r['windows']} windows")
    lines += _metrics(met, verdict.get("metric") if isinstance(verdict, dict) else None)
    sim = met["simulation"]
    lines.append("simulation (test)              strategy  buy&hold")
    for key, pct in (("total_return", True), ("sharpe", False), ("max_drawdown", True), ("n_trades", False)):
        lines.append(f"  {key:<27}{_f(sim['strategy'][key], pct):>10}  {_f(sim['buy_and_hold'][key], pct):>8}")
    p = m["parity"]
    fp = m["feature_parity"]
    lines.append(f"parity      passed on {p['windows']} windows at atol {p['atol']:g}; max abs diff "
                 f"{max(p['max_abs_diff'].values(), default=0.0):.3g}; golden vectors: {m['golden']['count']}")
    lines.append(f"features    in-graph vs polars on {fp['windows']} windows: max rel diff {fp['max_rel']:.2g} "
                 f"(gate atol {fp['atol']:g} + rtol {fp['rtol']:g})")
    v = m["versions"]
    lines.append("versions    " + _t(", ".join(f"{_t(k, 40)} {_t(v[k], 40)}" for k in sorted(v)), _LIST_CHARS))
    lines.append("Signals are not financial advice.")
    return "\n".join(printable(line, None) for line in lines)  # a last guard: no line can hold a control character

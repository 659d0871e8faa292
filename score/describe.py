"""Human-readable text for `score inspect`: every metric beside its baselines.

Every string in the text comes from the bundle (its manifest, its graph) or the command line, so
each is escaped (``signalpack.errors.printable``) and cut to a sensible length: a manifest field
cannot move the cursor, retitle the terminal or forge a line.
"""

from __future__ import annotations

from typing import Any

from signalpack.errors import printable

__all__ = ["describe"]

_VALUE_CHARS = 80
_LIST_CHARS = 2000


def _t(v: Any, limit: int = _VALUE_CHARS) -> str:
    """A value from the bundle as terminal-safe text."""
    return printable(v, limit)


def _f(v: Any, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.2f}%" if pct else f"{v:.4g}"


def _signature(sig: dict[str, Any] | None) -> str:
    from signalpack.score.signature import SignatureInfo

    return "none (unsigned)" if sig is None else SignatureInfo(**sig).line()


def describe(d: dict[str, Any]) -> str:
    m = d["manifest"]
    ens = m["ensemble"]
    td = m["training_data"]
    met = m["metrics"]
    lines = [
        f"bundle      {_t(d['file'], 200)}  {d['size_bytes']:,} bytes  sha256 {d['sha256']}",
        f"signature   {_signature(d.get('signature'))}",
        f"model id    {d['model_id']}  ({_t(d['producer'])}, created {_t(m['created_at'])}, "
        f"IR {d['ir_version']}, opset {m['opset']})",
        f"classes     {', '.join(m['classes'])}   confidence threshold {m['confidence_threshold']}",
        f"input       ohlcv float64 [batch, {m['window_rows']}, 5]: open, high, low, close, volume; "
        f"{m['window_rows']} bars of one symbol, oldest first; the last bar is the one scored",
        f"features    computed in the graph (feature set v{_t(m['feature_spec']['version'], 20)}, look-back "
        f"{m['feature_spec']['lookback']} + seq_len {m['seq_len']} rows): "
        f"{_t(', '.join(f['name'] for f in m['feature_spec']['features']), _LIST_CHARS)}",
        "outputs     " + _t(", ".join(f"{o['name']} {o['shape']}" for o in d["graph"]["outputs"]), _LIST_CHARS),
        f"ensemble    {ens['members']} members, weights {[round(w, 4) for w in ens['weights']]} "
        f"({_t(ens['weight_metric'])}), learning rates {ens['learning_rates']}",
        f"trained on  {_t(td['file'], 200)} (sha256 {td['sha256'][:12]}…), {td['rows']} rows, "
        f"{_t(td['start'], 40)} .. {_t(td['end'], 40)}",
    ]
    for seg in ("train", "validation", "test"):
        r = td["segments"][seg]
        lines.append(f"  {seg:<11} {_t(r['start'], 40)} .. {_t(r['end'], 40)}  {r['windows']} windows")
    lines.append(f"test metrics ({met['windows']} windows)   ensemble    majority    random")
    base = met["baselines"]
    for key, pct in (("accuracy", True), ("balanced_accuracy", True), ("macro_f1", False), ("log_loss", False)):
        lines.append(f"  {key:<27}{_f(met['ensemble'][key], pct):>10}  {_f(base['majority'][key], pct):>10}"
                     f"  {_f(base['stratified_random'][key], pct):>8}")
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

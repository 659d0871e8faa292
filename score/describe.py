"""Human-readable text for `score inspect`: every metric beside its baselines."""

from __future__ import annotations

from typing import Any

__all__ = ["describe"]


def _f(v: Any, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.2f}%" if pct else f"{v:.4g}"


def describe(d: dict[str, Any]) -> str:
    m = d["manifest"]
    ens = m["ensemble"]
    td = m["training_data"]
    met = m["metrics"]
    lines = [
        f"bundle      {d['file']}  {d['size_bytes']:,} bytes  sha256 {d['sha256']}",
        f"model id    {d['model_id']}  ({d['producer']}, created {m['created_at']}, "
        f"IR {d['ir_version']}, opset {m['opset']})",
        f"classes     {', '.join(m['classes'])}   confidence threshold {m['confidence_threshold']}",
        f"input       ohlcv float64 [batch, {m['window_rows']}, 5]: open, high, low, close, volume; "
        f"{m['window_rows']} bars of one symbol, oldest first; the last bar is the one scored",
        f"features    computed in the graph (feature set v{m['feature_spec']['version']}, look-back "
        f"{m['feature_spec']['lookback']} + seq_len {m['seq_len']} rows): "
        f"{', '.join(f['name'] for f in m['feature_spec']['features'])}",
        "outputs     " + ", ".join(f"{o['name']} {o['shape']}" for o in d["graph"]["outputs"]),
        f"ensemble    {ens['members']} members, weights {[round(w, 4) for w in ens['weights']]} "
        f"({ens['weight_metric']}), learning rates {ens['learning_rates']}",
        f"trained on  {td['file']} (sha256 {td['sha256'][:12]}…), {td['rows']} rows, {td['start']} .. {td['end']}",
    ]
    for seg in ("train", "validation", "test"):
        r = td["segments"][seg]
        lines.append(f"  {seg:<11} {r['start']} .. {r['end']}  {r['windows']} windows")
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
                 f"{max(p['max_abs_diff'].values()):.3g}; golden vectors: {m['golden']['count']}")
    lines.append(f"features    in-graph vs polars on {fp['windows']} windows: max rel diff {fp['max_rel']:.2g} "
                 f"(gate atol {fp['atol']:g} + rtol {fp['rtol']:g})")
    v = m["versions"]
    lines.append("versions    " + ", ".join(f"{k} {v[k]}" for k in sorted(v)))
    lines.append("Signals are not financial advice.")
    return "\n".join(lines)

"""Plain-text summary of a run: every model figure beside its baselines."""

from __future__ import annotations

from typing import Any

__all__ = ["summary_table", "ordinal"]


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:7.2f}%"


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:8.3f}"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def summary_table(meta: dict[str, Any]) -> str:
    """Classification metrics (ensemble, members, baselines) and the simulation vs baselines."""
    m = meta["metrics"]
    base = m["baselines"]
    cols = [("ensemble", m["ensemble"])]
    cols += [(f"member {i}", mm) for i, mm in enumerate(m["members"])]
    cols += [("majority", base["majority"]), ("random", base["stratified_random"])]
    head = f"{'test segment (' + str(m['ensemble']['n']) + ' windows)':<28}" + "".join(
        f"{name:>12}" for name, _ in cols
    )
    lines = [head]
    for key, label, fmt in (
        ("accuracy", "accuracy", _pct),
        ("balanced_accuracy", "balanced accuracy", _pct),
        ("macro_f1", "macro F1", _num),
        ("log_loss", "log loss", _num),
        ("share_confident", "share >= threshold", _pct),
    ):
        lines.append(f"{label:<28}" + "".join(f"{fmt(c.get(key)):>12}" for _, c in cols))
    sim = meta["simulation"]
    s, bh, rnd = sim["strategy"], sim["buy_and_hold"], sim.get("random", {})
    lines.append("")
    lines.append(f"{'trading simulation':<28}{'strategy':>12}{'buy & hold':>12}")
    for key, label, fmt in (
        ("total_return", "total return", _pct),
        ("cagr", "CAGR", _pct),
        ("sharpe", "Sharpe", _num),
        ("max_drawdown", "max drawdown", _pct),
        ("n_trades", "trades", lambda v: f"{v:8d}" if v is not None else "n/a"),
        ("exposure", "exposure", _pct),
    ):
        lines.append(f"{label:<28}{fmt(s.get(key)):>12}{fmt(bh.get(key)):>12}")
    if not s.get("n_trades"):
        lines.append(
            f"no signal reached the confidence threshold ({meta['confidence_threshold']:.0%}): "
            "the strategy stayed in cash"
        )
    if rnd.get("runs"):
        lines.append(
            f"random-signal baseline: {rnd['runs']} runs with {rnd['n_trades']} trades, median return "
            f"{_pct(rnd['median_return']).strip()}; strategy at the "
            f"{ordinal(round(rnd['strategy_percentile']))} percentile"
        )
    stats = sim.get("sharpe_statistics")
    if stats:
        if stats.get("psr") is None:
            lines.append(f"probabilistic / deflated Sharpe ratio: n/a ({stats.get('note')})")
        else:
            lines.append(
                f"probabilistic Sharpe ratio P(SR > 0) {stats['psr']:.3f}; deflated Sharpe ratio "
                f"{stats['dsr']:.3f} over {stats['n_trials']} trials (the ensemble and each member)"
            )
    wf = meta.get("walk_forward")
    if wf:
        lines.append("")
        lines.append(f"walk-forward, {wf['k']} expanding-window folds (mean ± std across folds)")
        agg = wf["aggregate"]
        for key, label, fmt in (
            ("ensemble.balanced_accuracy", "balanced accuracy", _pct),
            ("majority.balanced_accuracy", "  majority baseline", _pct),
            ("stratified_random.balanced_accuracy", "  random baseline", _pct),
            ("ensemble.log_loss", "log loss", _num),
            ("majority.log_loss", "  majority baseline", _num),
            ("strategy.total_return", "strategy total return", _pct),
            ("buy_and_hold.total_return", "  buy & hold", _pct),
            ("strategy.sharpe", "strategy Sharpe", _num),
            ("buy_and_hold.sharpe", "  buy & hold", _num),
        ):
            a = agg[key]
            lines.append(f"{label:<28}{fmt(a['mean']).strip():>12} ± {fmt(a['std']).strip()}")
    lines.append("Signals are not financial advice.")
    return "\n".join(lines)

"""The report's sections: each turns a run's data into HTML (tables, sentences) and at most one figure."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from signalpack.evaluation.report_data import RunData, empty_trades
from signalpack.evaluation.summary import (
    no_trade_reason,
    ordinal,
    skill_word,
    threshold_lines,
    traded,
    trials_text,
    walk_forward_count,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BUILDERS", "MAX_TRADE_PANELS", "Section", "dig", "esc", "fmt_date", "fmt_int"]

MAX_TRADE_PANELS = 4
MAX_TRADE_ROWS = 20



def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pct(v: Any, digits: int = 2) -> str:
    return "n/a" if v is None else f"{100 * float(v):.{digits}f}%"


def _num(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{float(v):.{digits}f}"


def fmt_int(v: Any) -> str:
    return "n/a" if v is None else f"{int(v):,}"


def fmt_date(v: Any) -> str:
    """An ISO timestamp without a midnight time part (daily bars read better as dates)."""
    if v is None:
        return "n/a"
    s = str(v).replace(" ", "T")
    return s[:10] if s.endswith("T00:00:00") or len(s) == 10 else s


def _table(head: list[str], rows: list[list[str]], *, row_class: str | None = None,
           foot: list[list[str]] | None = None, cls: str = "") -> str:
    """An HTML table; cells are already-escaped HTML; the first column is a row header."""
    out = [f'<table class="{cls}">' if cls else "<table>", "<thead><tr>"]
    out += [f"<th>{h}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    attr = f' class="{row_class}"' if row_class else ""
    for r in rows:
        out.append(f"<tr{attr}><th>{r[0]}</th>" + "".join(f"<td>{c}</td>" for c in r[1:]) + "</tr>")
    out.append("</tbody>")
    if foot:
        out.append("<tfoot>")
        for r in foot:
            out.append(f"<tr><th>{r[0]}</th>" + "".join(f"<td>{c}</td>" for c in r[1:]) + "</tr>")
        out.append("</tfoot>")
    out.append("</table>")
    return "".join(out)


def _p(text: str) -> str:
    """A paragraph of already-escaped HTML."""
    return f"<p>{text}</p>"


def dig(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


# --------------------------------------------------------------------------- sections


@dataclass
class Section:
    id: str
    title: str
    body: str
    figure: Figure | None = None
    alt: str = ""


_BASELINE_NAMES = (
    ("majority", "majority baseline"),
    ("stratified_random", "stratified-random baseline"),
    ("volatility_only", "volatility-only LR"),
    ("all_features", "all-features LR"),
)
"""(metadata key, column name) of every no-skill reference, in table order."""

_POINTS = ("accuracy", "balanced_accuracy")
"""Metrics shown as percentages (their differences in percentage points)."""

_METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro F1",
                  "log_loss": "log loss"}


def _top_confidence(run: RunData) -> float | None:
    conf = run.predictions.get_column("confidence").drop_nulls()
    return float(conf.max()) if conf.len() else None  # type: ignore[arg-type]


def _iv(iv: Any, pct: bool, signed: bool = False) -> str:
    """An interval record {estimate, low, high} as "38.32% [33.22%, 43.73%]" (differences in points)."""
    if not isinstance(iv, dict) or iv.get("estimate") is None:
        return "n/a"
    if pct:
        f = (lambda x: f"{100 * float(x):+.2f}") if signed else (lambda x: f"{100 * float(x):.2f}%")
    else:
        f = (lambda x: f"{float(x):+.4f}") if signed else (lambda x: f"{float(x):.4f}")
    return f"{f(iv['estimate'])} [{f(iv.get('low'))}, {f(iv.get('high'))}]"


def _headline_sentence(run: RunData, metric: str) -> str | None:
    """The verdict metric with its interval, beside each no-skill reference's value."""
    m = run.meta["metrics"]
    iv = dig(m, f"uncertainty.model.{metric}")
    if iv is None:
        return None
    fmt = _pct if metric in _POINTS else _num
    refs = [f"{name} {fmt(dig(m, f'baselines.{key}.{metric}'))}" for key, name in _BASELINE_NAMES
            if dig(m, f"baselines.{key}.{metric}") is not None]
    label = _METRIC_LABELS.get(metric, metric)
    value = _iv(iv, metric in _POINTS)
    return f"Ensemble {label} on the test segment {value} (95% interval), against: {', '.join(refs)}."


def _verdict(run: RunData) -> Section:
    """Skill or luck, first: the verdict, every failed rule, the linear remark, the threshold."""
    meta = run.meta
    v = meta.get("verdict")
    body = []
    if not isinstance(v, dict):
        body.append(_p("<strong>Verdict: not recorded</strong> (the run predates verdicts; train again to get one)."))
        metric = "balanced_accuracy"
    else:
        metric = v.get("metric") or "balanced_accuracy"
        body.append(_p(
            f"<strong>Model skill: {esc(skill_word(v.get('model_skill')))}</strong> &nbsp;·&nbsp; "
            f"<strong>Strategy skill: {esc(skill_word(v.get('strategy_skill'), traded(meta)))}</strong>"))
        body.append(_p(esc(
            f"Model skill needs the 95% interval of model − reference on {_METRIC_LABELS.get(metric, metric)} to lie "
            f"{'below' if metric == 'log_loss' else 'above'} 0 for every no-direction reference (majority class, stratified random, volatility-only "
            "logistic regression), and training that moved beyond the class prior. Strategy skill needs the "
            "strategy to beat both nulls (exposure-matched random entries, its own block-permuted signals) at "
            "95% and a PSR against buy-and-hold's Sharpe of at least 0.95; it is n/a when the strategy did not "
            "trade.")))
        reasons = v.get("reasons") or []
        if reasons:
            body.append(_p("What failed:") + "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>")
        else:
            body.append(_p("Every rule passed."))
        for r in v.get("remarks") or []:
            body.append(_p(f"Beside the verdict: {esc(r)}."))
    headline = _headline_sentence(run, metric)
    if headline:
        body.append(_p(esc(headline)))
    if not traded(meta):
        body.append(_p(esc(f"Why the strategy made no trades: {no_trade_reason(meta, _top_confidence(run))}.")))
    wf = meta.get("walk_forward")
    count = walk_forward_count(wf) if isinstance(wf, dict) else None
    if count:
        body.append(_p(esc(f"Walk-forward: {count}.")))
    body.append(_p("<br>".join(esc(line) for line in threshold_lines(meta))))
    return Section("verdict", "Verdict: skill or luck", "".join(body))


def _overview(run: RunData) -> Section:
    from signalpack.evaluation import plots

    lab = run.labelled
    fig = plots.overview_figure(
        equity=run.equity,
        confusion_matrix=run.meta["metrics"]["ensemble"].get("confusion_matrix") or np.zeros((3, 3), int).tolist(),
        labelled_confidence=lab.get_column("confidence").to_numpy(),
        correct=(lab.get_column("signal") == lab.get_column("label")).to_numpy(),
        confidence=run.predictions.get_column("confidence").to_numpy(),
        threshold=run.threshold,
        signals=run.predictions.get_column("signal").to_numpy(),
        title=f"signalpack run {run.path.name}: {run.meta.get('data', {}).get('file', '')}, test segment",
    )
    return Section("overview", "Overview", _p(
        "Equity and drawdown, confusion matrix, reliability and confidence of the test segment at a glance; "
        "each is shown larger, beside its baselines, below."), fig, "overview of the run")


_CLASSIFICATION_ROWS = (
    ("accuracy", "accuracy", _pct),
    ("balanced_accuracy", "balanced accuracy", _pct),
    ("macro_f1", "macro F1", _num),
    ("log_loss", "log loss (lower is better)", _num),
)

_TRADING_ROWS = (
    ("total_return", "total return", _pct),
    ("cagr", "CAGR", _pct),
    ("sharpe", "Sharpe (annualised)", _num),
    ("max_drawdown", "max drawdown", _pct),
    ("n_trades", "trades", fmt_int),
    ("exposure", "exposure (share of bars in a position)", _pct),
)


def _metrics(run: RunData) -> Section:
    m = run.meta["metrics"]
    base = m["baselines"]
    cols = [("ensemble", m["ensemble"])]
    cols += [(f"member {i}", mm) for i, mm in enumerate(m.get("members") or [])]
    cols += [(name, base[key]) for key, name in _BASELINE_NAMES if isinstance(base.get(key), dict)]
    rows = [[esc(label)] + [fmt(c.get(key)) for _, c in cols] for key, label, fmt in _CLASSIFICATION_ROWS]
    rows.append([esc(f"share with confidence ≥ threshold ({run.threshold:g})")]
                + [_pct(c.get("share_confident")) for _, c in cols])
    n = m["ensemble"].get("n")
    draws = dig(base, "stratified_random.draws")
    text = (f"{fmt_int(n)} labelled test windows. The majority baseline always predicts the most frequent "
            "training class; the stratified-random baseline draws a class with the training frequencies "
            f"({'mean of ' + fmt_int(draws) + ' draws' if draws else 'one draw'}; hard 0/1 probabilities, hence "
            "its large log loss).")
    if "volatility_only" in base or "all_features" in base:
        text += (" The logistic regressions (LR) take the features at each window's last step and are fitted on "
                 "the training windows with the members' class weighting: volatility-only sees the volatility "
                 "features alone (it can sort HOLD from a move, not its direction), all-features sees every feature.")
    body = [
        "<h3>Classification on the test segment</h3>",
        _p(esc(text)),
        _table(["metric"] + [esc(name) for name, _ in cols], rows, cls="num"),
        _intervals(m.get("uncertainty"), dig(run.meta, "verdict.metric")),
    ]

    sim = run.meta["simulation"]
    s, bh, rnd = sim["strategy"], sim["buy_and_hold"], sim.get("random") or {}
    random_col = {"total_return": rnd.get("median_return"), "n_trades": rnd.get("n_trades")} if rnd.get("runs") else {}
    trows = [[esc(label), fmt(s.get(key)), fmt(bh.get(key)),
              fmt(random_col[key]) if key in random_col else "—"] for key, label, fmt in _TRADING_ROWS]
    body += [
        "<h3>Trading simulation on the test segment</h3>",
        _table(["", "strategy", "buy &amp; hold", esc(f"random signals (median of {rnd.get('runs') or 0} runs)")],
               trows, cls="num"),
    ]
    if not s.get("n_trades"):
        body.append(_p(esc(f"No trades: the strategy stayed in cash, so there is nothing to compare with the "
                           f"random-signal baseline or the nulls. Why: {no_trade_reason(run.meta, _top_confidence(run))}.")))
    elif rnd.get("runs"):
        body.append(_p(
            f"Random-signal baseline (matches the trade count only): {fmt_int(rnd['runs'])} runs, each placing "
            f"{fmt_int(rnd.get('n_trades'))} long round trips at random bars with the same costs and stops; 5th–95th "
            f"percentile of their total return {_pct(rnd.get('p5_return'))} … {_pct(rnd.get('p95_return'))}. The "
            "strategy's return is at the "
            f"{ordinal(round(rnd['strategy_percentile'])) if rnd.get('strategy_percentile') is not None else 'n/a'} "
            "percentile."))
    body.append(_nulls(sim))
    return Section("metrics", "Metrics beside baselines", "".join(body))


def _intervals(u: Any, metric: str | None) -> str:
    """The ensemble's 95% intervals and the paired differences model − each baseline, per metric."""
    if not isinstance(u, dict):
        return _p("This run directory records no intervals (made by an older signalpack).")
    b = u.get("bootstrap") or {}
    diffs = u.get("differences") or {}
    present = [(key, name) for key, name in _BASELINE_NAMES if key in diffs]
    rows = []
    for key, label, _fmt in _CLASSIFICATION_ROWS:
        pct = key in _POINTS
        rows.append([esc(label), esc(_iv(dig(u, f"model.{key}"), pct))]
                    + [esc(_iv(dig(diffs, f"{k}.{key}"), pct, signed=True)) for k, _ in present])
    chosen = _METRIC_LABELS.get(metric or "balanced_accuracy", metric)
    text = (f"95% intervals from a {b.get('method', 'bootstrap')}, block length {fmt_int(b.get('block_length'))} "
            f"bars (at least the label horizon), {fmt_int(b.get('resamples'))} resamples. A difference is model − "
            "baseline on the same resampled windows: in percentage points for accuracy and balanced accuracy, "
            "as is for macro F1 and log loss (for log loss a negative difference means the model is better). "
            f"The verdict reads the {chosen} row: model skill needs every no-direction reference's interval on "
            "the model's side of 0.")
    return ("<h3>Uncertainty: 95% intervals</h3>" + _p(esc(text))
            + _table(["metric", "ensemble"] + [esc(f"model − {name}") for _, name in present], rows, cls="num"))


_NULLS = (
    ("exposure_matched", ("exposure-matched random entries (the strategy's own trades, same holding times, "
                         "placed at random)")),
    ("block_permuted", "the strategy's own signals, block-permuted in time"),
)


def _nulls(sim: dict[str, Any]) -> str:
    """The strategy against its nulls, and its PSR against buy-and-hold beside buy-and-hold's own."""
    nulls = sim.get("nulls")
    out = []
    if isinstance(nulls, dict) and nulls:
        rows = []
        for key, name in _NULLS:
            n = nulls.get(key)
            if not isinstance(n, dict):
                continue
            p = n.get("p_value")
            pct = n.get("strategy_percentile")
            rows.append([esc(name), fmt_int(n.get("runs")), _pct(n.get("median")),
                         f"{_pct(n.get('p5'))} … {_pct(n.get('p95'))}", _pct(n.get("strategy")),
                         ordinal(round(pct)) if pct is not None else "n/a", _num(p),
                         "yes" if p is not None and p <= 0.05 else "no"])
        out += ["<h3>Strategy nulls</h3>",
                _p(esc("Each null keeps what the strategy had and randomises only its timing; the strategy beats "
                       "a null at 95% when its one-sided p-value is at most 0.05. Returns of strategy and nulls "
                       "alike are replayed open to open (stops not re-applied).")),
                _table(["null", "runs", "null median return", "5th–95th percentile", "strategy (replayed)",
                        "strategy percentile", "p-value", "beaten at 95%"], rows, cls="num")]
    elif isinstance(nulls, dict):
        out.append(_p("The strategy nulls were not run: the strategy made no trades (or null runs are off)."))
    vs = sim.get("psr_vs_buy_and_hold")
    if isinstance(vs, dict) and vs.get("psr_vs_benchmark") is not None:
        out.append(_p(esc(
            f"Probabilistic Sharpe ratio: P(true Sharpe > 0) {_num(vs.get('psr'))}, beside buy-and-hold's own "
            f"{_num(vs.get('benchmark_psr'))}; against buy-and-hold's Sharpe ({_num(vs.get('benchmark_sharpe_per_bar'), 4)} "
            f"per bar) the strategy's PSR is {_num(vs.get('psr_vs_benchmark'))} (strategy skill needs ≥ 0.95).")))
    return "".join(out)


def _equity(run: RunData) -> Section:
    from signalpack.evaluation import plots

    sim = run.meta["simulation"]
    s, bh = sim["strategy"], sim["buy_and_hold"]
    eq = run.equity
    if eq.height == 0:
        text = "equity.csv has no rows: there is no equity curve to draw."
    else:
        ts = eq.get_column("timestamp")
        text = (f"Over {eq.height:,} test bars from {fmt_date(ts.min())} to {fmt_date(ts.max())}, the strategy returned "
                f"{_pct(s.get('total_return'))} (max drawdown {_pct(s.get('max_drawdown'))}) against buy-and-hold's "
                f"{_pct(bh.get('total_return'))} (max drawdown {_pct(bh.get('max_drawdown'))}). Shaded: bars in a "
                "position. The drawdown panel shares the time axis.")
    return Section("equity", "Equity and drawdown", _p(esc(text)), plots.equity_figure(eq),
                    "equity curve of the strategy and buy-and-hold, with drawdowns")


def _trades(run: RunData) -> Section:
    from signalpack.evaluation import plots

    prices = None
    if "close" in run.predictions.columns:
        prices = run.predictions.select("symbol", "timestamp", "close").drop_nulls("close")
    ts = run.equity.get_column("timestamp")
    period = (ts.min(), ts.max()) if run.equity.height else None
    trades = run.trades
    notes = []
    if trades is None:
        notes.append("This run directory has no trades.csv, so no trades are drawn.")
        trades = empty_trades()
    elif trades.height == 0:
        notes.append(f"The strategy made no trades: no signal reached the confidence threshold ({run.threshold:g}).")
    else:
        pnl = trades.get_column("pnl")
        text = (f"{trades.height} trades: {int((pnl > 0).sum())} won, {int((pnl <= 0).sum())} lost; "
                f"total P&L {pnl.sum():,.0f}")
        if "exit_reason" in trades.columns:
            reasons = trades.group_by("exit_reason").len().sort(["len", "exit_reason"], descending=[True, False])
            text += "; exits: " + ", ".join(f"{r} {n}" for r, n in reasons.iter_rows())
        notes.append(text + ". Entries are triangles, exits circles; the line joining them is green for a "
                            "winning trade and red for a losing one.")
    n_symbols = len(set((prices if prices is not None else trades).get_column("symbol").to_list()))
    if n_symbols > MAX_TRADE_PANELS:
        notes.append(f"The run has {n_symbols} symbols; the chart shows the {MAX_TRADE_PANELS} with the most trades.")
    if prices is None:
        notes.append("predictions.csv has no close column (a run made by an older signalpack), so the chart "
                     "shows entry and exit prices only, without the price line.")
    body = "".join(_p(esc(n)) for n in notes)
    if trades.height:
        body += _trades_table(trades, run.meta.get("data", {}).get("has_symbol", False))
    return Section("trades", "Trades", body, plots.trades_figure(trades, prices, period, MAX_TRADE_PANELS),
                    "close price with trade entries and exits")


def _trades_table(trades: pl.DataFrame, has_symbol: bool) -> str:
    shown = trades.sort("entry_time").head(MAX_TRADE_ROWS)
    head = ["#"] + (["symbol"] if has_symbol else []) + ["side", "entry", "exit", "entry price", "exit price",
                                                        "return", "exit reason"]
    rows = []
    for i, t in enumerate(shown.iter_rows(named=True), 1):
        ret = t.get("return_pct")
        ret_text = "n/a" if ret is None else f"{ret:+.2f}%"
        rows.append([str(i)] + ([esc(t["symbol"])] if has_symbol else []) + [
            esc(t["side"]), esc(fmt_date(t["entry_time"])), esc(fmt_date(t["exit_time"])),
            f"{t['entry_price']:,.2f}", f"{t['exit_price']:,.2f}", ret_text, esc(t.get("exit_reason") or ""),
        ])
    caption = "" if trades.height <= MAX_TRADE_ROWS else _p(f"The first {MAX_TRADE_ROWS} of {trades.height} trades:")
    return caption + _table(head, rows, cls="num")


def _confusion(run: RunData) -> Section:
    from signalpack.evaluation import plots

    ens = run.meta["metrics"]["ensemble"]
    matrix = ens.get("confusion_matrix")
    if not matrix:
        return Section("confusion", "Confusion matrix", _p("metadata.json has no confusion matrix."),
                        plots.message_figure("Confusion matrix", "metadata.json has no confusion matrix."))
    majority = run.meta["metrics"]["baselines"].get("majority") or {}
    dist = majority.get("signal_distribution") or {}
    text = (f"Rows are the true class and columns the predicted class, over {fmt_int(ens.get('n'))} labelled test "
            "windows; each cell shows the count and its share of the row (the row's diagonal cell is that "
            "class's recall).")
    if dist:
        cls = max(dist, key=lambda c: dist[c])
        text += f" For comparison, the majority baseline predicts {cls} for every window."
    return Section("confusion", "Confusion matrix", _p(esc(text)), plots.confusion_figure(matrix),
                    "confusion matrix of the ensemble")


def _precision_recall(run: RunData) -> Section:
    from signalpack.evaluation import plots

    m = run.meta["metrics"]
    models = {"ensemble": m["ensemble"]}
    for key, name in (("majority", "majority baseline"), ("stratified_random", "stratified-random baseline")):
        if m["baselines"].get(key):
            models[name] = m["baselines"][key]
    text = ("Precision: of the windows predicted as a class, the share that truly were. Recall: of the windows "
            "of a class, the share predicted as it. The ensemble is drawn beside the majority and "
            "stratified-random baselines.")
    return Section("precision_recall", "Precision and recall per class", _p(esc(text)),
                    plots.precision_recall_figure(models), "per-class precision and recall beside baselines")


def _reliability(run: RunData) -> Section:
    from signalpack.evaluation import plots

    lab = run.labelled
    conf = lab.get_column("confidence").to_numpy()
    correct = (lab.get_column("signal") == lab.get_column("label")).to_numpy()
    if lab.height == 0:
        text = "predictions.csv has no labelled rows, so calibration cannot be measured."
    else:
        ece = float(plots.reliability_bins(conf, correct)["ece"])
        text = (f"The ensemble's top-class confidence against its accuracy over {lab.height:,} labelled test "
                "windows, in 10 equal-count bins (windows per bin below). On the dashed diagonal the confidence "
                f"would equal the accuracy. Expected calibration error (count-weighted mean gap): {ece:.3f}. "
                f"Accuracy overall {_pct(float(correct.mean()))} at a mean confidence of "
                f"{_pct(float(conf.mean()))}.")
    return Section("reliability", "Reliability (calibration)", _p(esc(text)),
                    plots.reliability_figure(conf, correct, run.threshold), "reliability diagram")


def _confidence(run: RunData) -> Section:
    from signalpack.evaluation import plots

    conf = run.predictions.get_column("confidence").to_numpy()
    n_ok = int((conf >= run.threshold).sum())
    if len(conf):
        text = (f"{n_ok:,} of {len(conf):,} test windows ({n_ok / len(conf):.1%}) have a confidence at or above "
                f"the threshold {run.threshold:g}; only those signals are acted on by the simulation.")
    else:
        text = "predictions.csv has no rows."
    return Section("confidence", "Confidence", _p(esc(text)),
                    plots.confidence_figure(conf, run.threshold, run.predictions.get_column("signal").to_numpy()),
                    "histogram of confidence with the threshold")


def _learning_curves(run: RunData) -> Section:
    from signalpack.evaluation import plots

    ens = run.meta.get("ensemble") or {}
    members = ens.get("members") or []
    weights = ens.get("weights") or []
    body = _p(esc("Loss and accuracy per epoch on the training data (solid) and the validation segment "
                 "(dashed); the dotted line marks the epoch whose weights were kept."))
    if members:
        rows = [[str(i), _num(mm.get("learning_rate"), 4) if mm.get("learning_rate") is not None else "n/a",
                 fmt_int(mm.get("epochs_trained")), fmt_int(mm.get("best_epoch")), _num(mm.get("validation_macro_f1")),
                 _num(weights[i]) if i < len(weights) else "n/a"] for i, mm in enumerate(members)]
        body += _table(["member", "initial learning rate", "epochs trained", "kept epoch", "validation macro F1",
                        "ensemble weight"], rows, cls="num")
    best = [mm.get("best_epoch") for mm in members] or None
    return Section("learning_curves", "Learning curves", body, plots.learning_curves_figure(run.history, best),
                    "learning curves per member")


def _monte_carlo(run: RunData) -> Section:
    from signalpack.evaluation import plots

    sim = run.meta["simulation"]
    s, rnd = sim["strategy"], sim.get("random") or {}
    title = "Random-signal baseline (Monte Carlo)"
    r = run.random_returns
    strategy_return = float(s.get("total_return") or 0.0)
    if r is not None and len(r):
        pct = rnd.get("strategy_percentile")
        pct = float(pct) if pct is not None else float(100.0 * np.mean(r <= strategy_return))
        text = (f"{len(r):,} runs that trade at random bars, each with {fmt_int(rnd.get('n_trades'))} long round "
                f"trips and the same costs and stops as the strategy, so only the timing differs. The strategy's "
                f"total return {_pct(strategy_return)} is at the {ordinal(round(pct))} percentile (the share of runs at or "
                f"below it); random median {_pct(float(np.median(r)))}. This baseline matches the trade count only; "
                "the strategy nulls under the metrics match the time in the market too.")
        return Section("monte_carlo", title, _p(esc(text)), plots.monte_carlo_figure(r, strategy_return, pct),
                        "histogram of random-signal returns with the strategy marked")
    if not s.get("n_trades"):
        text = ("The strategy made no trades, so there is no random-signal baseline: random timings are drawn with "
                "the strategy's trade count.")
    elif r is None and rnd.get("runs"):
        text = (f"This run directory has no random_returns.csv (made by an older signalpack), so the distribution "
                f"cannot be drawn. From metadata.json: {fmt_int(rnd['runs'])} runs, median return "
                f"{_pct(rnd.get('median_return'))}, 5th–95th percentile {_pct(rnd.get('p5_return'))} … "
                f"{_pct(rnd.get('p95_return'))}; the strategy at the {_num(rnd.get('strategy_percentile'), 0)}th "
                "percentile.")
    elif r is None:
        text = "This run directory has no random_returns.csv and its metadata records no random-signal runs."
    else:
        text = "random_returns.csv has no rows: no random-signal runs were made."
    return Section("monte_carlo", title, _p(esc(text)), plots.message_figure(title, text),
                    "no random-signal distribution to plot")


_SHARPE_ROWS = (
    ("n_returns", "bar returns", fmt_int),
    ("sharpe_per_bar", "Sharpe ratio per bar", lambda v: _num(v, 4)),
    ("sharpe_annual", "Sharpe ratio, annualised", _num),
    ("skewness", "skewness of bar returns", _num),
    ("kurtosis", "kurtosis of bar returns (Pearson: 3 for normal returns)", _num),
    ("psr", "PSR: probability the true Sharpe ratio > 0", _pct),
    ("n_trials", "trials (strategy variants tried)", fmt_int),
    ("sr_variance", "variance of the trials' Sharpe ratios (per bar)", lambda v: _num(v, 6)),
    ("sr0_per_bar", "SR₀: best Sharpe per bar expected from that many unskilled trials", lambda v: _num(v, 4)),
    ("dsr", "DSR: probability the true Sharpe ratio > SR₀", _pct),
)


def _sharpe(run: RunData) -> Section:
    sim = run.meta["simulation"]
    stats = sim.get("sharpe_statistics")
    title = "Probabilistic and deflated Sharpe ratio"
    if not isinstance(stats, dict):
        return Section("sharpe", title, _p(esc(
            "This run directory has no Sharpe statistics (made by an older signalpack); train again to get the "
            "probabilistic and deflated Sharpe ratios.")))
    trials = sim.get("trials") or []
    n_trials = stats.get("n_trials")
    counted = trials_text(run.meta) or (f"{n_trials} trials" if n_trials is not None else "the trials")
    body = [_p(esc(
        "PSR is the probability that the strategy's true Sharpe ratio is above zero, given the length, skewness "
        "and kurtosis of its bar returns; buy-and-hold's own PSR and the PSR against buy-and-hold's Sharpe stand "
        "beside it, since in a rising market holding the index clears zero too. DSR deflates for selection: the "
        f"probability that it is above SR₀, the best Sharpe ratio expected from {counted} with no skill "
        "(Bailey & López de Prado)."))]
    if stats.get("note"):
        body.append(_p(esc(stats["note"])))
    rows = [[esc(label), fmt(stats.get(key))] for key, label, fmt in _SHARPE_ROWS]
    vs = sim.get("psr_vs_buy_and_hold")
    if isinstance(vs, dict):
        at = next(i for i, (key, *_rest) in enumerate(_SHARPE_ROWS) if key == "psr") + 1
        rows[at:at] = [
            [esc("buy-and-hold's own PSR (its P(SR > 0))"), _pct(vs.get("benchmark_psr"))],
            [esc("PSR against buy-and-hold's Sharpe (strategy skill needs ≥ 95%)"), _pct(vs.get("psr_vs_benchmark"))],
        ]
    body.append(_table(["statistic", "value"], rows, cls="num"))
    if trials:
        key = "sharpe" if any("sharpe" in t for t in trials) else "sharpe_per_bar"
        with_thr = any("threshold" in t for t in trials)
        body.append(_p(esc(f"The {len(trials)} trials counted:")))
        body.append(_table(["trial"] + (["threshold"] if with_thr else [])
                           + ["Sharpe ratio" if key == "sharpe" else "Sharpe ratio per bar"],
                           [[esc(t.get("name", "?"))] + ([_num(t.get("threshold"), 2)] if with_thr else [])
                            + [_num(t.get(key), 4)] for t in trials], cls="num"))
    return Section("sharpe", title, "".join(body))


_WF_COLUMNS = (
    ("ensemble balanced accuracy", "metrics.ensemble.balanced_accuracy", "ensemble.balanced_accuracy", _pct),
    ("majority balanced accuracy", "metrics.baselines.majority.balanced_accuracy", "majority.balanced_accuracy", _pct),
    ("volatility-only LR balanced accuracy", "metrics.baselines.volatility_only.balanced_accuracy",
     "volatility_only.balanced_accuracy", _pct),
    ("strategy return", "simulation.strategy.total_return", "strategy.total_return", _pct),
    ("buy &amp; hold return", "simulation.buy_and_hold.total_return", "buy_and_hold.total_return", _pct),
    ("strategy Sharpe", "simulation.strategy.sharpe", "strategy.sharpe", _num),
    ("buy &amp; hold Sharpe", "simulation.buy_and_hold.sharpe", "buy_and_hold.sharpe", _num),
    ("trades", "simulation.strategy.n_trades", "strategy.n_trades", fmt_int),
    ("PSR", "simulation.sharpe_statistics.psr", "strategy.psr", _pct),
    ("DSR", "simulation.sharpe_statistics.dsr", "strategy.dsr", _pct),
)
"""(column header, path in a fold record, aggregate name, format)."""


def _mean_std(values: list[Any]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof=1, as the pipeline's aggregate) of the values that are not None."""
    vals = np.array([float(v) for v in values if v is not None])
    if len(vals) == 0:
        return None, None
    return float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0


def _walk_forward(run: RunData) -> Section:
    from signalpack.evaluation import plots

    title = "Walk-forward evaluation"
    wf = run.meta.get("walk_forward")
    folds = (wf or {}).get("folds") or []
    if not folds:
        return Section("walk_forward", title, _p(
            "This run has no walk-forward evaluation; run <code>signalpack train --walk-forward K</code> "
            "to train and test K expanding-window folds."))
    aggregate = wf.get("aggregate") or {}

    def period(fold: dict[str, Any], seg: str) -> str:
        s = dig(fold, f"segments.{seg}") or {}
        return esc(f"{fmt_date(s.get('start'))} … {fmt_date(s.get('end'))}")

    verdicts = any(isinstance(f.get("verdict"), dict) for f in folds)
    rows = []
    for f in folds:
        v = f.get("verdict") if isinstance(f.get("verdict"), dict) else {}
        did = bool(dig(f, "simulation.strategy.n_trades"))
        skill = ([esc(skill_word(v.get("model_skill"))) if v else "n/a",
                  esc(skill_word(v.get("strategy_skill"), did)) if v else "n/a"] if verdicts else [])
        rows.append([esc(f.get("fold")), period(f, "train"), period(f, "test"),
                     fmt_int(dig(f, "segments.test.windows"))] + skill
                    + [fmt(dig(f, path)) for _, path, _, fmt in _WF_COLUMNS])
    foot = []
    for label, stat in (("mean", "mean"), ("std", "std")):
        cells = [label, "", "", ""] + (["", ""] if verdicts else [])
        for _, path, name, fmt in _WF_COLUMNS:
            agg = aggregate.get(name)
            if isinstance(agg, dict) and agg.get(stat) is not None:
                v = agg[stat]
            else:
                v = _mean_std([dig(f, path) for f in folds])[stat == "std"]
            cells.append(_num(v, 1) if fmt is fmt_int and v is not None else fmt(v))
        foot.append(cells)
    head = (["fold", "train", "test", "test windows"] + (["model skill", "strategy skill"] if verdicts else [])
            + [h for h, *_ in _WF_COLUMNS])
    text = (f"{len(folds)} {esc(wf.get('scheme', 'expanding'))}-window folds: each fold trains on everything "
            "before its validation segment and is tested on the slice after it, so every test slice is "
            "out of sample. Figures are on each fold's test segment, each beside its baseline; mean and "
            "standard deviation across folds below the folds.")
    count = walk_forward_count(wf)
    text += f" Each fold gets its own verdict: {esc(count)}." if count else " This run records no per-fold verdicts."
    series = {}
    for _, path, name, _fmt in _WF_COLUMNS:
        vals = [dig(f, path) for f in folds]
        if any(v is not None for v in vals):
            series[name] = vals
    summary = {name: (float(a["mean"]), float(a["std"])) for name, a in aggregate.items()
               if isinstance(a, dict) and a.get("mean") is not None and a.get("std") is not None}
    fig = plots.walk_forward_figure([f.get("fold") for f in folds], series, summary, run.fold_equity)
    body = _p(text) + _table(head, rows, row_class="fold", foot=foot, cls="num")
    return Section("walk_forward", title, body, fig, "per-fold metrics and returns with mean and std")


BUILDERS: tuple[Callable[[RunData], Section], ...] = (
    _verdict, _overview, _metrics, _equity, _trades, _confusion, _precision_recall, _reliability, _confidence,
    _learning_curves, _monte_carlo, _sharpe, _walk_forward,
)

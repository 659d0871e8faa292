"""A self-contained HTML report of a run directory, with its figures as PNGs.

``write_report(run_dir)`` reads the run directory (metadata.json, equity.csv,
predictions.csv, history.csv; trades.csv, random_returns.csv and walk_forward/
when present), draws every figure with ``train.plots`` and writes

    <out_dir>/report.html      one page, every image embedded as a base64 data URI
    <out_dir>/<section>.png    the same images as files (overview.png is the composite
                               meant for a README screenshot)

Every model figure stands beside its baseline. An optional input that is missing
(no walk-forward, no random_returns.csv in an older run, zero trades) gives its
section a plain sentence saying why there is nothing to plot, never an error. The
output is built in a temporary folder beside ``out_dir`` and renamed into place,
and the same run directory always gives byte-identical files (no "now" anywhere:
the date shown is the run's ``created_at``).
"""

from __future__ import annotations

import base64
import html
import json
import os
import secrets
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from score.atomic import TMP_MARK, clean_stale
from score.errors import OutputError, RunDirError
from score.io import first_line

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["write_report", "ReportResult", "SECTIONS", "REQUIRED_FILES", "REPORT_FILE", "MAX_TRADE_PANELS"]

REQUIRED_FILES = ("metadata.json", "equity.csv", "predictions.csv", "history.csv")
REPORT_FILE = "report.html"
MAX_TRADE_PANELS = 4
MAX_TRADE_ROWS = 20
SECTIONS = (
    "overview", "metrics", "equity", "trades", "confusion", "precision_recall", "reliability",
    "confidence", "learning_curves", "monte_carlo", "sharpe", "walk_forward",
)
"""Section ids, in page order (each is ``<section id="...">`` with an ``<h2>``)."""


@dataclass(frozen=True)
class ReportResult:
    """What ``write_report`` wrote.

    html : path of report.html.
    pngs : {section id: path of its PNG}, in page order; a section without an image
        (metrics, sharpe, walk_forward when the run has none) is absent.
    sections : the section ids in page order.
    """

    html: Path
    pngs: dict[str, Path]
    sections: list[str]


# --------------------------------------------------------------------------- reading

_DATETIME, _FLOAT, _INT, _STR = "datetime", "float", "int", "str"

_EQUITY = {"timestamp": _DATETIME, "equity": _FLOAT, "buy_and_hold_equity": _FLOAT}
_EQUITY_OPT = {"position": _INT}
_PREDICTIONS = {
    "symbol": _STR, "timestamp": _DATETIME, "label": _STR, "prob_sell": _FLOAT, "prob_hold": _FLOAT,
    "prob_buy": _FLOAT, "signal": _STR, "confidence": _FLOAT,
}
_PREDICTIONS_OPT = {"close": _FLOAT}
_HISTORY = {"member": _INT, "epoch": _INT, "loss": _FLOAT, "accuracy": _FLOAT}
_HISTORY_OPT = {"val_loss": _FLOAT, "val_accuracy": _FLOAT, "learning_rate_initial": _FLOAT, "learning_rate": _FLOAT}
_TRADES = {
    "symbol": _STR, "entry_time": _DATETIME, "exit_time": _DATETIME, "side": _STR, "entry_price": _FLOAT,
    "exit_price": _FLOAT, "pnl": _FLOAT,
}
_TRADES_OPT = {"return_pct": _FLOAT, "exit_reason": _STR, "shares": _FLOAT, "costs": _FLOAT}
_RANDOM = {"total_return": _FLOAT}


def _read_csv(path: Path, required: dict[str, str], optional: dict[str, str] | None = None) -> pl.DataFrame:
    """Read every column as text, check the required ones, then cast (a bad value names its column)."""
    try:
        frame = pl.read_csv(path, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: cannot be read as CSV ({first_line(exc)})") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RunDirError(
            f"{path}: has columns [{', '.join(frame.columns)}]; a report needs [{', '.join(required)}]; "
            f"missing: {', '.join(missing)}"
        )
    kinds = {**{c: k for c, k in (optional or {}).items() if c in frame.columns}, **required}
    for col, kind in kinds.items():
        e = pl.col(col)
        if kind == _DATETIME:
            e = e.str.to_datetime(time_unit="us", strict=True)
        elif kind == _FLOAT:
            e = e.cast(pl.Float64, strict=True)
        elif kind == _INT:
            e = e.cast(pl.Int64, strict=True)
        elif col == "symbol":
            e = e.fill_null("")
        else:
            e = pl.when(e == "").then(None).otherwise(e)
        try:
            frame = frame.with_columns(e.alias(col))
        except pl.exceptions.PolarsError as exc:
            raise RunDirError(f"{path}: column {col} has a value that is not a {kind} ({first_line(exc)})") from exc
    return frame


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({first_line(exc)})") from exc
    if not isinstance(obj, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(obj).__name__}")
    return obj


def _require_keys(path: Path, meta: dict[str, Any]) -> None:
    need = {
        "confidence_threshold": meta, "metrics": meta, "simulation": meta,
        "metrics.ensemble": meta.get("metrics"), "metrics.baselines": meta.get("metrics"),
        "simulation.strategy": meta.get("simulation"), "simulation.buy_and_hold": meta.get("simulation"),
    }
    missing = [k for k, parent in need.items() if not isinstance(parent, dict) or k.rsplit(".", 1)[-1] not in parent]
    if missing:
        raise RunDirError(f"{path}: missing key(s) {', '.join(missing)}; is this a signalpack run directory?")


@dataclass(frozen=True)
class _Run:
    path: Path
    meta: dict[str, Any]
    equity: pl.DataFrame
    predictions: pl.DataFrame
    history: pl.DataFrame
    trades: pl.DataFrame | None  # None: no trades.csv
    random_returns: np.ndarray | None  # None: no random_returns.csv
    fold_equity: dict[int, pl.DataFrame] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.meta["confidence_threshold"])

    @property
    def labelled(self) -> pl.DataFrame:
        return self.predictions.filter(pl.col("label").is_not_null())


def _read_run(run_dir: Path) -> _Run:
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (no such folder)")
    for name in REQUIRED_FILES:
        if not (run_dir / name).is_file():
            raise RunDirError(f"{run_dir}: missing {name}; is this a complete run directory?")
    meta = _read_json(run_dir / "metadata.json")
    _require_keys(run_dir / "metadata.json", meta)
    trades = random = None
    if (run_dir / "trades.csv").is_file():
        trades = _read_csv(run_dir / "trades.csv", _TRADES, _TRADES_OPT)
    if (run_dir / "random_returns.csv").is_file():
        random = _read_csv(run_dir / "random_returns.csv", _RANDOM).get_column("total_return").to_numpy()
    fold_equity = {}
    for fold in (meta.get("walk_forward") or {}).get("folds") or []:
        path = run_dir / "walk_forward" / f"fold_{fold.get('fold')}" / "equity.csv"
        if path.is_file():
            fold_equity[fold["fold"]] = _read_csv(path, _EQUITY, _EQUITY_OPT).sort("timestamp")
    return _Run(
        path=run_dir,
        meta=meta,
        equity=_read_csv(run_dir / "equity.csv", _EQUITY, _EQUITY_OPT).sort("timestamp"),
        predictions=_read_csv(run_dir / "predictions.csv", _PREDICTIONS, _PREDICTIONS_OPT),
        history=_read_csv(run_dir / "history.csv", _HISTORY, _HISTORY_OPT),
        trades=trades,
        random_returns=random,
        fold_equity=fold_equity,
    )


# --------------------------------------------------------------------------- formatting


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pct(v: Any, digits: int = 2) -> str:
    return "n/a" if v is None else f"{100 * float(v):.{digits}f}%"


def _num(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{float(v):.{digits}f}"


def _int(v: Any) -> str:
    return "n/a" if v is None else f"{int(v):,}"


def _date(v: Any) -> str:
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


def _dig(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


# --------------------------------------------------------------------------- sections


@dataclass
class _Section:
    id: str
    title: str
    body: str
    figure: Figure | None = None
    alt: str = ""


def _overview(run: _Run) -> _Section:
    from train import plots

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
    return _Section("overview", "Overview", _p(
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
    ("n_trades", "trades", _int),
    ("exposure", "exposure (share of bars in a position)", _pct),
)


def _metrics(run: _Run) -> _Section:
    m = run.meta["metrics"]
    base = m["baselines"]
    cols = [("ensemble", m["ensemble"])]
    cols += [(f"member {i}", mm) for i, mm in enumerate(m.get("members") or [])]
    cols += [("majority baseline", base.get("majority") or {}),
             ("stratified-random baseline", base.get("stratified_random") or {})]
    rows = [[_e(label)] + [fmt(c.get(key)) for _, c in cols] for key, label, fmt in _CLASSIFICATION_ROWS]
    rows.append([_e(f"share with confidence ≥ threshold ({run.threshold:g})")]
                + [_pct(c.get("share_confident")) for _, c in cols])
    n = m["ensemble"].get("n")
    body = [
        "<h3>Classification on the test segment</h3>",
        _p(f"{_int(n)} labelled test windows. The majority baseline always predicts the most frequent "
           "training class; the stratified-random baseline draws a class with the training frequencies "
           "(hard 0/1 probabilities, hence its large log loss)."),
        _table(["metric"] + [_e(name) for name, _ in cols], rows, cls="num"),
    ]

    sim = run.meta["simulation"]
    s, bh, rnd = sim["strategy"], sim["buy_and_hold"], sim.get("random") or {}
    random_col = {"total_return": rnd.get("median_return"), "n_trades": rnd.get("n_trades")} if rnd.get("runs") else {}
    trows = [[_e(label), fmt(s.get(key)), fmt(bh.get(key)),
              fmt(random_col[key]) if key in random_col else "—"] for key, label, fmt in _TRADING_ROWS]
    body += [
        "<h3>Trading simulation on the test segment</h3>",
        _table(["", "strategy", "buy &amp; hold", _e(f"random signals (median of {rnd.get('runs') or 0} runs)")],
               trows, cls="num"),
    ]
    if not s.get("n_trades"):
        body.append(_p(f"No signal reached the confidence threshold ({run.threshold:g}): the strategy stayed "
                       "in cash, so there is no random-signal baseline to compare with."))
    elif rnd.get("runs"):
        body.append(_p(
            f"Random-signal baseline: {_int(rnd['runs'])} runs, each placing {_int(rnd.get('n_trades'))} long "
            f"round trips at random bars with the same costs and stops; 5th–95th percentile of their total "
            f"return {_pct(rnd.get('p5_return'))} … {_pct(rnd.get('p95_return'))}. The strategy's return is at "
            f"the {_num(rnd.get('strategy_percentile'), 0)}th percentile."))
    return _Section("metrics", "Metrics beside baselines", "".join(body))


def _equity(run: _Run) -> _Section:
    from train import plots

    sim = run.meta["simulation"]
    s, bh = sim["strategy"], sim["buy_and_hold"]
    eq = run.equity
    if eq.height == 0:
        text = "equity.csv has no rows: there is no equity curve to draw."
    else:
        ts = eq.get_column("timestamp")
        text = (f"Over {eq.height:,} test bars from {_date(ts.min())} to {_date(ts.max())}, the strategy returned "
                f"{_pct(s.get('total_return'))} (max drawdown {_pct(s.get('max_drawdown'))}) against buy-and-hold's "
                f"{_pct(bh.get('total_return'))} (max drawdown {_pct(bh.get('max_drawdown'))}). Shaded: bars in a "
                "position. The drawdown panel shares the time axis.")
    return _Section("equity", "Equity and drawdown", _p(_e(text)), plots.equity_figure(eq),
                    "equity curve of the strategy and buy-and-hold, with drawdowns")


def _trades(run: _Run) -> _Section:
    from train import plots

    prices = None
    if "close" in run.predictions.columns:
        prices = run.predictions.select("symbol", "timestamp", "close").drop_nulls("close")
    ts = run.equity.get_column("timestamp")
    period = (ts.min(), ts.max()) if run.equity.height else None
    trades = run.trades
    notes = []
    if trades is None:
        notes.append("This run directory has no trades.csv, so no trades are drawn.")
        trades = pl.DataFrame(schema={c: (pl.Datetime("us") if k == _DATETIME else pl.Float64 if k == _FLOAT
                                          else pl.String) for c, k in _TRADES.items()})
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
    body = "".join(_p(_e(n)) for n in notes)
    if trades.height:
        body += _trades_table(trades, run.meta.get("data", {}).get("has_symbol", False))
    return _Section("trades", "Trades", body, plots.trades_figure(trades, prices, period, MAX_TRADE_PANELS),
                    "close price with trade entries and exits")


def _trades_table(trades: pl.DataFrame, has_symbol: bool) -> str:
    shown = trades.sort("entry_time").head(MAX_TRADE_ROWS)
    head = ["#"] + (["symbol"] if has_symbol else []) + ["side", "entry", "exit", "entry price", "exit price",
                                                        "return", "exit reason"]
    rows = []
    for i, t in enumerate(shown.iter_rows(named=True), 1):
        ret = t.get("return_pct")
        ret_text = "n/a" if ret is None else f"{ret:+.2f}%"
        rows.append([str(i)] + ([_e(t["symbol"])] if has_symbol else []) + [
            _e(t["side"]), _e(_date(t["entry_time"])), _e(_date(t["exit_time"])),
            f"{t['entry_price']:,.2f}", f"{t['exit_price']:,.2f}", ret_text, _e(t.get("exit_reason") or ""),
        ])
    caption = "" if trades.height <= MAX_TRADE_ROWS else _p(f"The first {MAX_TRADE_ROWS} of {trades.height} trades:")
    return caption + _table(head, rows, cls="num")


def _confusion(run: _Run) -> _Section:
    from train import plots

    ens = run.meta["metrics"]["ensemble"]
    matrix = ens.get("confusion_matrix")
    if not matrix:
        return _Section("confusion", "Confusion matrix", _p("metadata.json has no confusion matrix."),
                        plots.message_figure("Confusion matrix", "metadata.json has no confusion matrix."))
    majority = run.meta["metrics"]["baselines"].get("majority") or {}
    dist = majority.get("signal_distribution") or {}
    text = (f"Rows are the true class and columns the predicted class, over {_int(ens.get('n'))} labelled test "
            "windows; each cell shows the count and its share of the row (the row's diagonal cell is that "
            "class's recall).")
    if dist:
        cls = max(dist, key=lambda c: dist[c])
        text += f" For comparison, the majority baseline predicts {cls} for every window."
    return _Section("confusion", "Confusion matrix", _p(_e(text)), plots.confusion_figure(matrix),
                    "confusion matrix of the ensemble")


def _precision_recall(run: _Run) -> _Section:
    from train import plots

    m = run.meta["metrics"]
    models = {"ensemble": m["ensemble"]}
    for key, name in (("majority", "majority baseline"), ("stratified_random", "stratified-random baseline")):
        if m["baselines"].get(key):
            models[name] = m["baselines"][key]
    text = ("Precision: of the windows predicted as a class, the share that truly were. Recall: of the windows "
            "of a class, the share predicted as it. The ensemble is drawn beside the majority and "
            "stratified-random baselines.")
    return _Section("precision_recall", "Precision and recall per class", _p(_e(text)),
                    plots.precision_recall_figure(models), "per-class precision and recall beside baselines")


def _reliability(run: _Run) -> _Section:
    from train import plots

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
    return _Section("reliability", "Reliability (calibration)", _p(_e(text)),
                    plots.reliability_figure(conf, correct, run.threshold), "reliability diagram")


def _confidence(run: _Run) -> _Section:
    from train import plots

    conf = run.predictions.get_column("confidence").to_numpy()
    n_ok = int((conf >= run.threshold).sum())
    if len(conf):
        text = (f"{n_ok:,} of {len(conf):,} test windows ({n_ok / len(conf):.1%}) have a confidence at or above "
                f"the threshold {run.threshold:g}; only those signals are acted on by the simulation.")
    else:
        text = "predictions.csv has no rows."
    return _Section("confidence", "Confidence", _p(_e(text)),
                    plots.confidence_figure(conf, run.threshold, run.predictions.get_column("signal").to_numpy()),
                    "histogram of confidence with the threshold")


def _learning_curves(run: _Run) -> _Section:
    from train import plots

    ens = run.meta.get("ensemble") or {}
    members = ens.get("members") or []
    weights = ens.get("weights") or []
    body = _p(_e("Loss and accuracy per epoch on the training data (solid) and the validation segment "
                 "(dashed); the dotted line marks the epoch whose weights were kept."))
    if members:
        rows = [[str(i), _num(mm.get("learning_rate"), 4) if mm.get("learning_rate") is not None else "n/a",
                 _int(mm.get("epochs_trained")), _int(mm.get("best_epoch")), _num(mm.get("validation_macro_f1")),
                 _num(weights[i]) if i < len(weights) else "n/a"] for i, mm in enumerate(members)]
        body += _table(["member", "initial learning rate", "epochs trained", "kept epoch", "validation macro F1",
                        "ensemble weight"], rows, cls="num")
    best = [mm.get("best_epoch") for mm in members] or None
    return _Section("learning_curves", "Learning curves", body, plots.learning_curves_figure(run.history, best),
                    "learning curves per member")


def _monte_carlo(run: _Run) -> _Section:
    from train import plots

    sim = run.meta["simulation"]
    s, rnd = sim["strategy"], sim.get("random") or {}
    title = "Random-signal baseline (Monte Carlo)"
    r = run.random_returns
    strategy_return = float(s.get("total_return") or 0.0)
    if r is not None and len(r):
        pct = rnd.get("strategy_percentile")
        pct = float(pct) if pct is not None else float(100.0 * np.mean(r <= strategy_return))
        text = (f"{len(r):,} runs that trade at random bars, each with {_int(rnd.get('n_trades'))} long round "
                f"trips and the same costs and stops as the strategy, so only the timing differs. The strategy's "
                f"total return {_pct(strategy_return)} is at the {pct:.0f}th percentile (the share of runs at or "
                f"below it); random median {_pct(float(np.median(r)))}.")
        return _Section("monte_carlo", title, _p(_e(text)), plots.monte_carlo_figure(r, strategy_return, pct),
                        "histogram of random-signal returns with the strategy marked")
    if not s.get("n_trades"):
        text = ("The strategy made no trades, so there is no random-signal baseline: random timings are drawn with "
                "the strategy's trade count.")
    elif r is None and rnd.get("runs"):
        text = (f"This run directory has no random_returns.csv (made by an older signalpack), so the distribution "
                f"cannot be drawn. From metadata.json: {_int(rnd['runs'])} runs, median return "
                f"{_pct(rnd.get('median_return'))}, 5th–95th percentile {_pct(rnd.get('p5_return'))} … "
                f"{_pct(rnd.get('p95_return'))}; the strategy at the {_num(rnd.get('strategy_percentile'), 0)}th "
                "percentile.")
    elif r is None:
        text = "This run directory has no random_returns.csv and its metadata records no random-signal runs."
    else:
        text = "random_returns.csv has no rows: no random-signal runs were made."
    return _Section("monte_carlo", title, _p(_e(text)), plots.message_figure(title, text),
                    "no random-signal distribution to plot")


_SHARPE_ROWS = (
    ("n_returns", "bar returns", _int),
    ("sharpe_per_bar", "Sharpe ratio per bar", lambda v: _num(v, 4)),
    ("sharpe_annual", "Sharpe ratio, annualised", _num),
    ("skewness", "skewness of bar returns", _num),
    ("kurtosis", "kurtosis of bar returns (Pearson: 3 for normal returns)", _num),
    ("psr", "PSR: probability the true Sharpe ratio > 0", _pct),
    ("n_trials", "trials (strategy variants tried)", _int),
    ("sr_variance", "variance of the trials' Sharpe ratios (per bar)", lambda v: _num(v, 6)),
    ("sr0_per_bar", "SR₀: best Sharpe per bar expected from that many unskilled trials", lambda v: _num(v, 4)),
    ("dsr", "DSR: probability the true Sharpe ratio > SR₀", _pct),
)


def _sharpe(run: _Run) -> _Section:
    sim = run.meta["simulation"]
    stats = sim.get("sharpe_statistics")
    title = "Probabilistic and deflated Sharpe ratio"
    if not isinstance(stats, dict):
        return _Section("sharpe", title, _p(_e(
            "This run directory has no Sharpe statistics (made by an older signalpack); train again to get the "
            "probabilistic and deflated Sharpe ratios.")))
    trials = sim.get("trials") or []
    n_trials = stats.get("n_trials")
    body = [_p(_e(
        "PSR is the probability that the strategy's true Sharpe ratio is above zero, given the length, skewness "
        "and kurtosis of its bar returns. DSR deflates for selection: the probability that it is above SR₀, the "
        f"best Sharpe ratio expected from {n_trials if n_trials is not None else 'the'} trials with no skill "
        "(Bailey & López de Prado)."))]
    if stats.get("note"):
        body.append(_p(_e(stats["note"])))
    body.append(_table(["statistic", "value"], [[_e(label), fmt(stats.get(key))] for key, label, fmt in _SHARPE_ROWS],
                       cls="num"))
    if trials:
        key = "sharpe" if any("sharpe" in t for t in trials) else "sharpe_per_bar"
        body.append(_p(_e(f"The {len(trials)} trials counted:")))
        body.append(_table(["trial", "Sharpe ratio" if key == "sharpe" else "Sharpe ratio per bar"],
                           [[_e(t.get("name", "?")), _num(t.get(key), 4)] for t in trials], cls="num"))
    return _Section("sharpe", title, "".join(body))


_WF_COLUMNS = (
    ("ensemble balanced accuracy", "metrics.ensemble.balanced_accuracy", "ensemble.balanced_accuracy", _pct),
    ("majority balanced accuracy", "metrics.baselines.majority.balanced_accuracy", "majority.balanced_accuracy", _pct),
    ("strategy return", "simulation.strategy.total_return", "strategy.total_return", _pct),
    ("buy &amp; hold return", "simulation.buy_and_hold.total_return", "buy_and_hold.total_return", _pct),
    ("strategy Sharpe", "simulation.strategy.sharpe", "strategy.sharpe", _num),
    ("buy &amp; hold Sharpe", "simulation.buy_and_hold.sharpe", "buy_and_hold.sharpe", _num),
    ("trades", "simulation.strategy.n_trades", "strategy.n_trades", _int),
)
"""(column header, path in a fold record, aggregate name, format)."""


def _mean_std(values: list[Any]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof=1, as the pipeline's aggregate) of the values that are not None."""
    vals = np.array([float(v) for v in values if v is not None])
    if len(vals) == 0:
        return None, None
    return float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0


def _walk_forward(run: _Run) -> _Section:
    from train import plots

    title = "Walk-forward evaluation"
    wf = run.meta.get("walk_forward")
    folds = (wf or {}).get("folds") or []
    if not folds:
        return _Section("walk_forward", title, _p(
            "This run has no walk-forward evaluation; run <code>signalpack train --walk-forward K</code> "
            "to train and test K expanding-window folds."))
    aggregate = wf.get("aggregate") or {}

    def period(fold: dict[str, Any], seg: str) -> str:
        s = _dig(fold, f"segments.{seg}") or {}
        return _e(f"{_date(s.get('start'))} … {_date(s.get('end'))}")

    rows = []
    for f in folds:
        rows.append([_e(f.get("fold")), period(f, "train"), period(f, "test"),
                     _int(_dig(f, "segments.test.windows"))]
                    + [fmt(_dig(f, path)) for _, path, _, fmt in _WF_COLUMNS])
    foot = []
    for label, stat in (("mean", "mean"), ("std", "std")):
        cells = [label, "", "", ""]
        for _, path, name, fmt in _WF_COLUMNS:
            agg = aggregate.get(name)
            if isinstance(agg, dict) and agg.get(stat) is not None:
                v = agg[stat]
            else:
                v = _mean_std([_dig(f, path) for f in folds])[stat == "std"]
            cells.append(_num(v, 1) if fmt is _int and v is not None else fmt(v))
        foot.append(cells)
    head = ["fold", "train", "test", "test windows"] + [h for h, *_ in _WF_COLUMNS]
    text = (f"{len(folds)} {_e(wf.get('scheme', 'expanding'))}-window folds: each fold trains on everything "
            "before its validation segment and is tested on the slice after it, so every test slice is "
            "out of sample. Figures are on each fold's test segment, each beside its baseline; mean and "
            "standard deviation across folds below the folds.")
    series = {}
    for _, path, name, _fmt in _WF_COLUMNS:
        vals = [_dig(f, path) for f in folds]
        if any(v is not None for v in vals):
            series[name] = vals
    summary = {name: (float(a["mean"]), float(a["std"])) for name, a in aggregate.items()
               if isinstance(a, dict) and a.get("mean") is not None and a.get("std") is not None}
    fig = plots.walk_forward_figure([f.get("fold") for f in folds], series, summary, run.fold_equity)
    body = _p(text) + _table(head, rows, row_class="fold", foot=foot, cls="num")
    return _Section("walk_forward", title, body, fig, "per-fold metrics and returns with mean and std")


_BUILDERS: tuple[Callable[[_Run], _Section], ...] = (
    _overview, _metrics, _equity, _trades, _confusion, _precision_recall, _reliability, _confidence,
    _learning_curves, _monte_carlo, _sharpe, _walk_forward,
)


# --------------------------------------------------------------------------- page

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1180px;margin:0 auto;
padding:0 1.2rem 3rem;color:#222;line-height:1.45}
h1{margin:1.4rem 0 .3rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.4rem}
h3{margin:1.2rem 0 .4rem;font-size:1.02rem}
.meta{color:#444}.disclaimer{background:#fff6e0;border-left:4px solid #e08a00;padding:.5rem .8rem}
nav a{margin-right:.8rem;white-space:nowrap}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border-bottom:1px solid #e3e3e3;padding:.25rem .6rem;text-align:left}
table.num td{text-align:right;font-variant-numeric:tabular-nums}
thead th{border-bottom:2px solid #bbb}tfoot th,tfoot td{border-top:2px solid #bbb;font-style:italic}
img{max-width:100%;height:auto;display:block;margin:.6rem 0}
code{background:#f3f3f3;padding:0 .25rem}
footer{margin-top:3rem;color:#666;font-size:.85rem}
"""


def _header(run: _Run) -> str:
    meta = run.meta
    data = meta.get("data") or {}
    split = meta.get("split") or {}
    symbols = [s for s in data.get("symbols") or [] if s]
    if data.get("has_symbol") and symbols:
        more = ", …" if len(symbols) > 8 else ""
        sym_text = f"{len(symbols)} symbols ({', '.join(symbols[:8])}{more})"
    else:
        sym_text = "one series"
    test = _dig(split, "segments.test") or {}
    version = _dig(meta, "versions.signalpack")
    lines = [
        (f"Run directory <code>{_e(run.path.name)}</code>, created {_e(meta.get('created_at', 'n/a'))}"
         + (f" with signalpack {_e(version)}" if version else "")),
        (f"Data file <code>{_e(data.get('file', 'n/a'))}</code>: {_e(sym_text)}, "
         f"{_e(_date(data.get('start')))} … {_e(_date(data.get('end')))}"),
        (f"Validation from {_e(_date(split.get('validation_start')))}; test segment "
         f"{_e(_date(split.get('test_start')))} … {_e(_date(test.get('end') or data.get('end')))} "
         f"({_int(test.get('windows'))} windows); confidence threshold {run.threshold:g}"),
    ]
    return "<br>".join(lines)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return struct.unpack(">II", data[16:24])


def _page(run: _Run, sections: list[_Section], images: dict[str, bytes]) -> str:
    nav = " ".join(f'<a href="#{s.id}">{_e(s.title)}</a>' for s in sections)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>signalpack report: {_e(run.path.name)}</title>",
        f"<style>{_CSS.strip()}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>signalpack training report</h1>",
        f'<p class="meta">{_header(run)}</p>',
        ('<p class="disclaimer"><strong>Signals are not financial advice.</strong> They are statistical outputs '
         "of a model trained on past prices; past performance does not predict future results, and the "
         "simulation ignores many real trading frictions.</p>"),
        f"<nav>{nav}</nav>",
        "</header>",
        "<main>",
    ]
    for s in sections:
        out.append(f'<section id="{s.id}">')
        out.append(f"<h2>{_e(s.title)}</h2>")
        out.append(s.body)
        if s.id in images:
            data = images[s.id]
            w, h = _png_size(data)
            b64 = base64.b64encode(data).decode("ascii")
            out.append(f'<img src="data:image/png;base64,{b64}" alt="{_e(s.alt)}" width="{w}" height="{h}">')
        out.append("</section>")
    out += [
        "</main>",
        (f"<footer>Generated by <code>signalpack report</code> from <code>{_e(run.path.name)}</code>. "
         "Signals are not financial advice.</footer>"),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------- output


def _check_out_dir(out_dir: Path, run_dir: Path) -> None:
    parent = out_dir.parent
    if not parent.is_dir():
        raise OutputError(f"{out_dir}: output folder {parent} does not exist")
    resolved, run = out_dir.resolve(), run_dir.resolve()
    if resolved == run or resolved in run.parents:
        raise OutputError(f"{out_dir}: is the run directory or holds it; choose a folder for the report")
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir() or out_dir.is_symlink():
            raise OutputError(f"{out_dir}: exists and is not a folder; choose another output folder")
        foreign = sorted(p.name for p in out_dir.iterdir()
                         if not (p.is_file() and (p.name == REPORT_FILE or p.suffix == ".png")))
        if foreign:
            raise OutputError(
                f"{out_dir}: exists and holds {', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''}, "
                "which is not a report; refusing to replace it (choose another output folder)"
            )


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move ``tmp`` onto ``out_dir``; an existing report is set aside first and removed after."""
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    old = out_dir.parent / f"{TMP_MARK}{os.getpid()}-{out_dir.name}.old-{secrets.token_hex(4)}"
    os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_report(run_dir: Path, out_dir: Path | None = None) -> ReportResult:
    """Write ``out_dir/report.html`` and one PNG per figure for the run directory ``run_dir``.

    Parameters
    ----------
    run_dir : a run directory written by ``signalpack train``.
    out_dir : the report folder (default ``run_dir/report``); an existing report there
        is replaced, any other existing folder is refused.

    Returns
    -------
    ReportResult

    Raises
    ------
    RunDirError
        A required file (metadata.json, equity.csv, predictions.csv, history.csv) is
        missing or unreadable.
    OutputError
        The report cannot be written where asked.
    """
    from train import plots

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    run = _read_run(run_dir)
    _check_out_dir(out_dir, run_dir)

    sections: list[_Section] = []
    images: dict[str, bytes] = {}
    for build in _BUILDERS:
        section = build(run)
        if section.figure is not None:
            images[section.id] = plots.png_bytes(section.figure)
            section.figure = None  # let the figure go as soon as it is rendered
        sections.append(section)
    page = _page(run, sections, images)

    clean_stale(out_dir)
    tmp = out_dir.parent / f"{TMP_MARK}{os.getpid()}-{out_dir.name}.{secrets.token_hex(4)}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create a folder in {out_dir.parent} ({exc.strerror or exc})") from exc
    try:
        for sid, data in images.items():
            (tmp / f"{sid}.png").write_bytes(data)
        (tmp / REPORT_FILE).write_text(page, encoding="utf-8", newline="\n")
        _replace_dir(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{out_dir}: cannot write the report ({exc.strerror or exc})") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ReportResult(
        html=out_dir / REPORT_FILE,
        pngs={sid: out_dir / f"{sid}.png" for sid in images},
        sections=[s.id for s in sections],
    )

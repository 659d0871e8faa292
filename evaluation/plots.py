"""Figures of a training run: one function per figure, plain data in, a matplotlib Figure out.

Nothing here reads a file. Every figure is a ``matplotlib.figure.Figure`` with its
own Agg canvas, so no pyplot global state is touched (no open figures to leak, no
GUI backend, safe in a library); ``png_bytes`` renders one reproducibly (fixed dpi,
no "Software" metadata, a fixed style), so the same data give the same bytes.
``train.html_report`` reads a run directory and calls these.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar

import matplotlib
import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from signalpack.score.contract import CLASS_NAMES

__all__ = [
    "DPI", "STYLE", "png_bytes", "message_figure", "equity_figure", "trades_figure",
    "confusion_figure", "precision_recall_figure", "reliability_bins", "reliability_figure",
    "confidence_figure", "learning_curves_figure", "monte_carlo_figure", "walk_forward_figure",
    "overview_figure",
]

DPI = 100
"""Pixels per inch of every PNG (a 10 x 5 in figure is 1000 x 500 px)."""

STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs on every machine
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "image.cmap": "Blues",
}
"""rc settings applied while a figure is built and while it is rendered (a user's
matplotlibrc cannot change the report)."""

STRATEGY = "#1f5fa8"
BUY_AND_HOLD = "#7a7a7a"
RANDOM = "#e08a00"
MAJORITY = "#b0b0b0"
CLASS_COLOURS = {"SELL": "#c0392b", "HOLD": "#8c9aa5", "BUY": "#2e9e5b"}
WIN, LOSS = "#2e9e5b", "#c0392b"

_F = TypeVar("_F", bound=Callable[..., Any])


def _styled(fn: _F) -> _F:
    @wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return inner  # type: ignore[return-value]


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


@_styled
def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes: fixed dpi, no timestamp or software metadata (byte-reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


# --------------------------------------------------------------------------- helpers


def _dates(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _percent(ax: Axes, axis: str = "y", decimals: int | None = None) -> None:
    fmt = mticker.PercentFormatter(1.0, decimals=decimals)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _thousands(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _times(frame: pl.DataFrame, column: str = "timestamp") -> np.ndarray:
    return frame.get_column(column).to_numpy().astype("datetime64[us]")


def _floats(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame.get_column(column).cast(pl.Float64).to_numpy()


def _say(ax: Axes, text: str, width: int = 60) -> None:
    """Write a short message in the middle of an otherwise empty axes."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, textwrap.fill(text, width), ha="center", va="center", transform=ax.transAxes,
            fontsize=10, color="#444444", wrap=True)


def _drawdown(equity: np.ndarray) -> np.ndarray:
    peak = np.maximum.accumulate(equity)
    return np.divide(equity, peak, out=np.ones_like(equity), where=peak > 0) - 1.0


# --------------------------------------------------------------------------- figures


@_styled
def message_figure(title: str, message: str, width: float = 9.0, height: float = 2.2) -> Figure:
    """A figure that only says why there is nothing to plot (a section never lacks a picture)."""
    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left")
    _say(ax, message, width=int(width * 11))
    return fig


def _draw_equity(ax: Axes, ax_dd: Axes, equity: pl.DataFrame) -> None:
    ts = _times(equity)
    eq = _floats(equity, "equity")
    bh = _floats(equity, "buy_and_hold_equity")
    if "position" in equity.columns:
        pos = equity.get_column("position").fill_null(0).to_numpy() != 0
        if pos.any():
            ax.fill_between(ts, 0, 1, where=pos, step="post", transform=ax.get_xaxis_transform(),
                            color=STRATEGY, alpha=0.08, lw=0, label="in a position")
    ax.plot(ts, bh, color=BUY_AND_HOLD, lw=1.1, label="buy & hold")
    ax.plot(ts, eq, color=STRATEGY, lw=1.5, label="strategy")
    ax.set_ylabel("equity")
    _thousands(ax)
    ax.legend(loc="upper left")
    ax.tick_params(labelbottom=False)

    ax_dd.fill_between(ts, _drawdown(eq), 0, color=STRATEGY, alpha=0.35, lw=0, label="strategy")
    ax_dd.plot(ts, _drawdown(bh), color=BUY_AND_HOLD, lw=1.0, label="buy & hold")
    ax_dd.set_ylabel("drawdown")
    _percent(ax_dd, decimals=0)
    _dates(ax_dd)


@_styled
def equity_figure(equity: pl.DataFrame) -> Figure:
    """Strategy equity vs buy-and-hold, and both drawdowns below on the same time axis.

    equity : frame with timestamp (datetime), equity, buy_and_hold_equity and
        optionally position (non-zero bars are shaded).
    """
    if equity.height == 0:
        return message_figure("Equity", "equity.csv has no rows: the test segment produced no bars to simulate.")
    fig = _figure(10, 5.6)
    ax, ax_dd = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    _draw_equity(ax, ax_dd, equity)
    ax.set_title("Equity on the test segment: strategy vs buy-and-hold", loc="left")
    return fig


@_styled
def trades_figure(
    trades: pl.DataFrame,
    prices: pl.DataFrame | None = None,
    period: tuple[Any, Any] | None = None,
    max_symbols: int = 4,
) -> Figure:
    """Close price with each trade's entry and exit; one panel per symbol (at most ``max_symbols``).

    trades : frame with symbol, entry_time, exit_time, side, entry_price,
        exit_price, pnl (zero rows is fine).
    prices : frame with symbol, timestamp, close; None when the run directory has
        no close prices (then only the entry/exit prices are drawn).
    period : (start, end) of the x axis when ``prices`` is None.
    """
    sym_from = prices if prices is not None and prices.height else trades
    counts = trades.group_by("symbol").len() if trades.height else pl.DataFrame(
        {"symbol": [], "len": []}, schema={"symbol": pl.String, "len": pl.UInt32})
    symbols = (
        sym_from.select(pl.col("symbol").unique()).join(counts, on="symbol", how="left")
        .with_columns(pl.col("len").fill_null(0)).sort(["len", "symbol"], descending=[True, False])
        .get_column("symbol").to_list()
    )
    if not symbols:
        return message_figure("Trades", "No trades and no close prices in this run directory: nothing to draw.")
    shown = symbols[:max_symbols]
    fig = _figure(10, 1.2 + 2.6 * len(shown))
    axes = fig.subplots(len(shown), 1, squeeze=False, sharex=True)[:, 0]
    for ax, sym in zip(axes, shown, strict=True):
        t = trades.filter(pl.col("symbol") == sym)
        if prices is not None:
            p = prices.filter(pl.col("symbol") == sym).sort("timestamp")
            ax.plot(_times(p), _floats(p, "close"), color="#555555", lw=0.9, label="close")
        elif period is not None:
            lo, hi = np.datetime64(period[0], "us"), np.datetime64(period[1], "us")
            pad = (hi - lo) / 50
            ax.set_xlim(lo - pad, hi + pad)
        _draw_trades(ax, t)
        name = sym if sym else "single series"
        ax.set_title(f"{name}: {t.height} trade{'s' if t.height != 1 else ''}", loc="left")
        ax.set_ylabel("price")
        _dates(ax)
        if t.height or prices is not None:
            ax.legend(loc="upper left", ncols=3)
        if t.height == 0:
            ax.text(0.99, 0.04, "no trades: no signal reached the confidence threshold",
                    transform=ax.transAxes, ha="right", va="bottom", color="#444444")
    notes = []
    if len(symbols) > len(shown):
        notes.append(f"showing {len(shown)} of {len(symbols)} symbols (most trades first)")
    if prices is None:
        notes.append("no close prices in this run directory: entry and exit prices only")
    if notes:
        fig.suptitle("; ".join(notes), x=0.01, ha="left", fontsize=9, color="#444444")
    return fig


def _draw_trades(ax: Axes, t: pl.DataFrame) -> None:
    if t.height == 0:
        return
    entry_t, exit_t = _times(t, "entry_time"), _times(t, "exit_time")
    entry_p, exit_p = _floats(t, "entry_price"), _floats(t, "exit_price")
    pnl = _floats(t, "pnl") if "pnl" in t.columns else exit_p - entry_p
    short = (t.get_column("side").to_numpy() == "short") if "side" in t.columns else np.zeros(t.height, bool)
    for won, colour, label in ((True, WIN, "winning trade"), (False, LOSS, "losing trade")):
        sel = (pnl > 0) == won
        if sel.any():
            segs = [((mdates.date2num(a), pa), (mdates.date2num(b), pb)) for a, pa, b, pb in zip(
                entry_t[sel], entry_p[sel], exit_t[sel], exit_p[sel], strict=True)]
            ax.add_collection(LineCollection(
                segs, colors=colour, linewidths=2.2, alpha=0.8, label=label))
    if (~short).any():
        ax.scatter(entry_t[~short], entry_p[~short], marker="^", s=55, color=WIN, edgecolor="black",
                   linewidths=0.5, zorder=3, label="entry (long)")
    if short.any():
        ax.scatter(entry_t[short], entry_p[short], marker="v", s=55, color=LOSS, edgecolor="black",
                   linewidths=0.5, zorder=3, label="entry (short)")
    ax.scatter(exit_t, exit_p, marker="o", s=30, facecolor="white", edgecolor="black", linewidths=1,
               zorder=3, label="exit")
    ax.autoscale_view()


def _draw_confusion(ax: Axes, matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> None:
    m = np.asarray(matrix, dtype=np.float64)
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=10,
                    color="white" if share[i, j] > 0.55 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


@_styled
def confusion_figure(
    matrix: Sequence[Sequence[int]], classes: Sequence[str] = CLASS_NAMES, title: str = "Ensemble"
) -> Figure:
    """Confusion-matrix heatmap: counts and row shares, rows = true class, columns = predicted."""
    fig = _figure(5.6, 4.8)
    ax = fig.add_subplot()
    _draw_confusion(ax, matrix, classes)
    n = int(np.asarray(matrix).sum())
    ax.set_title(f"{title}: confusion matrix ({n} labelled windows)\ncolour = share of the true class",
                 loc="left")
    return fig


@_styled
def precision_recall_figure(models: Mapping[str, Mapping[str, Any]], classes: Sequence[str] = CLASS_NAMES) -> Figure:
    """Per-class precision and recall, one bar per model (the ensemble beside its baselines).

    models : {display name: metrics dict with ``precision`` and ``recall`` {class: value}},
        in the order to draw (first = the model, then the baselines).
    """
    palette = [STRATEGY, MAJORITY, RANDOM, "#6a3d9a", "#33a02c"]
    fig = _figure(10, 4.2)
    axes = fig.subplots(1, 2, sharey=True)
    x = np.arange(len(classes))
    width = 0.8 / max(len(models), 1)
    for ax, key in zip(axes, ("precision", "recall"), strict=True):
        for k, (name, metrics) in enumerate(models.items()):
            vals = np.array([float(metrics.get(key, {}).get(c) or 0.0) for c in classes])
            bars = ax.bar(x + (k - (len(models) - 1) / 2) * width, vals, width * 0.92,
                          color=palette[k % len(palette)], label=name)
            ax.bar_label(bars, [f"{v:.2f}" for v in vals], fontsize=7, padding=1)
        ax.set_xticks(x, classes)
        ax.set_title(key, loc="left")
        ax.set_ylim(0, 1.08)
        ax.grid(axis="x", visible=False)
    axes[0].set_ylabel("share")
    axes[1].legend(loc="upper right")
    return fig


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> dict[str, np.ndarray | float]:
    """Equal-count bins of the top-class confidence: mean confidence, accuracy and count per bin.

    confidence : ndarray of shape (n,), the top-class probability of each labelled window.
    correct : ndarray of shape (n,), bool: the top class is the true class.

    Equal-count (quantile) bins, as sklearn's ``calibration_curve(strategy="quantile")``:
    a 3-class model's confidence lives in [1/3, 1] and often in a narrow band of it, where
    equal-width bins would leave one or two bins holding everything. Tied edges merge, so
    there may be fewer than ``n_bins`` bins. ``ece`` is the count-weighted mean absolute gap.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if len(conf) == 0:
        empty = np.zeros(0)
        return {"edges": empty, "confidence": empty, "accuracy": empty, "count": empty, "ece": float("nan")}
    edges = np.unique(np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
    count = np.bincount(idx, minlength=len(edges) - 1).astype(np.float64)
    safe = np.maximum(count, 1.0)
    mean_conf = np.bincount(idx, weights=conf, minlength=len(edges) - 1) / safe
    accuracy = np.bincount(idx, weights=ok.astype(np.float64), minlength=len(edges) - 1) / safe
    keep = count > 0
    ece = float(np.sum(count[keep] * np.abs(accuracy[keep] - mean_conf[keep])) / count.sum())
    return {"edges": edges, "confidence": mean_conf[keep], "accuracy": accuracy[keep],
            "count": count[keep], "lo": edges[:-1][keep], "hi": edges[1:][keep], "ece": ece}


def _draw_reliability(ax: Axes, ax_n: Axes | None, confidence: np.ndarray, correct: np.ndarray,
                      threshold: float | None, n_bins: int) -> float:
    b = reliability_bins(confidence, correct, n_bins)
    # x spans the bins, y the accuracies (and the diagonal over the bins): a model whose
    # confidence sits in a narrow band would otherwise be squeezed into a sliver.
    x_lo, x_hi = float(np.min(b["lo"])), float(np.max(b["hi"]))
    x_pad = max(0.005, 0.04 * (x_hi - x_lo))
    xlim = (max(0.0, x_lo - x_pad), min(1.0, x_hi + x_pad))
    y_lo, y_hi = min(xlim[0], float(np.min(b["accuracy"]))), max(xlim[1], float(np.max(b["accuracy"])))
    y_pad = max(0.01, 0.05 * (y_hi - y_lo))
    ylim = (max(0.0, y_lo - y_pad), min(1.0, y_hi + y_pad))
    ax.plot(xlim, xlim, ls="--", color="#888888", lw=1, label="perfect calibration (accuracy = confidence)")
    ax.plot(b["confidence"], b["accuracy"], "o-", color=STRATEGY, ms=5, lw=1.4, label="ensemble")
    if threshold is not None and xlim[0] < threshold < xlim[1]:
        ax.axvline(threshold, color=RANDOM, lw=1, ls=":", label=f"threshold {threshold:.2f}")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_ylabel("accuracy in bin")
    ax.legend(loc="upper left")
    if ax_n is not None:
        ax.tick_params(labelbottom=False)
        ax_n.bar(b["lo"], b["count"], width=b["hi"] - b["lo"], align="edge", color=STRATEGY, alpha=0.35,
                 edgecolor=STRATEGY, lw=0.6)
        ax_n.set_ylabel("windows")
        ax_n.set_xlabel("top-class confidence (points: bin mean; bars: bin range and windows)")
        ax_n.grid(axis="x", visible=False)
    else:
        ax.set_xlabel("top-class confidence (bin mean)")
    return float(b["ece"])


@_styled
def reliability_figure(
    confidence: np.ndarray, correct: np.ndarray, threshold: float | None = None, n_bins: int = 10
) -> Figure:
    """Calibration diagram: accuracy vs mean top-class confidence in ``n_bins`` equal-count bins,
    the diagonal, and the windows per bin below (see ``reliability_bins``)."""
    if len(confidence) == 0:
        return message_figure("Reliability", "No labelled test windows: nothing to calibrate against.")
    fig = _figure(8, 6.0)
    ax, ax_n = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ece = _draw_reliability(ax, ax_n, confidence, correct, threshold, n_bins)
    ax.set_title(f"Reliability: {len(confidence)} labelled windows, {n_bins} equal-count bins; "
                 f"ECE {ece:.3f}", loc="left")
    return fig


def _confidence_edges(conf: np.ndarray, threshold: float, n: int = 30) -> np.ndarray:
    """``n``-ish equal bins over the data (and the threshold), with the threshold on an edge."""
    lo, hi = min(float(conf.min()), threshold), max(float(conf.max()), threshold)
    if hi - lo < 1e-9:
        return np.array([lo - 0.005, lo + 0.005])
    w = (hi - lo) / n
    start = threshold - np.ceil((threshold - lo) / w - 1e-9) * w
    stop = threshold + np.ceil((hi - threshold) / w - 1e-9) * w
    edges = start + w * np.arange(round((stop - start) / w) + 1)
    if edges[-1] <= hi:
        edges = np.append(edges, edges[-1] + w)
    return edges


def _draw_confidence(ax: Axes, confidence: np.ndarray, threshold: float, signals: np.ndarray | None) -> int:
    conf = np.asarray(confidence, dtype=np.float64)
    edges = _confidence_edges(conf, threshold)
    if signals is not None:
        groups = [(c, conf[np.asarray(signals) == c]) for c in CLASS_NAMES]
        ax.hist([g for _, g in groups], bins=edges, stacked=True, color=[CLASS_COLOURS[c] for c, _ in groups],
                label=[f"signal {c}" for c, _ in groups], edgecolor="white", lw=0.3)
    else:
        ax.hist(conf, bins=edges, color=STRATEGY, edgecolor="white", lw=0.3)
    n_ok = int((conf >= threshold).sum())
    ax.axvline(threshold, color="black", lw=1.4, ls="--",
               label=f"threshold {threshold:.2f}: {n_ok} of {len(conf)} ({n_ok / len(conf):.1%})")
    ax.axvspan(threshold, edges[-1], color=RANDOM, alpha=0.07, lw=0)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("windows")
    ax.legend(loc="upper right")
    return n_ok


@_styled
def confidence_figure(confidence: np.ndarray, threshold: float, signals: np.ndarray | None = None) -> Figure:
    """Histogram of the confidence of every test window, stacked by signal, with the threshold."""
    if len(confidence) == 0:
        return message_figure("Confidence", "predictions.csv has no rows: no confidence to show.")
    fig = _figure(10, 4.2)
    ax = fig.add_subplot()
    n_ok = _draw_confidence(ax, confidence, threshold, signals)
    ax.set_title(f"Confidence of {len(confidence)} test windows: {n_ok} reach the threshold "
                 f"{threshold:.2f} and may trade", loc="left")
    return fig


@_styled
def learning_curves_figure(history: pl.DataFrame, best_epochs: Sequence[int | None] | None = None) -> Figure:
    """Per member: loss and val_loss (left), accuracy and val_accuracy (right) by epoch.

    history : frame with member, epoch, loss, accuracy and (when validated) val_loss,
        val_accuracy; learning_rate_initial is shown in the panel title when present.
    best_epochs : per member, the epoch whose weights were kept (marked), or None.
    """
    if history.height == 0:
        return message_figure("Learning curves", "history.csv has no rows: no epoch was recorded.")
    members = sorted(history.get_column("member").unique().to_list())
    fig = _figure(10, 0.6 + 2.5 * len(members))
    axes = fig.subplots(len(members), 2, squeeze=False, sharex="row")
    for r, member in enumerate(members):
        h = history.filter(pl.col("member") == member).sort("epoch")
        epoch = h.get_column("epoch").to_numpy()
        lr = ""
        if "learning_rate_initial" in h.columns:
            lr = f", initial lr {h.get_column('learning_rate_initial')[0]:g}"
        for c, (metric, label) in enumerate((("loss", "loss"), ("accuracy", "accuracy"))):
            ax = axes[r, c]
            for col, style, name in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
                if col in h.columns and h.get_column(col).null_count() < h.height:
                    ax.plot(epoch, _floats(h, col), style, marker="o", ms=3.5, lw=1.3,
                            color=STRATEGY if name == "train" else RANDOM, label=name)
            best = best_epochs[r] if best_epochs is not None and r < len(best_epochs) else None
            if best is not None:
                ax.axvline(best, color="#888888", lw=0.9, ls=":", label=f"kept: epoch {best}")
            ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
            ax.set_title(f"member {member}{lr}: {label}", loc="left")
            ax.legend(loc="best")
            if r == len(members) - 1:
                ax.set_xlabel("epoch")
    return fig


@_styled
def monte_carlo_figure(random_returns: np.ndarray, strategy_return: float, percentile: float | None = None) -> Figure:
    """Histogram of the random-signal runs' total returns with the strategy's return marked.

    percentile : share (0..100) of runs at or below the strategy; computed when None.
    """
    r = np.asarray(random_returns, dtype=np.float64)
    if len(r) == 0:
        return message_figure("Random-signal baseline", "No random-signal runs to plot.")
    if percentile is None:
        percentile = float(100.0 * np.mean(r <= strategy_return))
    fig = _figure(10, 4.2)
    ax = fig.add_subplot()
    p5, med, p95 = np.percentile(r, [5, 50, 95])
    ax.axvspan(p5, p95, color=RANDOM, alpha=0.08, lw=0,
               label=f"random 5th–95th percentile ({p5:+.1%} … {p95:+.1%})")
    ax.hist(r, bins=min(40, max(10, len(r) // 5)), color=RANDOM, alpha=0.75, edgecolor="white", lw=0.3,
            label=f"{len(r)} random-signal runs")
    ax.axvline(med, color="#8a5500", ls="--", lw=1.2, label=f"random median {med:+.1%}")
    ax.axvline(strategy_return, color=STRATEGY, lw=2.2,
               label=f"strategy {strategy_return:+.1%} (percentile {percentile:.0f})")
    _percent(ax, "x", decimals=0)
    ax.set_xlabel("total return on the test segment")
    ax.set_ylabel("runs")
    ax.legend(loc="upper left")
    ax.set_title(f"Strategy vs random entry/exit timing with the same trade count and costs: "
                 f"the strategy beats or ties {percentile:.0f}% of runs", loc="left")
    return fig


WALK_FORWARD_PANELS = (
    ("balanced accuracy", ("ensemble.balanced_accuracy", "ensemble"), ("majority.balanced_accuracy", "majority")),
    ("total return", ("strategy.total_return", "strategy"), ("buy_and_hold.total_return", "buy & hold")),
    ("Sharpe (annualised)", ("strategy.sharpe", "strategy"), ("buy_and_hold.sharpe", "buy & hold")),
)
"""(panel title, (series, label) of the model, (series, label) of its baseline)."""


@_styled
def walk_forward_figure(
    folds: Sequence[int],
    series: Mapping[str, Sequence[float | None]],
    summary: Mapping[str, tuple[float, float]] | None = None,
    fold_equity: Mapping[int, pl.DataFrame] | None = None,
) -> Figure:
    """Per-fold metrics beside their baselines, with mean ± std, and each fold's test equity.

    folds : fold ids, in order.
    series : {name: per-fold values} for the names in ``WALK_FORWARD_PANELS`` (missing
        names leave their bars out; a panel without its model series is dropped).
    summary : {name: (mean, std)}; computed (std with ddof=1) for names it lacks.
    fold_equity : {fold id: equity frame (timestamp, equity, buy_and_hold_equity)}; a
        bottom panel draws each fold's curves, normalised to 1 at the fold's first bar.
    """
    summary = dict(summary or {})
    panels = [p for p in WALK_FORWARD_PANELS if p[1][0] in series]
    curves = {k: v for k, v in (fold_equity or {}).items() if v.height}
    if not panels and not curves:
        return message_figure("Walk-forward", "No per-fold figures to plot.")
    fig = _figure(11, 4.4 + (4.2 if curves else 0))
    grid = fig.add_gridspec(2 if curves else 1, max(len(panels), 1), height_ratios=[1, 1] if curves else [1])
    n = len(folds)
    x = np.append(np.arange(n, dtype=float), n + 0.25)  # the last group is the mean ± std
    for c, (title, *pairs) in enumerate(panels):
        ax = fig.add_subplot(grid[0, c])
        present = [(name, label) for name, label in pairs if name in series]
        width = 0.8 / len(present)
        for k, (name, label) in enumerate(present):
            vals = np.array([np.nan if v is None else float(v) for v in series[name]])
            colour = (STRATEGY, MAJORITY if "majority" in name else BUY_AND_HOLD)[k]
            if name not in summary:
                finite = vals[np.isfinite(vals)]
                summary[name] = (float(finite.mean()) if len(finite) else float("nan"),
                                 float(finite.std(ddof=1)) if len(finite) > 1 else 0.0)
            mean, std = summary[name]
            pos = x + (k - (len(present) - 1) / 2) * width
            ax.bar(pos[:n], vals, width * 0.92, color=colour,
                   label=f"{label}: {_fmt_wf(title, mean)} ± {_fmt_wf(title, std)}")
            ax.bar(pos[n], mean, width * 0.92, color=colour, alpha=0.45, hatch="///", edgecolor=colour,
                   yerr=std, capsize=4, error_kw={"elinewidth": 1.2, "ecolor": "black"})
        ax.axvline(n - 0.5 + 0.125, color="#999999", lw=0.8)
        ax.set_xticks(x, [f"fold {f}" for f in folds] + ["mean ± std"])
        ax.set_title(f"{title} per fold", loc="left")
        ax.grid(axis="x", visible=False)
        if title != "Sharpe (annualised)":
            _percent(ax, decimals=0)
        ax.axhline(0, color="black", lw=0.6)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=1, frameon=False)
    if curves:
        ax = fig.add_subplot(grid[1, :])
        colours = matplotlib.colormaps["tab10"]
        for k, (fold, eq) in enumerate(sorted(curves.items())):
            ts = _times(eq)
            s, b = _floats(eq, "equity"), _floats(eq, "buy_and_hold_equity")
            ax.plot(ts, s / s[0], color=colours(k % 10), lw=1.4, label=f"fold {fold} strategy")
            ax.plot(ts, b / b[0], color=colours(k % 10), lw=0.9, ls="--", alpha=0.8, label=f"fold {fold} buy & hold")
        ax.axhline(1.0, color="#999999", lw=0.6, zorder=0)
        ax.set_ylabel("equity / first bar")
        ax.set_title("Each fold's test segment: strategy (solid) vs buy & hold (dashed)", loc="left")
        _dates(ax)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=min(len(curves), 5), frameon=False)
    return fig


def _fmt_wf(title: str, v: float) -> str:
    return f"{v:.2f}" if title.startswith("Sharpe") else f"{v:.1%}"


@_styled
def overview_figure(
    *,
    equity: pl.DataFrame,
    confusion_matrix: Sequence[Sequence[int]],
    labelled_confidence: np.ndarray,
    correct: np.ndarray,
    confidence: np.ndarray,
    threshold: float,
    signals: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """One composite figure (the README screenshot): equity + drawdown, confusion matrix,
    reliability, and the confidence histogram."""
    fig = _figure(13, 8.6)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    grid = fig.add_gridspec(2, 2, width_ratios=[1.45, 1])
    sub = grid[0, 0].subgridspec(2, 1, height_ratios=[3, 1])
    ax_eq = fig.add_subplot(sub[0])
    ax_dd = fig.add_subplot(sub[1], sharex=ax_eq)
    if equity.height:
        _draw_equity(ax_eq, ax_dd, equity)
        ax_eq.set_title("Equity: strategy vs buy-and-hold", loc="left")
    else:
        _say(ax_eq, "equity.csv has no rows")
        ax_dd.set_axis_off()
    ax_cm = fig.add_subplot(grid[0, 1])
    _draw_confusion(ax_cm, confusion_matrix, CLASS_NAMES)
    ax_cm.set_title(f"Confusion matrix ({int(np.asarray(confusion_matrix).sum())} labelled windows)", loc="left")
    ax_rel = fig.add_subplot(grid[1, 1])
    if len(labelled_confidence):
        ece = _draw_reliability(ax_rel, None, labelled_confidence, correct, threshold, 10)
        ax_rel.set_title(f"Reliability (10 equal-count bins), ECE {ece:.3f}", loc="left")
    else:
        _say(ax_rel, "no labelled windows")
    ax_conf = fig.add_subplot(grid[1, 0])
    if len(confidence):
        n_ok = _draw_confidence(ax_conf, confidence, threshold, signals)
        ax_conf.set_title(f"Confidence: {n_ok} of {len(confidence)} windows reach {threshold:.2f}", loc="left")
    else:
        _say(ax_conf, "no predictions")
    return fig

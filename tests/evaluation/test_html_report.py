"""The HTML report of a run directory: every section, decodable images, byte-identical reruns,
and a complete report when optional inputs (walk-forward, Monte Carlo, trades, close prices)
are missing."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from signalpack.errors import OutputError, RunDirError
from signalpack.evaluation.html_report import REQUIRED_FILES, SECTIONS, write_report
from signalpack.evaluation.plots import reliability_bins
from signalpack.train.rundir import write_csv, write_json
from tests.conftest import SP500

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


# --------------------------------------------------------------------------- building run directories


def copy_run(src: Path, dst: Path) -> Path:
    """The run directory without its models and windows (a report reads neither)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.keras", "*.npy", "report"))
    return dst


def meta_of(run: Path) -> dict:
    return json.loads((run / "metadata.json").read_text())


def add_close(run: Path) -> None:
    """predictions.csv with the close column newer runs write, taken from the embedded S&P 500 file."""
    pred = pl.read_csv(run / "predictions.csv", try_parse_dates=True)
    if "close" in pred.columns:
        return
    prices = sp500_prices().select("date", "close")
    out = pred.with_columns(pl.col("timestamp").dt.date().alias("date")).join(prices, on="date", how="left")
    assert out.get_column("close").null_count() == 0
    write_csv(run / "predictions.csv", out.drop("date"))


def sp500_prices() -> pl.DataFrame:
    return pl.read_csv(SP500).select(
        pl.col("Date").str.to_date("%m/%d/%Y").alias("date"),
        *(pl.col(c).alias(c.lower()) for c in ("Open", "High", "Low", "Close")),
    )


def resimulate(run: Path, cfg, share: float = 0.1) -> None:
    """Trade the run's own predictions again with a threshold that ``share`` of windows reach.

    A 2-epoch model is rarely confident enough for the default threshold, so the
    tiny run has no trades; this gives a run directory with real trades, equity and
    random-signal runs from ``evaluation.book`` (what a more confident model writes).
    """
    from signalpack.evaluation.book import simulate_symbols
    from signalpack.score.contract import CLASS_NAMES

    pred = pl.read_csv(run / "predictions.csv", try_parse_dates=True)
    threshold = float(np.quantile(pred.get_column("confidence").to_numpy(), 1 - share))
    sim_cfg = cfg.with_overrides(simulation__confidence_threshold=threshold).simulation
    frame = (
        pred.with_columns(pl.col("timestamp").dt.date().alias("date"), pl.col("symbol").fill_null(""))
        .drop("close", strict=False).join(sp500_prices(), on="date", how="left")
        .with_columns(pl.col("signal").replace_strict(list(CLASS_NAMES), [0, 1, 2], return_dtype=pl.Int8))
        .sort("symbol", "timestamp")
    )
    sim = simulate_symbols(frame, sim_cfg, cfg.seed)
    assert sim["strategy"]["n_trades"] > 0
    write_csv(run / "trades.csv", sim["trades"])
    write_csv(run / "equity.csv", sim["equity"])
    returns = sim.get("random_returns")
    if returns is None:  # a book module from before the distribution was returned
        rnd = sim["random"]
        returns = np.random.default_rng(7).normal(rnd["median_return"], 0.05, rnd["runs"])
    write_csv(run / "random_returns.csv", pl.DataFrame({"run": np.arange(len(returns)), "total_return": returns}))
    meta = meta_of(run)
    meta["confidence_threshold"] = threshold
    meta["simulation"].update({k: sim[k] for k in ("strategy", "buy_and_hold", "random", "per_symbol")})
    write_json(run / "metadata.json", meta)


def _sharpe_stats(equity: np.ndarray, n_trials: int) -> dict:
    r = np.diff(equity) / equity[:-1]
    sd = r.std(ddof=1)
    sr = float(r.mean() / sd) if sd > 0 else 0.0
    z = (r - r.mean()) / (r.std() or 1.0)
    return {
        "n_returns": len(r), "sharpe_per_bar": sr, "sharpe_annual": sr * np.sqrt(252),
        "skewness": float((z**3).mean()), "kurtosis": float((z**4).mean()), "psr": 0.71, "n_trials": n_trials,
        "sr_variance": 4e-4, "sr0_per_bar": 0.021, "dsr": 0.42, "note": None,
    }


def add_sharpe(run: Path) -> None:
    meta = meta_of(run)
    eq = pl.read_csv(run / "equity.csv").get_column("equity").to_numpy()
    meta["simulation"]["trials"] = [{"name": "ensemble", "sharpe": 0.021}] + [
        {"name": f"member {i}", "sharpe": 0.01 * i} for i in range(3)
    ]
    meta["simulation"]["sharpe_statistics"] = _sharpe_stats(eq, 4)
    write_json(run / "metadata.json", meta)


def _balanced_accuracy(label: np.ndarray, pred: np.ndarray) -> float:
    recalls = [(pred[label == c] == c).mean() for c in ("SELL", "HOLD", "BUY") if (label == c).any()]
    return float(np.mean(recalls))


def add_walk_forward(run: Path, k: int = 3) -> None:
    """A plausible ``walk_forward`` record: k folds cut from the run's own test predictions and equity."""
    meta = meta_of(run)
    pred = pl.read_csv(run / "predictions.csv", try_parse_dates=True)
    equity = pl.read_csv(run / "equity.csv", try_parse_dates=True)
    trades = pl.read_csv(run / "trades.csv", try_parse_dates=True)
    trades = trades.with_columns(pl.col("entry_time").cast(pl.String).str.to_datetime())
    ts = equity.get_column("timestamp")
    bounds = [ts[len(ts) * i // k] for i in range(k)] + [None]
    folds = []
    for i in range(k):
        lo, hi = bounds[i], bounds[i + 1]
        within = (pl.col("timestamp") >= lo) & (pl.col("timestamp") < hi if hi is not None else pl.lit(True))
        p = pred.filter(within & pl.col("label").is_not_null())
        eq = equity.filter(within)
        folder = run / "walk_forward" / f"fold_{i}"
        folder.mkdir(parents=True)
        write_csv(folder / "equity.csv", eq)
        label, signal = p.get_column("label").to_numpy(), p.get_column("signal").to_numpy()
        e, b = eq.get_column("equity").to_numpy(), eq.get_column("buy_and_hold_equity").to_numpy()

        def sharpe(x: np.ndarray) -> float:
            r = np.diff(x) / x[:-1]
            return float(r.mean() / r.std(ddof=1) * np.sqrt(252)) if r.std(ddof=1) > 0 else 0.0

        n_trades = trades.filter(
            (pl.col("entry_time") >= lo) & (pl.col("entry_time") < hi if hi is not None else pl.lit(True))
        ).height
        start, end = str(eq.get_column("timestamp").min()), str(eq.get_column("timestamp").max())
        folds.append({
            "fold": i,
            "verdict": {"model_skill": i == 1, "strategy_skill": None if n_trades == 0 else i == 2,
                        "reasons": [f"fold {i} failed a rule"], "remarks": []},
            "segments": {
                "train": {"start": meta["data"]["start"], "end": start, "windows": 2000 + 250 * i},
                "validation": {"start": start, "end": start, "windows": 300},
                "test": {"start": start, "end": end, "windows": p.height},
            },
            "metrics": {
                "ensemble": {"n": p.height, "accuracy": float((label == signal).mean()),
                             "balanced_accuracy": _balanced_accuracy(label, signal)},
                "baselines": {
                    "majority": {"n": p.height, "balanced_accuracy": 1 / 3},
                    "stratified_random": {"n": p.height, "balanced_accuracy": 0.33 + 0.01 * i},
                },
            },
            "simulation": {
                "strategy": {"total_return": float(e[-1] / e[0] - 1), "sharpe": sharpe(e), "n_trades": n_trades},
                "buy_and_hold": {"total_return": float(b[-1] / b[0] - 1), "sharpe": sharpe(b), "n_trades": 1},
                "random": {"runs": 0}, "sharpe_statistics": _sharpe_stats(e, 4),
            },
        })
    aggregate = {}
    for name, path in (("ensemble.balanced_accuracy", ("metrics", "ensemble", "balanced_accuracy")),
                       ("majority.balanced_accuracy", ("metrics", "baselines", "majority", "balanced_accuracy")),
                       ("strategy.total_return", ("simulation", "strategy", "total_return")),
                       ("buy_and_hold.total_return", ("simulation", "buy_and_hold", "total_return")),
                       ("strategy.sharpe", ("simulation", "strategy", "sharpe"))):
        values = []
        for f in folds:
            v = f
            for key in path:
                v = v[key]
            values.append(v)
        aggregate[name] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)), "values": values}
    judged = [f["verdict"]["strategy_skill"] for f in folds if f["verdict"]["strategy_skill"] is not None]
    skill = {"folds": k, "model_skill": sum(f["verdict"]["model_skill"] for f in folds),
             "strategy_skill": sum(judged), "strategy_judged": len(judged)}
    meta["walk_forward"] = {"k": k, "scheme": "expanding", "folds": folds, "aggregate": aggregate,
                            "skill_count": skill}
    write_json(run / "metadata.json", meta)


def make_zero_trades(run: Path) -> None:
    """The strategy never traded: flat equity, header-only trades.csv, no Monte Carlo at all."""
    meta = meta_of(run)
    capital = json.loads((run / "config.json").read_text())["simulation"]["initial_capital"]
    eq = pl.read_csv(run / "equity.csv", try_parse_dates=True)
    write_csv(run / "equity.csv", eq.with_columns(pl.lit(capital).alias("equity"), pl.lit(0).alias("position")))
    trades = pl.read_csv(run / "trades.csv", try_parse_dates=True)
    write_csv(run / "trades.csv", trades.head(0))
    (run / "random_returns.csv").unlink(missing_ok=True)
    sim = meta["simulation"]
    sim["strategy"].update(n_trades=0, total_return=0.0, cagr=0.0, sharpe=0.0, max_drawdown=0.0, exposure=0.0,
                           win_rate=None, profit_factor=None)
    sim["random"] = {"runs": 0, "n_trades": 0, "mean_return": None, "median_return": None, "p5_return": None,
                     "p95_return": None, "strategy_percentile": None}
    sim["sharpe_statistics"] = {**dict.fromkeys(("n_returns", "sharpe_per_bar", "sharpe_annual", "skewness",
                                                 "kurtosis", "psr", "n_trials", "sr_variance", "sr0_per_bar",
                                                 "dsr")),
                                "note": "the strategy made no trades: its returns are all zero"}
    meta.pop("walk_forward", None)
    top = float(pl.read_csv(run / "predictions.csv").get_column("confidence").max())
    meta["confidence_threshold"] = round(top + 0.01, 2)  # no window reaches it
    meta["metrics"]["ensemble"]["share_confident"] = 0.0
    sim["nulls"] = {}
    if "verdict" in meta:
        meta["verdict"]["strategy_skill"] = None
        meta["verdict"]["reasons"] = [r for r in meta["verdict"]["reasons"] if "strategy" not in r] + [
            "the strategy did not trade, so there is no strategy to judge"]
    write_json(run / "metadata.json", meta)


# --------------------------------------------------------------------------- checks


def section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.DOTALL)
    assert m, f"no section {sid}"
    return m.group(1)


def check_png(data: bytes) -> None:
    from matplotlib.image import imread

    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    pixels = imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0, "a single flat colour"


def check_report(result) -> str:
    page = result.html.read_text(encoding="utf-8")
    assert result.sections == list(SECTIONS) and SECTIONS[0] == "verdict"
    assert re.findall(r'<section id="([a-z_]+)">', page)[:2] == ["verdict", "overview"]
    for sid in SECTIONS:
        assert re.search(rf'<section id="{sid}">\s*<h2>[^<]+</h2>', page), sid
    assert "Signals are not financial advice." in page
    images = IMG.findall(page)
    assert len(images) == len(result.pngs) == page.count("<img ")
    embedded = [base64.b64decode(b64, validate=True) for b64 in images]
    for data in embedded:
        check_png(data)
    for sid, path in result.pngs.items():
        assert path.parent == result.html.parent and path.name == f"{sid}.png"
        assert path.read_bytes() in embedded
        assert IMG.search(section(page, sid))
    assert not list(result.html.parent.parent.glob(".signalpack-tmp-*"))
    return page


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def full_run(tiny_run, tiny_config, tmp_path_factory) -> Path:
    """The tiny run with trades, close prices, random-signal runs, Sharpe statistics and walk-forward."""
    run = copy_run(tiny_run.run_dir, tmp_path_factory.mktemp("report") / "full")
    add_close(run)
    resimulate(run, tiny_config)
    add_sharpe(run)
    if "walk_forward" not in meta_of(run):
        add_walk_forward(run)
    return run


@pytest.fixture(scope="module")
def full_report(full_run):
    return write_report(full_run)


def test_every_section_and_image(full_run, full_report):
    assert full_report.html == full_run / "report" / "report.html"
    page = check_report(full_report)
    expected = {"overview", "equity", "trades", "confusion", "precision_recall", "reliability", "confidence",
                "learning_curves", "monte_carlo", "walk_forward"}
    assert set(full_report.pngs) == expected
    assert {p.name for p in (full_run / "report").iterdir()} == {"report.html"} | {f"{s}.png" for s in expected}
    meta = meta_of(full_run)
    assert meta["created_at"] in page and meta["data"]["file"] in page
    assert "PSR" in section(page, "sharpe") and "member 2" in section(page, "sharpe")
    metrics = section(page, "metrics")
    for name in ("ensemble", "member 0", "majority baseline", "stratified-random baseline", "volatility-only LR",
                 "all-features LR", "buy &amp; hold"):
        assert name in metrics
    assert "verdict" not in full_report.pngs


def test_verdict_section_shows_the_verdict_reasons_and_threshold(full_run, full_report):
    page = full_report.html.read_text(encoding="utf-8")
    verdict = section(page, "verdict")
    meta = meta_of(full_run)
    v = meta["verdict"]
    word = {True: "YES", False: "NO", None: "n/a"}
    assert f"Model skill: {word[v['model_skill']]}</strong>" in verdict
    assert f"Strategy skill: {word[v['strategy_skill']]}" in verdict
    for text in v["reasons"] + v["remarks"]:
        assert html.escape(text) in verdict
    iv = meta["metrics"]["uncertainty"]["model"]["balanced_accuracy"]
    assert f"{100 * iv['estimate']:.2f}% [{100 * iv['low']:.2f}%, {100 * iv['high']:.2f}%]" in verdict
    assert f"confidence threshold {meta['confidence_threshold']:g}" in verdict
    count = meta["walk_forward"]["skill_count"]
    assert f"model skill in {count['model_skill']} of {count['folds']} folds" in verdict


def test_metrics_section_shows_intervals_differences_and_nulls(full_run, full_report):
    metrics = section(full_report.html.read_text(encoding="utf-8"), "metrics")
    meta = meta_of(full_run)
    u = meta["metrics"]["uncertainty"]
    assert f"block length {u['bootstrap']['block_length']} bars" in metrics
    for name, key in (("majority baseline", "majority"), ("stratified-random baseline", "stratified_random"),
                      ("volatility-only LR", "volatility_only"), ("all-features LR", "all_features")):
        assert f"model − {name}" in metrics
        d = u["differences"][key]["balanced_accuracy"]
        assert f"{100 * d['estimate']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]" in metrics
    nulls = meta["simulation"]["nulls"]
    for key in ("exposure_matched", "block_permuted"):
        assert f"<td>{nulls[key]['p_value']:.3f}</td>" in metrics
    vs = meta["simulation"]["psr_vs_buy_and_hold"]
    assert f"the strategy's PSR is {vs['psr_vs_benchmark']:.3f}" in metrics.replace("&#x27;", "'")
    assert f"buy-and-hold's own {vs['benchmark_psr']:.3f}" in metrics.replace("&#x27;", "'")


def test_walk_forward_section_has_one_row_per_fold(full_run, full_report):
    page = full_report.html.read_text(encoding="utf-8")
    wf = section(page, "walk_forward")
    record = meta_of(full_run)["walk_forward"]
    k = record["k"]
    assert wf.count('<tr class="fold">') == k
    assert "mean" in wf and "std" in wf
    assert "walk_forward" in full_report.pngs
    assert "<th>model skill</th><th>strategy skill</th>" in wf
    count = record["skill_count"]
    assert f"model skill in {count['model_skill']} of {count['folds']} folds; strategy skill in " \
           f"{count['strategy_skill']} of {count['strategy_judged']} folds that traded" in wf
    word = {True: "YES", False: "NO"}
    for f, row in zip(record["folds"], re.findall(r'<tr class="fold">(.*?)</tr>', wf), strict=True):
        v = f["verdict"]
        strategy = "n/a (did not trade)" if v["strategy_skill"] is None else word[v["strategy_skill"]]
        assert f"<td>{word[v['model_skill']]}</td><td>{strategy}</td>" in row


@pytest.mark.slow
def test_rerun_is_byte_identical(full_run, full_report):
    before = {p.name: p.read_bytes() for p in (full_run / "report").iterdir()}
    again = write_report(full_run)
    after = {p.name: p.read_bytes() for p in (full_run / "report").iterdir()}
    assert again == full_report
    assert before == after
    assert not list(full_run.glob(".signalpack-tmp-*"))


def test_real_walk_forward_run(tiny_walk_forward, tmp_path):
    """The walk-forward record exactly as the pipeline writes it (report written outside the run)."""
    result = write_report(tiny_walk_forward.run_dir, tmp_path / "report")
    page = check_report(result)
    k = tiny_walk_forward.metadata["walk_forward"]["k"]
    assert section(page, "walk_forward").count('<tr class="fold">') == k
    assert "walk_forward" in result.pngs
    count = tiny_walk_forward.metadata["walk_forward"]["skill_count"]
    text = (f"model skill in {count['model_skill']} of {count['folds']} folds; strategy skill in "
            f"{count['strategy_skill']} of {count['strategy_judged']} folds that traded")
    assert text in section(page, "walk_forward") and text in section(page, "verdict")


@pytest.mark.slow
def test_older_run_without_close_random_returns_or_sharpe(full_run, tmp_path):
    run = copy_run(full_run, tmp_path / "old")
    pred = pl.read_csv(run / "predictions.csv", infer_schema_length=0)
    write_csv(run / "predictions.csv", pred.drop("close"))
    (run / "random_returns.csv").unlink()
    shutil.rmtree(run / "walk_forward")
    meta = meta_of(run)
    del meta["simulation"]["sharpe_statistics"], meta["simulation"]["trials"], meta["walk_forward"]
    del meta["verdict"], meta["threshold"], meta["metrics"]["uncertainty"], meta["simulation"]["nulls"]
    del meta["simulation"]["psr_vs_buy_and_hold"]
    for key in ("volatility_only", "all_features"):
        del meta["metrics"]["baselines"][key]
    write_json(run / "metadata.json", meta)
    out = tmp_path / "elsewhere"
    page = check_report(write_report(run, out))
    assert (out / "report.html").is_file() and not (run / "report").exists()
    assert "no walk-forward evaluation" in section(page, "walk_forward")
    assert "<code>signalpack train --walk-forward K</code>" in page
    assert "no Sharpe statistics" in section(page, "sharpe")
    assert "no close column" in section(page, "trades")
    assert "no random_returns.csv" in section(page, "monte_carlo")
    assert "percentile" in section(page, "monte_carlo")
    assert "Verdict: not recorded" in section(page, "verdict")
    assert "records no intervals" in section(page, "metrics")
    assert "volatility-only LR" not in section(page, "metrics")


@pytest.mark.slow
def test_zero_trades_and_no_random_returns(tiny_run, tmp_path):
    run = copy_run(tiny_run.run_dir, tmp_path / "flat")
    add_close(run)
    make_zero_trades(run)
    result = write_report(run)
    page = check_report(result)
    assert set(result.pngs) >= {"trades", "monte_carlo", "equity"}
    assert "made no trades" in section(page, "monte_carlo")
    assert "made no trades" in section(page, "trades")
    assert "stayed in cash" in section(page, "metrics")
    assert "no trades" in section(page, "sharpe")
    meta = meta_of(run)
    top = float(pl.read_csv(run / "predictions.csv").get_column("confidence").max())
    verdict = section(page, "verdict")
    assert "Strategy skill: n/a (did not trade)" in verdict
    assert (f"no test signal reached the threshold {meta['confidence_threshold']:g}: the top confidence on test "
            f"was {top:.3f}") in verdict
    assert "no walk-forward evaluation" in section(page, "walk_forward")

    before = {p.name: p.read_bytes() for p in (run / "report").iterdir()}
    (run / "history.csv").unlink()
    with pytest.raises(RunDirError, match="history.csv"):
        write_report(run)
    assert {p.name: p.read_bytes() for p in (run / "report").iterdir()} == before
    assert not list(run.glob(".signalpack-tmp-*"))


def test_tiny_run_as_written(tiny_run, tmp_path):
    """The run directory exactly as the current pipeline writes it (read only: the report goes elsewhere)."""
    check_report(write_report(tiny_run.run_dir, tmp_path / "report"))
    assert not (tiny_run.run_dir / "report").exists()


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_missing_required_file_names_it(tiny_run, tmp_path, name):
    run = copy_run(tiny_run.run_dir, tmp_path / "run")
    (run / name).unlink()
    with pytest.raises(RunDirError, match=re.escape(name)) as info:
        write_report(run)
    assert "\n" not in str(info.value)
    assert not (run / "report").exists() and not list(run.glob(".signalpack-tmp-*"))


def test_unreadable_metadata_is_a_run_dir_error(tiny_run, tmp_path):
    run = copy_run(tiny_run.run_dir, tmp_path / "run")
    (run / "metadata.json").write_text("{not json")
    with pytest.raises(RunDirError, match="metadata.json"):
        write_report(run)


def test_refuses_to_replace_a_folder_that_is_not_a_report(tiny_run, tmp_path):
    run = copy_run(tiny_run.run_dir, tmp_path / "run")
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="notes.txt"):
        write_report(run, out)
    assert (out / "notes.txt").read_text() == "mine"
    with pytest.raises(OutputError, match="run directory"):
        write_report(run, run)


def test_trades_chart_shows_at_most_four_symbols():
    from signalpack.evaluation.plots import png_bytes, trades_figure

    ts = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-03-01")).astype("datetime64[us]")
    symbols = [f"S{i}" for i in range(6)]
    prices = pl.DataFrame({
        "symbol": np.repeat(symbols, len(ts)), "timestamp": np.tile(ts, 6),
        "close": np.tile(100 + np.cumsum(np.random.default_rng(1).normal(0, 1, len(ts))), 6),
    })
    trades = pl.DataFrame({
        "symbol": ["S5", "S5", "S4"], "entry_time": ts[[3, 20, 5]], "exit_time": ts[[10, 30, 9]],
        "side": ["long", "short", "long"], "entry_price": [101.0, 99.0, 100.0],
        "exit_price": [103.0, 100.0, 98.0], "pnl": [2.0, -1.0, -2.0],
    })
    fig = trades_figure(trades, prices, max_symbols=4)
    assert [ax.get_title(loc="left").split(":")[0] for ax in fig.axes] == ["S5", "S4", "S0", "S1"]
    assert "showing 4 of 6 symbols" in fig.get_suptitle()
    check_png(png_bytes(fig))


def test_importing_the_report_loads_neither_matplotlib_nor_tensorflow():
    code = (
        "import sys, signalpack.evaluation.html_report; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib'; "
        "import signalpack.evaluation.plots; assert 'tensorflow' not in sys.modules, 'tensorflow'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_reliability_bins_are_equal_count():
    rng = np.random.default_rng(0)
    conf = rng.uniform(1 / 3, 0.6, 1000)
    correct = rng.uniform(size=1000) < conf
    b = reliability_bins(conf, correct, 10)
    assert b["count"].sum() == 1000 and len(b["count"]) == 10
    np.testing.assert_allclose(b["count"], 100, atol=1)
    assert np.all(np.diff(b["confidence"]) > 0)
    assert 0 <= b["ece"] < 0.1

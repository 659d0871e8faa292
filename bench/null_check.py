"""Skill or luck: does the verdict say "no skill" on random walks, and "skill" where skill was planted?

    python bench/null_check.py [--only lr|ensemble] [--series rw0,rw1,ar0] [--work DIR]
                               [--resume] [--replace] [--max-epochs N] [--config FILE]
                               [--out bench/null_check.json] [-v]

The benchmark issue 14's "Must show" asks for; it asserts nothing, it prints a table and
writes its figures to ``--out``.

1. Generates 15 seeded single-symbol daily OHLCV CSVs of 20,000 bars (``bench/synthetic.py``):
   rw0..rw9, geometric random walks (daily log-return sd 1 %, drift 0.02 % a day, about
   5 % a year), and ar0..ar4, AR(1) daily log returns with phi = 0.4 (same sd and drift):
   planted predictability.
2. For each series, two models are judged by the same code the training pipeline uses:
   * ``ensemble``: the real training job, ``train.pipeline.train_run`` with the default
     ``TrainConfig()`` (3 LSTM members, up to 60 epochs: long), reading
     ``metadata.json``'s verdict, metrics and simulation;
   * ``lr``: the all-features multinomial logistic regression treated as if it were the
     model, a known-good learner: fitted on the training windows' last-step features, it
     predicts the validation windows (the threshold is chosen there) and every test
     window, and ``train.assessment.assess`` judges it exactly as it judges the ensemble
     (no learning diagnostics: a logistic regression has no epochs). Seconds per series.
3. Prints, per series and model: balanced accuracy with its 95 % block-bootstrap
   interval, the volatility-only logistic regression's, the paired difference
   model − volatility-only with its interval, model_skill, strategy_skill, trades and the
   threshold chosen on validation. Then, per series, the issue's own comparison: logistic
   regressions on all features and on lagged returns + volatility against volatility
   only. Then the counts the issue asks for, each beside its bar:
   random walks: model_skill false in >= 9 of 10 (both models), strategy_skill not true in
   >= 9 of 10; planted: the logistic regression's model_skill true in >= 4 of 5 (the
   ensemble's count reported beside it, whatever it is).
4. Writes ``--out`` atomically after every finished part (a model on a series), so an
   interrupted run keeps what it finished. The file holds one configuration (the
   training config, the generator, this script's version): parts already in it for the
   same configuration are kept when not re-run; ``--resume`` skips them. A file holding
   another configuration is refused unless ``--replace``.

Smoke run of the ensemble path (minutes): ``--only ensemble --series ar0 --max-epochs 2
--out /tmp/nc_smoke.json``. A smoke run's configuration differs from the default's,
so it can never be mixed into the default run's figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import SeriesSpec, write_csv

from signalpack.atomic import atomic_write_bytes
from signalpack.errors import SignalpackError
from signalpack.train.config import TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "null_check.json"
BENCH_VERSION = 1  # bump when what a record means changes: older files are then another configuration
DRIFT = 0.0002  # mean daily log return: a tiny upward drift (~5 % a year), a rising market as in the issue
PHI = 0.4
N_BARS = 20_000
SERIES: tuple[SeriesSpec, ...] = (
    *(SeriesSpec(f"rw{i}", "random_walk", 1000 + i, n_bars=N_BARS, drift=DRIFT) for i in range(10)),
    *(SeriesSpec(f"ar{i}", "ar1", 2000 + i, n_bars=N_BARS, drift=DRIFT, phi=PHI) for i in range(5)),
)
PARTS = ("lr", "ensemble")
PART_NAMES = {"lr": "LR", "ensemble": "ensemble"}
RETURNS_AND_VOLATILITY = ("ret_1", "ret_5", "ret_10", "ret_20", "vol_5", "vol_20")
BARS = {"rw_model_skill_false": 9, "rw_strategy_not_true": 9, "ar_lr_model_skill_true": 4}


# --------------------------------------------------------------------------- judging one series

def summarise(verdict: dict[str, Any], threshold: dict[str, Any], metrics: dict[str, Any],
              simulation: dict[str, Any]) -> dict[str, Any]:
    """The record of one model on one series: verdict, the table's figures, and the figures behind them."""
    u = metrics["uncertainty"]
    headline = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
    return {
        "verdict": verdict,
        "threshold": {k: threshold.get(k) for k in ("mode", "threshold", "thresholds_tried", "fell_back")},
        "balanced_accuracy": u["model"]["balanced_accuracy"],
        "volatility_only_balanced_accuracy": u["baselines"]["volatility_only"]["balanced_accuracy"],
        "difference_vs_volatility_only": u["differences"]["volatility_only"]["balanced_accuracy"],
        "n_trades": int(simulation["strategy"]["n_trades"]),
        "metrics": {
            "model": {k: metrics["ensemble"][k] for k in headline},
            "baselines": {name: {k: b[k] for k in headline} for name, b in metrics["baselines"].items()},
            "uncertainty": u,
        },
        "simulation": {k: simulation[k] for k in ("strategy", "buy_and_hold", "nulls", "psr_vs_buy_and_hold",
                                                  "sharpe_statistics") if k in simulation},
    }


def run_lr(csv: Path, cfg: TrainConfig) -> dict[str, Any]:
    """The all-features logistic regression judged as if it were the model (module doc, step 2)."""
    from signalpack.evaluation.linear_baselines import fit_predict_logistic
    from signalpack.evaluation.metrics import classification_metrics
    from signalpack.score.features import default_feature_spec
    from signalpack.score.io import load_ohlcv
    from signalpack.train.assessment import assess
    from signalpack.train.dataset import build_dataset, labelled_features

    spec = default_feature_spec()
    data = load_ohlcv(csv, min_rows=spec.lookback + cfg.model.seq_len + cfg.labels.horizon)
    ds = build_dataset(labelled_features(data.frame, spec, cfg), spec, cfg)
    train, val, test = ds.ends["train"], ds.ends["validation"], ds.ends["test"]
    y_tr = ds.labels(train)
    probs = fit_predict_logistic(ds.x_raw[train], y_tr, np.concatenate([ds.x_raw[val], ds.x_raw[ds.test_ends]]))
    judged = assess(ds, cfg.simulation, cfg.labels.horizon, cfg.seed, probs[:len(val)], probs[len(val):],
                    member_test_probs=(), learning=None)
    record = summarise(judged.verdict.to_dict(), judged.threshold_record, judged.metrics, judged.simulation)

    # the issue's own comparison: an LR on lagged returns + volatility against the volatility-only one
    cols = [spec.names.index(c) for c in RETURNS_AND_VOLATILITY]
    y_te = ds.labels(test)
    p_rv = fit_predict_logistic(ds.x_raw[train][:, cols], y_tr, ds.x_raw[test][:, cols])
    record["comparison"] = {
        "all_features": judged.metrics["ensemble"]["balanced_accuracy"],
        "returns_and_volatility": classification_metrics(y_te, p_rv, judged.threshold)["balanced_accuracy"],
        "returns_and_volatility_features": list(RETURNS_AND_VOLATILITY),
        "volatility_only": judged.metrics["baselines"]["volatility_only"]["balanced_accuracy"],
    }
    record["windows"] = {"train": len(train), "validation": len(val), "test": len(test),
                         "test_all": len(ds.test_ends)}
    return record


def run_ensemble(csv: Path, cfg: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """The real training job on ``csv``; the verdict and figures from its metadata.json."""
    from signalpack.train.pipeline import train_run

    meta = train_run(csv, cfg, run_dir).metadata
    record = summarise(meta["verdict"], meta["threshold"], meta["metrics"], meta["simulation"])
    record["learning"] = meta.get("learning")
    record["run_dir"] = str(run_dir)
    record["training_seconds"] = meta.get("seconds")
    return record


# --------------------------------------------------------------------------- the results file

def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays to Python, NaN and infinities to None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def config_record(cfg: TrainConfig) -> dict[str, Any]:
    """What a result depends on besides the series itself; its hash tells configurations apart."""
    body = {"bench_version": BENCH_VERSION, "train_config": cfg.to_dict(),
            "default_train_config": cfg == TrainConfig()}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {**body, "hash": digest}


def machine_record() -> dict[str, Any]:
    def version(pkg: str) -> str | None:
        try:
            return importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            return None

    return {
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None, "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("numpy", "polars", "scikit-learn", "tensorflow", "tensorflow-cpu",
                                             "keras")},
    }


def load_results(path: Path, config: dict[str, Any], replace: bool) -> dict[str, Any]:
    """The results already in ``path`` for this configuration (empty if none); another one is refused."""
    if not path.exists() or replace:
        return {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: cannot read the earlier results ({exc}); pass --replace to start afresh")
    old_hash = old.get("config", {}).get("hash")
    if old_hash != config["hash"] and old.get("series"):
        raise SystemExit(
            f"{path}: holds {len(old['series'])} series measured with another configuration "
            f"(hash {old_hash}, this run's {config['hash']}); use another --out, or --replace to discard them")
    return dict(old.get("series", {}))


def counts(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's counts over the series in ``records`` (k of those run, beside the bar out of all)."""
    out: dict[str, Any] = {}
    n_rw = sum(s.kind == "random_walk" for s in SERIES)
    n_ar = len(SERIES) - n_rw
    for part in PARTS:
        rw = [r[part]["verdict"] for r in records.values() if r["spec"]["kind"] == "random_walk" and part in r]
        ar = [r[part]["verdict"] for r in records.values() if r["spec"]["kind"] == "ar1" and part in r]
        out[part] = {
            "random_walks_run": len(rw), "random_walks_total": n_rw,
            "random_walks_model_skill_false": sum(v["model_skill"] is False for v in rw),
            "random_walks_strategy_skill_not_true": sum(v["strategy_skill"] is not True for v in rw),
            "random_walks_strategy_skill_null": sum(v["strategy_skill"] is None for v in rw),
            "planted_run": len(ar), "planted_total": n_ar,
            "planted_model_skill_true": sum(v["model_skill"] is True for v in ar),
        }
    out["bars"] = {
        "random_walks_model_skill_false": f">= {BARS['rw_model_skill_false']} of {n_rw}, both models",
        "random_walks_strategy_skill_not_true": f">= {BARS['rw_strategy_not_true']} of {n_rw}, both models",
        "planted_lr_model_skill_true": f">= {BARS['ar_lr_model_skill_true']} of {n_ar} (ensemble: reported)",
    }
    return out


def write_results(path: Path, config: dict[str, Any], machine: dict[str, Any],
                  records: dict[str, dict[str, Any]]) -> None:
    order = {s.name: i for i, s in enumerate(SERIES)}
    doc = {
        "benchmark": "bench/null_check.py",
        "written_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "config": config,
        "machine": machine,
        "series": dict(sorted(records.items(), key=lambda kv: order.get(kv[0], len(order)))),
        "counts": counts(records),
    }
    data = json.dumps(jsonable(doc), indent=1, sort_keys=False, allow_nan=False) + "\n"
    atomic_write_bytes(path, data.encode(), overwrite=True)


# --------------------------------------------------------------------------- printing

def _pct(iv: dict[str, Any] | None, signed: bool = False) -> str:
    if not iv or iv.get("estimate") is None:
        return "—"
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"{f.format(100 * iv['estimate'])} [{f.format(100 * iv['low'])}, {f.format(100 * iv['high'])}]"


def _thr(t: float) -> str:
    """A threshold with two decimals, three when the grid has them (0.40, 0.425)."""
    return f"{t:.2f}" if abs(100 * t - round(100 * t)) < 1e-9 else f"{t:.3f}"


def table(records: dict[str, dict[str, Any]]) -> str:
    """Per series and model: the figures behind the verdict (balanced accuracy in %, 95 % intervals)."""
    head = ("series", "kind", "seed", "model", "bal. acc. [95%]", "vol-only [95%]", "model − vol [95%]",
            "model_skill", "strategy_skill", "trades", "threshold", "seconds")
    rows = []
    for s in SERIES:
        r = records.get(s.name)
        for part in PARTS:
            if not r or part not in r:
                continue
            p = r[part]
            v = p["verdict"]
            rows.append((s.name, s.kind, str(s.seed), PART_NAMES[part], _pct(p["balanced_accuracy"]),
                         _pct(p["volatility_only_balanced_accuracy"]), _pct(p["difference_vs_volatility_only"], True),
                         str(v["model_skill"]).lower(), "null" if v["strategy_skill"] is None
                         else str(v["strategy_skill"]).lower(), str(p["n_trades"]),
                         _thr(p['threshold']['threshold']), f"{p['seconds']:.0f}"))
    return _render(head, rows)


def comparison_table(records: dict[str, dict[str, Any]]) -> str:
    """The issue's comparison: LRs on all features and on lagged returns + volatility vs volatility only."""
    head = ("series", "kind", "all-features LR", "returns+vol LR", "vol-only LR", "all − vol", "returns+vol − vol")
    rows = []
    for s in SERIES:
        c = records.get(s.name, {}).get("lr", {}).get("comparison")
        if c is None:
            continue
        rows.append((s.name, s.kind, f"{100 * c['all_features']:.1f}", f"{100 * c['returns_and_volatility']:.1f}",
                     f"{100 * c['volatility_only']:.1f}", f"{100 * (c['all_features'] - c['volatility_only']):+.1f}",
                     f"{100 * (c['returns_and_volatility'] - c['volatility_only']):+.1f}"))
    return _render(head, rows)


def _render(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def count_lines(c: dict[str, Any]) -> list[str]:
    def verdict(k: int, run: int, total: int, bar: int) -> str:
        if run < total:
            return f"incomplete ({run} of {total} run; bar {bar})"
        return "met" if k >= bar else "NOT met"

    out = []
    for part in PARTS:
        p = c[part]
        name = PART_NAMES[part]
        if p["random_walks_run"]:
            n, t = p["random_walks_run"], p["random_walks_total"]
            out.append(f"random walks, {name}: model_skill false in {p['random_walks_model_skill_false']}/{n} — "
                       f"{verdict(p['random_walks_model_skill_false'], n, t, BARS['rw_model_skill_false'])}")
            out.append(f"random walks, {name}: strategy_skill not true in {p['random_walks_strategy_skill_not_true']}"
                       f"/{n} ({p['random_walks_strategy_skill_null']} did not trade: null) — "
                       f"{verdict(p['random_walks_strategy_skill_not_true'], n, t, BARS['rw_strategy_not_true'])}")
    for part in PARTS:
        p = c[part]
        if p["planted_run"]:
            n, t = p["planted_run"], p["planted_total"]
            judged = (verdict(p["planted_model_skill_true"], n, t, BARS["ar_lr_model_skill_true"]) if part == "lr"
                      else "reported, no bar (whether the LSTM learns the signal is a question about the model)")
            out.append(f"planted AR(1), {PART_NAMES[part]}: model_skill true in {p['planted_model_skill_true']}/{n} — "
                       f"{judged}")
    return out


# --------------------------------------------------------------------------- main

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--only", choices=PARTS, help="judge one model only (lr: seconds per series; ensemble: long)")
    ap.add_argument("--series", help=f"comma-separated series names (default all: {','.join(s.name for s in SERIES)})")
    ap.add_argument("--work", type=Path, help="folder for the generated CSVs and run directories (kept); "
                    "default a temporary folder, removed at the end")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default %(default)s)")
    ap.add_argument("--resume", action="store_true", help="skip parts already in --out for the same configuration")
    ap.add_argument("--replace", action="store_true", help="discard what --out holds, whatever its configuration")
    ap.add_argument("--config", type=Path, help="training config TOML (default: TrainConfig() defaults)")
    ap.add_argument("--max-epochs", type=int, help="override model.max_epochs (smoke runs; not the issue's figures)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show the training log on stderr")
    return ap.parse_args(argv)


def select_series(arg: str | None) -> list[SeriesSpec]:
    if not arg:
        return list(SERIES)
    known = {s.name: s for s in SERIES}
    names = [n.strip() for n in arg.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SystemExit(f"--series {arg!r}: unknown name(s) {unknown}; known: {', '.join(known)}")
    return [known[n] for n in dict.fromkeys(names)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config)
    if args.max_epochs is not None:
        cfg = cfg.with_overrides(model__max_epochs=args.max_epochs)
    series = select_series(args.series)
    parts = [args.only] if args.only else list(PARTS)
    config = config_record(cfg)
    records = load_results(args.out, config, args.replace)
    machine = machine_record()
    console = logging.StreamHandler(sys.stderr)  # the pipeline sets its logger to INFO for its log file:
    console.setLevel(logging.INFO if args.verbose else logging.WARNING)  # filter here, on the handler
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(console)

    print(f"null check: {len(series)} series × {', '.join(PART_NAMES[p] for p in parts)}; config {config['hash']}"
          f"{' (default TrainConfig)' if config['default_train_config'] else ' (NOT the default TrainConfig)'}; "
          f"results → {args.out}")
    print("series and seeds: " + ", ".join(f"{s.name}={s.seed}" for s in series))
    work = args.work if args.work is not None else Path(tempfile.mkdtemp(prefix="signalpack-null-check-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for s in series:
            record = records.get(s.name)
            if record is not None and record.get("spec") != jsonable(s.to_dict()):
                record = None  # generated differently: measure again
            record = dict(record or {"spec": jsonable(s.to_dict())})
            todo = [p for p in parts if not (args.resume and p in record)]
            if not todo:
                print(f"{s.name}: already in {args.out.name} (--resume), skipped")
                continue
            t0 = time.monotonic()
            csv = write_csv(s, work)
            record["csv_seconds"] = round(time.monotonic() - t0, 2)
            for part in todo:
                record[part] = _timed(s, part, csv, cfg, work, config)
                records[s.name] = record
                write_results(args.out, config, machine, records)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("Per series (balanced accuracy in %, 95% block-bootstrap intervals; model − vol: paired difference):")
    print(table(records))
    print()
    if any("lr" in r for r in records.values()):
        print("The issue's comparison on the test windows (balanced accuracy in %, logistic regressions fitted on "
              "the training windows):")
        print(comparison_table(records))
        print()
    for line in count_lines(counts(records)):
        print(line)
    print(f"\nwritten: {args.out}")
    return 0


def _run_part(part: str, csv: Path, cfg: TrainConfig, work: Path, s: SeriesSpec,
              config: dict[str, Any]) -> dict[str, Any]:
    if part == "lr":
        return run_lr(csv, cfg)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = work / "runs" / f"{s.name}-{config['hash'][:8]}-{stamp}"
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    return run_ensemble(csv, cfg, run_dir)


def _timed(s: SeriesSpec, part: str, csv: Path, cfg: TrainConfig, work: Path,
           config: dict[str, Any]) -> dict[str, Any]:
    """Run one part, time it, print its one-line summary."""
    print(f"{s.name} ({s.kind}, seed {s.seed}) {PART_NAMES[part]}: running …", flush=True)
    t0 = time.monotonic()
    rec = _run_part(part, csv, cfg, work, s, config)
    rec["seconds"] = round(time.monotonic() - t0, 1)
    rec["measured_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    v = rec["verdict"]
    print(f"{s.name} {PART_NAMES[part]}: balanced accuracy {_pct(rec['balanced_accuracy'])}, "
          f"vs volatility-only {_pct(rec['difference_vs_volatility_only'], True)} points; "
          f"model_skill {v['model_skill']}, strategy_skill {v['strategy_skill']}, {rec['n_trades']} trades at "
          f"{_thr(rec['threshold']['threshold'])}; {rec['seconds']:.1f} s", flush=True)
    return rec


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SignalpackError as exc:
        print(f"null_check: {exc}", file=sys.stderr)
        sys.exit(1)

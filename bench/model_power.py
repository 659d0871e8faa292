"""Model power: does the ensemble learn what a logistic regression on the same inputs learns? (issue 16, item 5)

    python bench/model_power.py [--series p0,r3,sp500] [--only lr|ensemble] [--work DIR]
                                [--resume] [--replace] [--config FILE] [--max-epochs N]
                                [--out bench/model_power.json] [-v]

For each series, two models are judged by the same code (``bench/null_check.py``'s parts,
``train.assessment.assess`` underneath): the real training job with the default
``TrainConfig()`` (the 3-member ensemble) and the all-features logistic regression treated
as if it were the model. Prints, per series, each one's test balanced accuracy with its 95 %
block-bootstrap interval and its verdict (model_skill, strategy_skill), then the issue's
bars. Asserts nothing; writes its figures to ``--out`` after every finished part.

The series, all **fresh**: no tuning and no earlier evaluation used these seeds.

* ``p0``..``p4``: planted AR(1) daily log returns, phi = 0.4, 20,000 bars, seeds 5100 + i
  (tuning used 9000 + i; ``bench/null_check.py``'s ``ar*`` use 2000 + i; seeds 5000 + i were
  spent on the first attempt, ``bench/model_power_first_attempt.json``);
* ``r0``..``r9``: geometric random walks, 20,000 bars, seeds 6000 + i (``rw*``: 1000 + i);
* ``sp500`` (the embedded default data), ``goog`` and ``eurusd`` (``../shared/data``):
  their chronological **test** segments, which no tuning read.

Not the issue's set, and run only on their own (``--series e0,e1,…,e9 --out
bench/model_power_extra.json``): ``e0``..``e9``, ten more fresh planted series (seeds
5300 + i), which estimate how often the ensemble shows skill, beside the logistic regression
and the oracle of ``bench/verdict_power.py``. Likewise ``f0``..``f14`` (seeds 5400 + i), registered
in the third session for round 6's candidate (``bench/model_power_f_*.json``), and ``g0``..``g14``
(seeds 5500 + i) for round 7's, which failed its gate, so the fourth session registered them for
round 8's (``bench/model_power_g_*.json``), and ``h0``..``h14`` (seeds 5600 + i) for round 8 judged
by the verdict's rule for members that start as a logistic regression (``bench/model_power_h_*.json``);
a run holds one set only.

The bars (issue 16, "Must show"): on the planted series the ensemble shows model skill in
at least 4 of 5 and its balanced accuracy averages at least the logistic regression's
minus 1 point; on the random walks it shows no model skill in at least 9 of 10.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import null_check as nc
from synthetic import SeriesSpec, write_csv

from signalpack.errors import SignalpackError
from signalpack.train.config import TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "model_power.json"
SHARED = ROOT.parent / "shared" / "data"
PLANTED = tuple(SeriesSpec(f"p{i}", "ar1", 5100 + i, n_bars=nc.N_BARS, drift=nc.DRIFT, phi=nc.PHI) for i in range(5))
WALKS = tuple(SeriesSpec(f"r{i}", "random_walk", 6000 + i, n_bars=nc.N_BARS, drift=nc.DRIFT) for i in range(10))
EXTRA = (*(SeriesSpec(f"e{i}", "ar1", 5300 + i, n_bars=nc.N_BARS, drift=nc.DRIFT, phi=nc.PHI) for i in range(10)),
         *(SeriesSpec(f"f{i}", "ar1", 5400 + i, n_bars=nc.N_BARS, drift=nc.DRIFT, phi=nc.PHI) for i in range(15)),
         *(SeriesSpec(f"g{i}", "ar1", 5500 + i, n_bars=nc.N_BARS, drift=nc.DRIFT, phi=nc.PHI) for i in range(15)),
         *(SeriesSpec(f"h{i}", "ar1", 5600 + i, n_bars=nc.N_BARS, drift=nc.DRIFT, phi=nc.PHI) for i in range(15)))
"""Not the issue's set: more fresh planted series, to estimate the ensemble's skill rate; run on their own.
e0..e9 (second session), f0..f14 and g0..g14 (third session), each set with its own --out."""
REAL = {"sp500": ROOT / "train" / "data" / "sp500_daily.csv.gz", "goog": SHARED / "goog_daily.csv",
        "eurusd": SHARED / "eurusd_hourly.csv"}
PARTS = ("lr", "ensemble")
BAR_PLANTED_SKILL = 4  # of 5: the ensemble's model_skill true
BAR_PLANTED_GAP = 0.01  # mean ensemble balanced accuracy >= mean LR's minus this
BAR_WALKS_NO_SKILL = 9  # of 10: the ensemble's model_skill not true


@dataclass(frozen=True)
class Series:
    """One benchmark series: synthetic (generated from ``spec``) or a real file."""

    name: str
    kind: str  # "ar1", "random_walk" or "real"
    spec: SeriesSpec | None = None
    path: Path | None = None

    def record(self) -> dict[str, Any]:
        if self.spec is not None:
            return nc.jsonable(self.spec.to_dict())
        return {"name": self.name, "kind": "real", "file": self.path.name if self.path else None}

    def label(self) -> str:
        return f"seed {self.spec.seed}" if self.spec is not None else (self.path.name if self.path else "")

    def csv(self, work: Path) -> Path:
        if self.spec is not None:
            return write_csv(self.spec, work)
        assert self.path is not None
        if not self.path.is_file():
            raise SystemExit(f"{self.name}: {self.path} not found (the real files live in ../shared/data)")
        return self.path


SERIES: tuple[Series, ...] = (
    *(Series(s.name, s.kind, spec=s) for s in PLANTED),
    *(Series(s.name, s.kind, spec=s) for s in WALKS),
    *(Series(name, "real", path=path) for name, path in REAL.items()),
)


EXTRA_SERIES: tuple[Series, ...] = tuple(Series(s.name, s.kind, spec=s) for s in EXTRA)


def select(arg: str | None) -> list[Series]:
    """The series ``--series`` names (default: the issue's 18); the extra ones only on their own."""
    if not arg:
        return list(SERIES)
    known = {s.name: s for s in (*SERIES, *EXTRA_SERIES)}
    names = [n.strip() for n in arg.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SystemExit(f"--series {arg!r}: unknown name(s) {unknown}; known: {', '.join(known)}")
    extra = {s.name for s in EXTRA_SERIES}
    if 0 < len(set(names) & extra) < len(set(names)):
        raise SystemExit(f"--series {arg!r}: the extra series ({', '.join(sorted(extra))}) are not the issue's set; "
                         "run them on their own, with their own --out")
    if len({n[0] for n in set(names) & extra}) > 1:
        raise SystemExit(f"--series {arg!r}: run the e*, f* and g* extra sets apart, each with its own --out")
    return [known[n] for n in dict.fromkeys(names)]


def run_part(part: str, s: Series, csv: Path, cfg: TrainConfig, work: Path, config: dict[str, Any]) -> dict[str, Any]:
    print(f"{s.name} ({s.kind}, {s.label()}) {part}: running …", flush=True)
    t0 = time.monotonic()
    if part == "lr":
        rec = nc.run_lr(csv, cfg)
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        run_dir = work / "runs" / f"{s.name}-{config['hash'][:8]}-{stamp}"
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        rec = nc.run_ensemble(csv, cfg, run_dir)
    rec["seconds"] = round(time.monotonic() - t0, 1)
    rec["measured_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    v = rec["verdict"]
    print(f"{s.name} {part}: balanced accuracy {nc._pct(rec['balanced_accuracy'])}; model_skill {v['model_skill']}, "
          f"strategy_skill {v['strategy_skill']}; {rec['seconds']:.1f} s", flush=True)
    return rec


def _skill(v: Any) -> str:
    return "null" if v is None else str(v).lower()


def table(records: dict[str, dict[str, Any]]) -> str:
    """Per series: LR and ensemble balanced accuracy (%, 95 % intervals) and verdicts, and their difference."""
    head = ("series", "kind", "source", "LR bal. acc. [95%]", "LR model_skill", "ensemble bal. acc. [95%]",
            "ens. model_skill", "ens. strategy_skill", "ens. − LR", "trades", "ens. seconds")
    rows = []
    for s in (*SERIES, *EXTRA_SERIES):
        r = records.get(s.name)
        if not r:
            continue
        lr, en = r.get("lr"), r.get("ensemble")
        diff = (f"{100 * (en['balanced_accuracy']['estimate'] - lr['balanced_accuracy']['estimate']):+.1f}"
                if lr and en else "—")
        rows.append((s.name, s.kind, s.label(), nc._pct(lr["balanced_accuracy"]) if lr else "—",
                     _skill(lr["verdict"]["model_skill"]) if lr else "—",
                     nc._pct(en["balanced_accuracy"]) if en else "—",
                     _skill(en["verdict"]["model_skill"]) if en else "—",
                     _skill(en["verdict"]["strategy_skill"]) if en else "—", diff,
                     str(en["n_trades"]) if en else "—", f"{en['seconds']:.0f}" if en else "—"))
    return nc._render(head, rows)


def counts(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's bars over the series run so far (each beside how many of its kind there are)."""
    def of(kind: str, part: str) -> list[dict[str, Any]]:
        return [r[part] for n, r in records.items() if r["spec"]["kind"] == kind and part in r]

    ar_en, ar_lr, rw_en = of("ar1", "ensemble"), of("ar1", "lr"), of("random_walk", "ensemble")
    paired = [(r["ensemble"]["balanced_accuracy"]["estimate"], r["lr"]["balanced_accuracy"]["estimate"])
              for r in records.values() if r["spec"]["kind"] == "ar1" and "ensemble" in r and "lr" in r]
    mean_en = sum(e for e, _ in paired) / len(paired) if paired else None
    mean_lr = sum(x for _, x in paired) / len(paired) if paired else None
    extra = bool(records) and all(n in {e.name for e in EXTRA} for n in records)
    return {
        "series_set": "extra" if extra else "issue",
        "planted_total": len(ar_en) if extra else len(PLANTED), "planted_run": len(ar_en),
        "planted_ensemble_model_skill_true": sum(p["verdict"]["model_skill"] is True for p in ar_en),
        "planted_lr_model_skill_true": sum(p["verdict"]["model_skill"] is True for p in ar_lr),
        "planted_lr_run": len(ar_lr),
        "planted_paired": len(paired), "planted_mean_ensemble_balanced_accuracy": mean_en,
        "planted_mean_lr_balanced_accuracy": mean_lr,
        "walks_total": len(WALKS), "walks_run": len(rw_en),
        "walks_ensemble_model_skill_not_true": sum(p["verdict"]["model_skill"] is not True for p in rw_en),
        "bars": {"planted_ensemble_model_skill_true": f">= {BAR_PLANTED_SKILL} of {len(PLANTED)}",
                 "planted_mean_balanced_accuracy": f"ensemble >= LR - {100 * BAR_PLANTED_GAP:.0f} point",
                 "walks_ensemble_model_skill_not_true": f">= {BAR_WALKS_NO_SKILL} of {len(WALKS)}"},
    }


def count_lines(c: dict[str, Any]) -> list[str]:
    def judged(ok: bool, run: int, total: int) -> str:
        return f"incomplete ({run} of {total} run)" if run < total else ("met" if ok else "NOT met")

    out = []
    if c.get("series_set") == "extra":  # not the set: rates, no bar
        k, n = c["planted_ensemble_model_skill_true"], c["planted_run"]
        lr = (f"{c['planted_lr_model_skill_true']}/{c['planted_lr_run']}" if c["planted_lr_run"] else "not run")
        out.append(f"extra planted AR(1) (not the issue's set): ensemble model_skill true in {k}/{n} (LR: {lr})")
        if c["planted_paired"]:
            e, x = c["planted_mean_ensemble_balanced_accuracy"], c["planted_mean_lr_balanced_accuracy"]
            out.append(f"extra planted AR(1): mean balanced accuracy ensemble {100 * e:.2f} %, LR {100 * x:.2f} % "
                       f"({100 * (e - x):+.2f} points)")
        return out
    if c["planted_run"]:
        k = c["planted_ensemble_model_skill_true"]
        lr = (f"{c['planted_lr_model_skill_true']}/{c['planted_lr_run']}" if c["planted_lr_run"] else "not run")
        out.append(f"planted AR(1): ensemble model_skill true in {k}/{c['planted_run']} (LR: {lr}); "
                   f"bar >= {BAR_PLANTED_SKILL} of {c['planted_total']} — "
                   f"{judged(k >= BAR_PLANTED_SKILL, c['planted_run'], c['planted_total'])}")
    if c["planted_paired"]:
        e, x = c["planted_mean_ensemble_balanced_accuracy"], c["planted_mean_lr_balanced_accuracy"]
        out.append(f"planted AR(1): mean balanced accuracy ensemble {100 * e:.2f} %, LR {100 * x:.2f} % "
                   f"({100 * (e - x):+.2f} points); bar ensemble >= LR − {100 * BAR_PLANTED_GAP:.0f} point — "
                   f"{judged(e >= x - BAR_PLANTED_GAP, c['planted_paired'], c['planted_total'])}")
    if c["walks_run"]:
        k = c["walks_ensemble_model_skill_not_true"]
        out.append(f"random walks: ensemble model_skill not true in {k}/{c['walks_run']}; bar >= "
                   f"{BAR_WALKS_NO_SKILL} of {c['walks_total']} — "
                   f"{judged(k >= BAR_WALKS_NO_SKILL, c['walks_run'], c['walks_total'])}")
    return out


def write_results(path: Path, config: dict[str, Any], machine: dict[str, Any],
                  records: dict[str, dict[str, Any]]) -> None:
    import json

    from signalpack.atomic import atomic_write_bytes

    order = {s.name: i for i, s in enumerate((*SERIES, *EXTRA_SERIES))}
    doc = {"benchmark": "bench/model_power.py",
           "written_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
           "config": config, "machine": machine,
           "series": dict(sorted(records.items(), key=lambda kv: order.get(kv[0], len(order)))),
           "counts": counts(records)}
    data = json.dumps(nc.jsonable(doc), indent=1, allow_nan=False) + "\n"
    atomic_write_bytes(path, data.encode(), overwrite=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--only", choices=PARTS, help="judge one model only (lr: seconds per series; ensemble: minutes)")
    ap.add_argument("--series", help=f"comma-separated names (default all: {','.join(s.name for s in SERIES)})")
    ap.add_argument("--work", type=Path, help="folder for generated CSVs and run directories (kept); "
                    "default a temporary folder, removed at the end")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default %(default)s)")
    ap.add_argument("--resume", action="store_true", help="skip parts already in --out for the same configuration")
    ap.add_argument("--replace", action="store_true", help="discard what --out holds, whatever its configuration")
    ap.add_argument("--config", type=Path, help="training config TOML (default: TrainConfig() defaults)")
    ap.add_argument("--max-epochs", type=int, help="override model.max_epochs (smoke runs; not the issue's figures)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show the training log on stderr")
    args = ap.parse_args(argv)

    cfg = load_config(args.config)
    if args.max_epochs is not None:
        cfg = cfg.with_overrides(model__max_epochs=args.max_epochs)
    series = select(args.series)
    parts = [args.only] if args.only else list(PARTS)
    config = nc.config_record(cfg)
    records = nc.load_results(args.out, config, args.replace)
    machine = nc.machine_record()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if args.verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(console)

    print(f"model power: {len(series)} series × {', '.join(parts)}; config {config['hash']}"
          f"{' (default TrainConfig)' if config['default_train_config'] else ' (NOT the default TrainConfig)'}; "
          f"results → {args.out}", flush=True)
    work = args.work if args.work is not None else Path(tempfile.mkdtemp(prefix="signalpack-model-power-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for s in series:
            record = records.get(s.name)
            if record is not None and record.get("spec") != s.record():
                record = None  # generated differently: measure again
            record = dict(record or {"spec": s.record()})
            todo = [p for p in parts if not (args.resume and p in record)]
            if not todo:
                print(f"{s.name}: already in {args.out.name} (--resume), skipped")
                continue
            csv = s.csv(work)
            for part in todo:
                record[part] = run_part(part, s, csv, cfg, work, config)
                records[s.name] = record
                write_results(args.out, config, machine, records)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("Per series (test balanced accuracy in %, 95% block-bootstrap intervals; verdicts by train.assessment):")
    print(table(records))
    print()
    for line in count_lines(counts(records)):
        print(line)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SignalpackError as exc:
        print(f"model_power: {exc}", file=sys.stderr)
        sys.exit(1)

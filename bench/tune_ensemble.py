"""Choosing the default model config on validation segments only (issue 16, item 3).

    python bench/tune_ensemble.py [--series tune0,tune1,sp500,goog,eurusd] [--configs baseline,combo]
                                  [--out bench/tune_ensemble.json]

Trains the whole 3-member ensemble exactly as the training job does (``train.ensemble``: early
stopping, LR reduction, validation weights) under each candidate ``[model]`` config, and
reports the ensemble's **validation** balanced accuracy (argmax, no threshold) beside the
all-features logistic regression's on the same windows. The real files' test segments are never
read. On the tuning series, which no evaluation uses, it also reports the **test** balanced
accuracy of the ensemble and the LR beside the Bayes oracle's (``bench/verdict_power.py``):
paired with the best possible model on the same windows, a less noisy target than validation
balanced accuracy alone (round 5, second session).

Series: the tuning series ``tune0``..``tune4`` (planted AR(1), seeds 9000 + i, as in
``bench/learning_curves.py``; no evaluation uses them) and the real files ``sp500``,
``goog``, ``eurusd``, whose validation segments only are used. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learning_curves import REAL, TUNING, balanced_accuracy, names
from synthetic import SeriesSpec, write_csv

from signalpack.atomic import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "tune_ensemble.json"
ORIGINAL = {"batch_norm": True, "dropout": 0.2, "recurrent_dropout": 0.0, "batch_size": 128, "lstm_units": 64,
            "input_dropout": 0.0}
CONFIGS: dict[str, dict[str, Any]] = {
    "baseline": ORIGINAL,
    "combo": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 512},
    "combo_b256": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 256},
    "combo_b256_idrop4": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3,
                          "batch_size": 256, "input_dropout": 0.4},
    "combo_16": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 512,
                 "lstm_units": 16},
    # round 5 (second session): scored against the Bayes oracle on the tuning series' test segments
    "idrop4_u16": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 256,
                   "input_dropout": 0.4, "lstm_units": 16},
    "idrop4_wd1e-1": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 256,
                      "input_dropout": 0.4, "weight_decay": 0.1},
    # round 6 (third session): from idrop4_u16; Polyak averaging of the weights, and fewer units
    "u16_ema99": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 256,
                  "input_dropout": 0.4, "lstm_units": 16, "ema_decay": 0.99},
    "u16_ema995": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 256,
                   "input_dropout": 0.4, "lstm_units": 16, "ema_decay": 0.995},
    "u8": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 256,
           "input_dropout": 0.4, "lstm_units": 8},
    # round 7 (third session): LSTM(16) with a wide path (linear_skip), a linear map of the last step
    "u16_skip": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 256,
                 "input_dropout": 0.4, "lstm_units": 16, "linear_skip": True},
    # round 8 (fourth session): the default member with a residual wide path: the wide path is the
    # training windows' logistic regression, frozen, and the LSTM learns what it misses
    "residual": {**ORIGINAL, "batch_norm": False, "dropout": 0.3, "recurrent_dropout": 0.3, "batch_size": 256,
                 "input_dropout": 0.4, "lstm_units": 64, "linear_skip": True, "linear_skip_mode": "residual"},
}


def validation_scores(csv: Path, model_overrides: dict[str, Any], series: SeriesSpec | None = None) -> dict[str, Any]:
    """The ensemble's and the logistic regression's validation balanced accuracy on ``csv``.

    With ``series`` (a tuning series' spec, which no evaluation uses) also their **test** balanced accuracy
    beside the Bayes oracle's (``bench/verdict_power.py``): a paired, lower-noise tuning target.
    """
    from signalpack.evaluation.linear_baselines import fit_predict_logistic
    from signalpack.evaluation.metrics import classification_metrics
    from signalpack.score.features import default_feature_spec
    from signalpack.score.io import load_ohlcv
    from signalpack.train.config import TrainConfig
    from signalpack.train.dataset import build_dataset, class_weights, labelled_features
    from signalpack.train.ensemble import ensemble_predict, ensemble_weights, member_predict, train_members

    cfg = TrainConfig().with_overrides(**{f"model__{k}": v for k, v in model_overrides.items()})
    spec = default_feature_spec()
    data = load_ohlcv(csv, min_rows=spec.lookback + cfg.model.seq_len + cfg.labels.horizon)
    ds = build_dataset(labelled_features(data.frame, spec, cfg), spec, cfg)
    tr, va = ds.ends["train"], ds.ends["validation"]
    y_tr, y_va = ds.labels(tr), ds.labels(va)
    x_va = ds.windows(va)
    members = train_members(ds.windows(tr), y_tr, x_va, y_va, class_weights(y_tr), cfg.model, cfg.seed)
    val_probs = [member_predict(m.model, x_va) for m in members]
    weights = ensemble_weights([classification_metrics(y_va, p, 0.5)["macro_f1"] for p in val_probs])
    out: dict[str, Any] = {
        "ensemble_val_ba": round(balanced_accuracy(y_va, ensemble_predict(val_probs, weights)), 4),
        "members_val_ba": [round(balanced_accuracy(y_va, p), 4) for p in val_probs],
        "best_epochs": [m.best_epoch for m in members],
        "lr_val_ba": round(balanced_accuracy(y_va, fit_predict_logistic(ds.x_raw[tr], y_tr, ds.x_raw[va])), 4),
        "windows": {"train": len(tr), "validation": len(va)},
    }
    if series is not None:
        from verdict_power import balanced_oracle_probs

        te = ds.ends["test"]
        y_te = ds.labels(te)
        oracle = balanced_oracle_probs(ds, series, cfg.labels, te)
        test_probs = [member_predict(m.model, ds.windows(te)) for m in members]
        out["test"] = {
            "ensemble_ba": round(balanced_accuracy(y_te, ensemble_predict(test_probs, weights)), 4),
            "lr_ba": round(balanced_accuracy(y_te, fit_predict_logistic(ds.x_raw[tr], y_tr, ds.x_raw[te])), 4),
            "oracle_ba": round(balanced_accuracy(y_te, oracle), 4),
            "windows": len(te),
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="tune0,tune1,sp500,goog,eurusd")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    tuning = {s.name: s for s in TUNING}
    series = names("--series", args.series, [*tuning, *REAL])
    configs = names("--configs", args.configs, list(CONFIGS))
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["configs"] = CONFIGS
    results.setdefault("series", {})
    work = Path(tempfile.mkdtemp(prefix="tune-ensemble-"))
    for name in series:
        csv = write_csv(tuning[name], work) if name in tuning else REAL[name]
        for c in configs:
            t0 = time.monotonic()
            r = validation_scores(csv, CONFIGS[c], tuning.get(name))
            r["seconds"] = round(time.monotonic() - t0, 1)
            results["series"].setdefault(name, {})[c] = r
            t = r.get("test")
            test = (f"; test: ensemble {t['ensemble_ba']:.4f}, LR {t['lr_ba']:.4f}, oracle {t['oracle_ba']:.4f}"
                    if t else "")
            print(f"{name:7s} {c:11s} ensemble val BA {r['ensemble_val_ba']:.4f} (members {r['members_val_ba']}, "
                  f"best epochs {r['best_epochs']}); LR {r['lr_val_ba']:.4f}{test}; {r['seconds']:.0f} s", flush=True)
            atomic_write_bytes(args.out, (json.dumps(results, indent=1, sort_keys=True) + "\n").encode(),
                               overwrite=True)
    means = {c: float(np.mean([results["series"][s][c]["ensemble_val_ba"] - results["series"][s][c]["lr_val_ba"]
                               for s in results["series"] if c in results["series"][s]]))
             for c in CONFIGS if any(c in v for v in results["series"].values())}
    print("mean ensemble − LR (validation):", {c: round(100 * m, 2) for c, m in means.items()})
    tests = {c: [v[c]["test"] for v in results["series"].values() if c in v and "test" in v[c]] for c in CONFIGS}
    for c, ts in tests.items():
        if ts:
            gap = [t["ensemble_ba"] - t["oracle_ba"] for t in ts]
            lr_gap = [t["lr_ba"] - t["oracle_ba"] for t in ts]
            print(f"{c}: tuning series' test segments ({len(ts)}): ensemble − oracle {100 * np.mean(gap):+.2f} points "
                  f"(per series {[round(100 * g, 1) for g in gap]}), LR − oracle {100 * np.mean(lr_gap):+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Choosing the default model config on validation segments only (issue 16, item 3).

    python bench/tune_ensemble.py [--series tune0,tune1,sp500,goog,eurusd] [--configs baseline,combo]
                                  [--out bench/tune_ensemble.json]

Trains the whole 3-member ensemble exactly as the training job does (``train.ensemble``: early
stopping, LR reduction, validation weights) under each candidate ``[model]`` config, and
reports the ensemble's **validation** balanced accuracy (argmax, no threshold) beside the
all-features logistic regression's on the same windows. The test segments are never read.

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
from synthetic import write_csv

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
}


def validation_scores(csv: Path, model_overrides: dict[str, Any]) -> dict[str, Any]:
    """The ensemble's and the logistic regression's validation balanced accuracy on ``csv``."""
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
    return {
        "ensemble_val_ba": round(balanced_accuracy(y_va, ensemble_predict(val_probs, weights)), 4),
        "members_val_ba": [round(balanced_accuracy(y_va, p), 4) for p in val_probs],
        "best_epochs": [m.best_epoch for m in members],
        "lr_val_ba": round(balanced_accuracy(y_va, fit_predict_logistic(ds.x_raw[tr], y_tr, ds.x_raw[va])), 4),
        "windows": {"train": len(tr), "validation": len(va)},
    }


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
            r = validation_scores(csv, CONFIGS[c])
            r["seconds"] = round(time.monotonic() - t0, 1)
            results["series"].setdefault(name, {})[c] = r
            print(f"{name:7s} {c:11s} ensemble val BA {r['ensemble_val_ba']:.4f} (members {r['members_val_ba']}, "
                  f"best epochs {r['best_epochs']}); LR {r['lr_val_ba']:.4f}; {r['seconds']:.0f} s", flush=True)
            atomic_write_bytes(args.out, (json.dumps(results, indent=1, sort_keys=True) + "\n").encode(),
                               overwrite=True)
    means = {c: float(np.mean([results["series"][s][c]["ensemble_val_ba"] - results["series"][s][c]["lr_val_ba"]
                               for s in results["series"] if c in results["series"][s]]))
             for c in CONFIGS if any(c in v for v in results["series"].values())}
    print("mean ensemble − LR (validation):", {c: round(100 * m, 2) for c, m in means.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

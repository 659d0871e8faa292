"""Why do the members memorize? Learning curves under each candidate cause, one at a time (issue 16, item 1).

    python bench/learning_curves.py [--series tune0,tune1] [--variants baseline,lr_1e-4] [--epochs 30]
                                    [--out bench/learning_curves.json] [--work DIR]

One LSTM member of the original design (LSTM(64) → BatchNorm → Dropout(0.2) → Dense(32) →
Dense(16) → Softmax(3), Adam at 1e-3, batch 128, balanced class weights, the standard scaler)
is trained for a fixed number of epochs, **without** early stopping or LR reduction, so the
whole curve is seen: train loss and accuracy, validation loss, accuracy and balanced
accuracy after every epoch. Each variant changes exactly one thing against that baseline:

* ``lr_1e-4``: learning rate 1e-4 instead of 1e-3;
* ``no_batchnorm``: the BatchNorm layer removed;
* ``batch_512``: batch 512 instead of 128 (BatchNorm's batch statistics over more windows);
* ``no_class_weights``: plain cross-entropy;
* ``adamw_1e-2``: AdamW with weight decay 0.01 instead of Adam;
* ``units_16``: LSTM(16) instead of LSTM(64);
* ``clip_5``: scaled features clipped to [-5, 5] (heavy tails tamed) before the model.

Round 2, the regularisers issue 16 lists, each alone at a strength where it bites:
``adamw_1e-1`` (AdamW, weight decay 0.1), ``noise_0.3`` (Gaussian input noise, sd 0.3 of the
scaled features), ``dropouts_0.3`` (dropout and recurrent dropout 0.3), ``smoothing_0.1``
(label smoothing 0.1), ``units_16_lr_5e-4`` (a smaller member at half the rate). Round 3, the
helpful changes together: ``combo`` (no BatchNorm, dropout and recurrent dropout 0.3, batch 512)
and ``combo_16`` (the same with LSTM(16)). Round 4, after ``combo_b256`` (``combo`` at batch 256)
fell short on fresh seeds: ``combo_b256_idrop`` / ``_idrop4`` / ``_idrop6`` (input dropout 0.2 /
0.4 / 0.6: the default since) and ``combo_b256_wide`` (a linear path from the last step's
features to the output). And pooled
multi-symbol training: ``--series pool5`` trains one member on tune0..tune4 as five symbols
of one file (five times the windows), validated on all five validation segments.

Real files (``sp500``, the embedded default data; ``goog`` and ``eurusd`` from ``../shared/data``)
are read for their training and validation segments only, as the tuning series are.

The series are **tuning** series only: planted AR(1) daily returns (phi 0.4, 20,000 bars, as
``bench/null_check.py``'s ar0..ar4) with seeds 9000 + i, which no evaluation uses. Only the
training and validation segments are used; the test segment is never read. Beside the
curves, the validation balanced accuracy of the two logistic-regression references (all
features at the window's last step, and volatility only) says what a linear model reaches
on the same windows.

Prints a table per series (best validation balanced accuracy and its epoch, the epoch of
lowest validation loss, the train-minus-validation accuracy gap at the end) and writes
every curve to ``--out``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import SeriesSpec, write_csv

from signalpack.atomic import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "learning_curves.json"
TUNING = tuple(SeriesSpec(f"tune{i}", "ar1", 9000 + i, n_bars=20_000, drift=0.0002, phi=0.4) for i in range(5))
SHARED = ROOT.parent / "shared" / "data"
REAL = {"sp500": ROOT / "train" / "data" / "sp500_daily.csv.gz", "goog": SHARED / "goog_daily.csv",
        "eurusd": SHARED / "eurusd_hourly.csv"}  # validation segments only: their test segments stay unread


@dataclass(frozen=True)
class Variant:
    """One member's training recipe; the defaults are the original design."""

    lr: float = 1e-3
    batch_norm: bool = True
    batch_size: int = 128
    class_weights: bool = True
    weight_decay: float = 0.0
    units: int = 64
    clip: float | None = None
    dropout: float = 0.2
    recurrent_dropout: float = 0.0
    input_noise: float = 0.0
    label_smoothing: float = 0.0
    input_dropout: float = 0.0
    wide: bool = False  # a linear path from the last step's features to the output (wide and deep)


BASE = Variant()
VARIANTS: dict[str, Variant] = {
    "baseline": BASE,
    "lr_1e-4": replace(BASE, lr=1e-4),
    "no_batchnorm": replace(BASE, batch_norm=False),
    "batch_512": replace(BASE, batch_size=512),
    "no_class_weights": replace(BASE, class_weights=False),
    "adamw_1e-2": replace(BASE, weight_decay=1e-2),
    "units_16": replace(BASE, units=16),
    "clip_5": replace(BASE, clip=5.0),
    # round 2: the regularisers issue 16 lists, each alone at a strength where it bites
    "adamw_1e-1": replace(BASE, weight_decay=1e-1),
    "noise_0.3": replace(BASE, input_noise=0.3),
    "dropouts_0.3": replace(BASE, dropout=0.3, recurrent_dropout=0.3),
    "smoothing_0.1": replace(BASE, label_smoothing=0.1),
    "units_16_lr_5e-4": replace(BASE, units=16, lr=5e-4),
    # round 3: the helpful changes together
    "combo": replace(BASE, batch_norm=False, dropout=0.3, recurrent_dropout=0.3, batch_size=512),
    "combo_16": replace(BASE, batch_norm=False, dropout=0.3, recurrent_dropout=0.3, batch_size=512, units=16),
    # round 4, after the first fresh-seed evaluation of combo_b256 fell short (docs/model_power.md)
    "combo_b256": replace(BASE, batch_norm=False, dropout=0.3, recurrent_dropout=0.3, batch_size=256),
    "combo_b256_idrop": replace(BASE, batch_norm=False, dropout=0.3, recurrent_dropout=0.3, batch_size=256,
                                input_dropout=0.2),
    "combo_b256_idrop4": replace(BASE, batch_norm=False, dropout=0.3, recurrent_dropout=0.3, batch_size=256,
                                 input_dropout=0.4),
    "combo_b256_idrop6": replace(BASE, batch_norm=False, dropout=0.3, recurrent_dropout=0.3, batch_size=256,
                                 input_dropout=0.6),
    "combo_b256_wide": replace(BASE, batch_norm=False, dropout=0.3, recurrent_dropout=0.3, batch_size=256,
                               wide=True),
}


def build(n_features: int, seq_len: int, v: Variant) -> Any:
    import keras

    if v.wide:
        return build_wide(n_features, seq_len, v)

    layers: list[Any] = [keras.Input(shape=(seq_len, n_features))]
    if v.input_noise:
        layers.append(keras.layers.GaussianNoise(v.input_noise))
    layers.append(keras.layers.LSTM(v.units, dropout=v.input_dropout, recurrent_dropout=v.recurrent_dropout))
    if v.batch_norm:
        layers.append(keras.layers.BatchNormalization())
    layers += [keras.layers.Dropout(v.dropout), keras.layers.Dense(32, activation="relu"),
               keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    model = keras.Sequential(layers)
    opt = (keras.optimizers.AdamW(learning_rate=v.lr, weight_decay=v.weight_decay) if v.weight_decay
           else keras.optimizers.Adam(learning_rate=v.lr))
    model.compile(optimizer=opt, loss=keras.losses.CategoricalCrossentropy(label_smoothing=v.label_smoothing),
                  metrics=["accuracy"])
    return model


def build_wide(n_features: int, seq_len: int, v: Variant) -> Any:
    """The member with a linear path: softmax(Dense(3)(concat(deep, last step's features)))."""
    import keras

    x = keras.Input(shape=(seq_len, n_features))
    h = keras.layers.LSTM(v.units, dropout=v.input_dropout, recurrent_dropout=v.recurrent_dropout)(x)
    if v.batch_norm:
        h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Dropout(v.dropout)(h)
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Dense(32, activation="relu")(h))
    last = keras.layers.Flatten()(keras.layers.Cropping1D((seq_len - 1, 0))(x))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Concatenate()([h, last]))
    model = keras.Model(x, out)
    opt = (keras.optimizers.AdamW(learning_rate=v.lr, weight_decay=v.weight_decay) if v.weight_decay
           else keras.optimizers.Adam(learning_rate=v.lr))
    model.compile(optimizer=opt, loss=keras.losses.CategoricalCrossentropy(label_smoothing=v.label_smoothing),
                  metrics=["accuracy"])
    return model


def pooled_csv(work: Path, k: int) -> Path:
    """poolK: the tuning series tune0..tune{K-1} as K symbols of one file (pooled multi-symbol training)."""
    import polars as pl

    from synthetic import ohlcv_frame

    frames = [ohlcv_frame(s).with_columns(pl.lit(s.name).alias("symbol")) for s in TUNING[:k]]
    path = work / f"pool{k}.csv"
    pl.concat(frames, how="diagonal").write_csv(path)
    return path


def balanced_accuracy(y: np.ndarray, probs: np.ndarray) -> float:
    pred = probs.argmax(axis=1)
    recalls = [float((pred[y == k] == k).mean()) for k in range(3) if (y == k).any()]
    return float(np.mean(recalls))


def windows_of(csv: Path) -> dict[str, Any]:
    """Scaled train and validation windows, labels and class weights, and the LR references (validation)."""
    from signalpack.evaluation.linear_baselines import fit_predict_logistic
    from signalpack.score.features import default_feature_spec
    from signalpack.score.io import load_ohlcv
    from signalpack.train.config import TrainConfig
    from signalpack.train.dataset import build_dataset, class_weights, labelled_features

    cfg = TrainConfig()
    spec = default_feature_spec()
    data = load_ohlcv(csv, min_rows=spec.lookback + cfg.model.seq_len + cfg.labels.horizon)
    ds = build_dataset(labelled_features(data.frame, spec, cfg), spec, cfg)
    tr, va = ds.ends["train"], ds.ends["validation"]
    y_tr, y_va = ds.labels(tr), ds.labels(va)
    vol = [spec.names.index(c) for c in ("vol_5", "vol_20")]
    return {
        "x_tr": ds.windows(tr), "y_tr": y_tr, "x_va": ds.windows(va), "y_va": y_va,
        "class_weight": class_weights(y_tr), "seq_len": cfg.model.seq_len,
        "lr_all": balanced_accuracy(y_va, fit_predict_logistic(ds.x_raw[tr], y_tr, ds.x_raw[va])),
        "lr_vol": balanced_accuracy(y_va, fit_predict_logistic(ds.x_raw[tr][:, vol], y_tr, ds.x_raw[va][:, vol])),
        "windows": {"train": len(tr), "validation": len(va)},
        "label_shares_validation": [round(float((y_va == k).mean()), 4) for k in range(3)],
    }


def curve(data: dict[str, Any], v: Variant, epochs: int, seed: int) -> list[dict[str, float]]:
    import keras

    from signalpack.train.model import configure_determinism

    configure_determinism(seed)
    x_tr, x_va = data["x_tr"], data["x_va"]
    if v.clip is not None:
        x_tr, x_va = np.clip(x_tr, -v.clip, v.clip), np.clip(x_va, -v.clip, v.clip)
    model = build(x_tr.shape[2], data["seq_len"], v)
    y_tr1, y_va1 = keras.utils.to_categorical(data["y_tr"], 3), keras.utils.to_categorical(data["y_va"], 3)
    rows: list[dict[str, float]] = []

    def on_epoch_end(epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        p = np.asarray(model.predict(x_va, batch_size=4096, verbose=0))
        rows.append({"epoch": epoch + 1, "loss": float(logs["loss"]), "acc": float(logs["accuracy"]),
                     "val_loss": float(logs["val_loss"]), "val_acc": float(logs["val_accuracy"]),
                     "val_ba": balanced_accuracy(data["y_va"], p)})

    model.fit(x_tr, y_tr1, validation_data=(x_va, y_va1), epochs=epochs, batch_size=v.batch_size,
              class_weight=data["class_weight"] if v.class_weights else None, shuffle=True, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)])
    return rows


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    best = max(rows, key=lambda r: r["val_ba"])
    low = min(rows, key=lambda r: r["val_loss"])
    last = rows[-1]
    return {"best_val_ba": round(best["val_ba"], 4), "best_val_ba_epoch": int(best["epoch"]),
            "min_val_loss": round(low["val_loss"], 4), "min_val_loss_epoch": int(low["epoch"]),
            "val_ba_at_min_loss": round(low["val_ba"], 4),
            "final_gap_acc": round(last["acc"] - last["val_acc"], 4), "final_val_loss": round(last["val_loss"], 4)}


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown table: per variant and series, the validation balanced accuracy at the
    epoch of lowest validation loss (what early stopping keeps), the best over all epochs (a peek:
    optimistic), and the final train − validation accuracy gap (memorization)."""
    series = list(results["series"])
    names = [n for n in VARIANTS if any(n in results["series"][s]["summary"] for s in series)]
    head = "| variant | " + " | ".join(f"{s}: BA at min val loss (epoch); best BA (epoch); final gap"
                                       for s in series) + " |"
    rows = [head, "| --- |" + " --- |" * len(series)]
    refs = " | ".join(f"LR all features {results['series'][s]['lr_all_val_ba']:.3f}, volatility only "
                      f"{results['series'][s]['lr_vol_val_ba']:.3f}" for s in series)
    rows.append(f"| *references* | {refs} |")
    for n in names:
        cells = []
        for s in series:
            sm = results["series"][s]["summary"].get(n)
            cells.append("–" if sm is None else f"{sm['val_ba_at_min_loss']:.3f} ({sm['min_val_loss_epoch']}); "
                         f"{sm['best_val_ba']:.3f} ({sm['best_val_ba_epoch']}); {sm['final_gap_acc']:+.3f}")
        rows.append(f"| `{n}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def names(option: str, arg: str, known: Sequence[str]) -> list[str]:
    """The comma-separated names ``arg`` gives ``option``, each one known; else one line and exit 2."""
    given = [n.strip() for n in arg.split(",") if n.strip()]
    unknown = [n for n in given if n not in known]
    if unknown or not given:
        print(f"{option} {arg!r}: unknown name(s) {unknown}; known: {', '.join(known)}", file=sys.stderr)
        raise SystemExit(2)
    return list(dict.fromkeys(given))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="tune0",
                    help="comma-separated tuning series (tune0..tune4), poolK: tune0..tune{K-1} pooled as K symbols, "
                    "or a real file's validation segment: sp500, goog, eurusd")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--table", action="store_true", help="print --out's results as a markdown table and stop")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.out.read_text())))
        return 0
    specs = {s.name: s for s in TUNING}
    known = [*specs, *(f"pool{k}" for k in range(2, len(TUNING) + 1)), *REAL]
    chosen = [specs[n] if n in specs else SeriesSpec(n, "ar1", 0) for n in names("--series", args.series, known)]
    variants = {n: VARIANTS[n] for n in names("--variants", args.variants, list(VARIANTS))}
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.setdefault("series", {})
    results["epochs"], results["seed"] = args.epochs, args.seed
    results["variants"] = {n: asdict(v) for n, v in VARIANTS.items()}
    work = args.work or Path(tempfile.mkdtemp(prefix="learning-curves-"))
    emit: Callable[[str], None] = lambda s: print(s, flush=True)  # noqa: E731
    work.mkdir(parents=True, exist_ok=True)
    for s in chosen:
        csv = (write_csv(s, work) if s.name in specs else REAL[s.name] if s.name in REAL
               else pooled_csv(work, int(s.name[len("pool"):])))
        data = windows_of(csv)
        rec = results["series"].setdefault(s.name, {"curves": {}, "summary": {}})
        rec.update(lr_all_val_ba=round(data["lr_all"], 4), lr_vol_val_ba=round(data["lr_vol"], 4),
                   windows=data["windows"], label_shares_validation=data["label_shares_validation"])
        emit(f"{s.name}: LR all features {data['lr_all']:.4f}, volatility only {data['lr_vol']:.4f} "
             f"(validation balanced accuracy); windows {data['windows']}")
        for name, v in variants.items():
            t0 = time.monotonic()
            rows = curve(data, v, args.epochs, args.seed)
            rec["curves"][name] = rows
            rec["summary"][name] = {**summary(rows), "seconds": round(time.monotonic() - t0, 1)}
            sm = rec["summary"][name]
            emit(f"  {name:18s} best val BA {sm['best_val_ba']:.4f} @ {sm['best_val_ba_epoch']:2d}; "
                 f"min val loss {sm['min_val_loss']:.4f} @ {sm['min_val_loss_epoch']:2d} (BA there "
                 f"{sm['val_ba_at_min_loss']:.4f}); final acc gap {sm['final_gap_acc']:+.4f}, "
                 f"val loss {sm['final_val_loss']:.4f}; {sm['seconds']:.0f} s")
            atomic_write_bytes(args.out, (json.dumps(results, indent=1, sort_keys=True) + "\n").encode(),
                               overwrite=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

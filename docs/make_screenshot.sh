#!/usr/bin/env bash
# Regenerate docs/report_overview.png (docs/training.md's report screenshot) from a real run:
# the embedded S&P 500 data, the default config (threshold "auto", chosen on validation), 3 walk-forward folds.
# The training summary (printed even with -q) gives the verdict, the threshold and the walk-forward count;
# the per-fold figures quoted under the image are printed from metadata.json after it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1798761600} .venv/bin/signalpack train --walk-forward 3 --out "$work/run" -q
cp "$work/run/report/overview.png" docs/report_overview.png
echo "docs/report_overview.png updated"
.venv/bin/python - "$work/run/metadata.json" <<'EOF'
import json
import sys

meta = json.load(open(sys.argv[1]))
verdict, wf = meta["verdict"], meta["walk_forward"]
print(f"verdict: model_skill {verdict['model_skill']}, strategy_skill {verdict['strategy_skill']}")
print(f"threshold: {meta['threshold']['threshold']} ({meta['threshold']['mode']})")
print(f"walk-forward: {wf['skill_count']['text']}")
for fold in wf["folds"]:
    v = fold["verdict"]
    d = fold["metrics"]["uncertainty"]["differences"]["volatility_only"]["balanced_accuracy"]
    print(f"  fold {fold['fold']}: model_skill {v['model_skill']}, strategy_skill {v['strategy_skill']}, "
          f"threshold {fold['threshold']}, trades {fold['simulation']['strategy']['n_trades']}, "
          f"balanced accuracy - vol-only {100 * d['estimate']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]")
for key in ("ensemble.balanced_accuracy", "volatility_only.balanced_accuracy", "strategy.total_return",
            "buy_and_hold.total_return"):
    agg = wf["aggregate"][key]
    print(f"  {key}: mean {agg['mean']:.4f} ± {agg['std']:.4f} (values {', '.join(f'{x:.4f}' for x in agg['values'])})")
EOF

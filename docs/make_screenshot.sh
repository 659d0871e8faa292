#!/usr/bin/env bash
# Regenerate docs/report_overview.png (the README's report screenshot) from a real run:
# the embedded S&P 500 data, default config except a 0.36 confidence threshold, 3 walk-forward folds.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[simulation]\nconfidence_threshold = 0.36\n' > "$work/config.toml"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1798761600} .venv/bin/signalpack train --config "$work/config.toml" \
  --walk-forward 3 --out "$work/run" -q
cp "$work/run/report/overview.png" docs/report_overview.png
echo "docs/report_overview.png updated"

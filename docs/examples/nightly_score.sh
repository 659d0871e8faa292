#!/usr/bin/env bash
# Nightly scoring with signalpack's scorer: score one day's bars, incrementally and idempotently.
#
#   nightly_score.sh PRICES OUT_DIR [DAY]
#
# PRICES  a parquet/CSV file, a folder or a hive dataset of them (all history; only the warm-up
#         rows before DAY are read from parquet)
# OUT_DIR where signals-DAY.parquet, summary-DAY.json and score.log (JSON events) go
# DAY     YYYY-MM-DD, default yesterday (UTC)
#
# The bundle comes from $SCORE_MODEL (else the one shipped with the scorer). A rerun for the
# same DAY replaces that day's file with identical signals (--overwrite; outputs are atomic), so
# a failed or repeated night can simply be run again. Exit codes (docs/scoring.md#exit-codes):
#   0 scored; 3 scored, but the data drifted from training (output and summary written: look at
#   the summary's "drift"); 2 bad input or usage (nothing written); 130/143 interrupted.
set -euo pipefail

prices=${1:?usage: nightly_score.sh PRICES OUT_DIR [DAY]}
out_dir=${2:?usage: nightly_score.sh PRICES OUT_DIR [DAY]}
day=${3:-$(date -u -d yesterday +%F)}
score=${SCORE_BIN:-score}

mkdir -p "$out_dir"
set +e
"$score" run "$prices" --since "$day" \
  --output "$out_dir/signals-$day.parquet" --summary "$out_dir/summary-$day.json" --overwrite \
  --fail-on-drift --log-format json 2>> "$out_dir/score.log"
code=$?
set -e

case $code in
  0) echo "signals for $day: $out_dir/signals-$day.parquet" ;;
  3) echo "signals for $day written, but the input drifted from training: see $out_dir/summary-$day.json" >&2 ;;
  *) echo "scoring $day failed (exit $code): see the last line of $out_dir/score.log" >&2 ;;
esac
exit $code

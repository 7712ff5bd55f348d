#!/usr/bin/env bash
# Copies finished runs into the committed records: scripts/record-run.sh PROFILE HASH...
# `baselines` in place of a hash copies every finished ID-baseline result
# ($TSREC_RESULTS/runs/<dataset>/baselines/*.json and their predictions) to
# Reproductions/results/PROFILE/runs/<dataset>/baselines/, where reports read them the same way.
#
# Each run folder $TSREC_RESULTS/runs/<dataset>/<HASH>/ (default results/) is copied, stage
# folders (rl-*, pref-*) included, to Reproductions/results/PROFILE/runs/<HASH>/ without weights
# or unfinished files: configurations, summaries, training logs, test predictions and their
# timings. `REPORT_ONLY=1 make table2` on a fresh clone reads them (Paths.records), so the
# committed tables and paired comparisons can be rebuilt without the weights.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 PROFILE HASH..." >&2; exit 2; }
profile=$1; shift
results=${TSREC_RESULTS:-results}
for hash in "$@"; do
  if [ "$hash" = baselines ]; then
    found=0
    for dir in "$results"/runs/*/baselines; do
      [ -d "$dir" ] || continue
      dataset=$(basename "$(dirname "$dir")")
      dst=Reproductions/results/$profile/runs/$dataset/baselines
      mkdir -p "$dst"
      for f in "$dir"/*.json "$dir"/*.predictions.jsonl; do [ -f "$f" ] && cp "$f" "$dst/" && found=$((found + 1)); done
      echo "record-run: $dir -> $dst"
    done
    [ $found -gt 0 ] || { echo "record-run: no baseline results under $results/runs/*/baselines (run make baselines or make table2 first)" >&2; exit 1; }
    continue
  fi
  matches=("$results"/runs/*/"$hash")
  [ -d "${matches[0]}" ] || { echo "record-run: no run folder $results/runs/*/$hash (set TSREC_RESULTS to where the run wrote)" >&2; exit 1; }
  [ ${#matches[@]} -eq 1 ] || { echo "record-run: $hash is in more than one dataset folder: ${matches[*]}" >&2; exit 1; }
  src=${matches[0]}
  [ -s "$src/summary.json" ] || { echo "record-run: $src has no summary.json: the run has not finished training" >&2; exit 1; }
  find "$src" -name 'predictions-*.jsonl' | grep -q . \
    || echo "record-run: warning: $src has no test predictions yet (the record has no metrics until it does)" >&2
  dst=Reproductions/results/$profile/runs/$hash
  mkdir -p "$dst"
  (cd "$src" && find . -type f \( -name '*.json' -o -name '*.csv' -o -name 'predictions-*.jsonl' -o -name 'predictions-*.jsonl.seconds' \)) |
    while read -r f; do mkdir -p "$dst/$(dirname "$f")" && cp "$src/$f" "$dst/$f"; done
  echo "record-run: $src -> $dst ($(du -sh "$dst" | cut -f1))"
done

#!/usr/bin/env bash
# Times `import azure` of a 100,000-resource export folder against `scan` of the
# equivalent native snapshot: runs alternate (import, then scan) so both see the same
# machine, and the medians and their ratio are printed.
#   RUNS=5 RESOURCES=100000 scripts/import-vs-scan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
RESOURCES=${RESOURCES:-100000}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
cargo build --release --quiet --bin toxgraph
bin=${CARGO_TARGET_DIR:-target}/release/toxgraph
"$bin" generate --resources "$RESOURCES" --seed 1 -o "$work/g" >/dev/null
python3 scripts/native-to-azure.py "$work/g/q1.jsonl" "$work/exports" >/dev/null
secs() { local a b; a=$(date +%s.%N); "$@" >/dev/null 2>&1; b=$(date +%s.%N); awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b - a }'; }
median() { printf "%s\n" "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
imp=(); sc=()
for _ in $(seq "$RUNS"); do
  imp+=("$(secs "$bin" import azure --from "$work/exports" -o "$work/imported.jsonl")")
  sc+=("$(secs "$bin" scan "$work/g/q1.jsonl" --format json -o "$work/scan.json")")
done
mi=$(median "${imp[@]}"); ms=$(median "${sc[@]}")
echo "import azure: ${imp[*]} (median $mi s)"
echo "scan:         ${sc[*]} (median $ms s)"
awk -v a="$mi" -v b="$ms" 'BEGIN { printf "ratio of medians: %.2fx\n", a / b }'

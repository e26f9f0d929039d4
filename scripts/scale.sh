#!/usr/bin/env bash
# Measures scan at 10,000, 100,000 and 1,000,000 generated resources: wall time and peak
# RSS (/usr/bin/time -v), the JSON-parse floor, the ratio to it, one thread against all,
# and per-phase times; writes the table to docs/performance.md.
#   SIZES="10000 100000" scripts/scale.sh     # a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000 1000000"}
work=${WORK:-$(mktemp -d)}
cargo build --release --quiet --bin toxgraph --example floor
bin=target/release/toxgraph
floor=target/release/examples/floor
measure() { # file threads -> "wall peak_kb phases"
  local out
  out=$( { /usr/bin/time -v "$bin" scan "$1" --format json -o "$work/out.json" --threads "$2" --stats; } 2>&1 )
  local wall peak
  wall=$(echo "$out" | awk -F': ' '/Elapsed \(wall clock\)/ {print $2}')
  peak=$(echo "$out" | awk -F': ' '/Maximum resident set size/ {print $2}')
  local phases
  phases=$(echo "$out" | grep -E '^(read|parse|build|evaluate|write):' | tr '\n' ' ')
  echo "$wall|$peak|$phases"
}
secs() { echo "$1" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
rows=""
for n in $SIZES; do
  "$bin" generate --resources "$n" --seed 1 -o "$work/g$n" >/dev/null
  f="$work/g$n/q1.jsonl"
  size=$(stat -c %s "$f")
  fl=$("$floor" "$f" 2>/dev/null)
  IFS='|' read -r wall_all peak_all phases_all <<<"$(measure "$f" "$(nproc)")"
  IFS='|' read -r wall_one peak_one _ <<<"$(measure "$f" 1)"
  s_all=$(secs "$wall_all"); s_one=$(secs "$wall_one")
  rows+="| $n | $((size / 1000000)) MB | ${fl} s | ${s_all} s | $(awk "BEGIN{printf \"%.1f\", $s_all/$fl}")× | ${s_one} s | $(awk "BEGIN{printf \"%.1f\", $s_one/$fl}")× | $((peak_all / 1024)) MB | $(awk "BEGIN{printf \"%.2f\", $peak_all*1024/$size}")× | ${phases_all} |"$'\n'
done
machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
{
  echo "| resources | snapshot | floor (1 thread) | scan, all cores | ratio | scan, 1 thread | ratio | peak RSS | RSS ÷ file | phases (all cores) |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf "%s" "$rows"
  echo
  echo "Machine: $machine. Command: \`scripts/scale.sh\` ($(date -u +%Y-%m-%d))."
} > "$work/table.md"
cat "$work/table.md"
echo "(paste into docs/performance.md)"

#!/usr/bin/env bash
# Measures scan at 10,000, 100,000 and 1,000,000 generated resources: wall time and peak
# RSS (/usr/bin/time -v), the JSON-parse floor (best of three), the ratio to it, one
# thread against all, per-phase times, whether the JSON is byte-identical with one thread
# and with all, and how time grows from 100,000 to 1,000,000.
# Then a targeted query at each size: TC001's pattern into one sensitive store that the
# scan found, against the full scan, evaluation alone (the --stats `evaluate` phase) and
# wall time less the load (parse and build; reading overlaps parsing and ends inside it),
# so the graph build is left out of both.
# Prints both tables for docs/performance.md.
#   SIZES="10000 100000" scripts/scale.sh     # a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000 1000000"}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
cargo build --release --quiet --bin toxgraph --example floor
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/toxgraph
floor=$target/release/examples/floor
# TC001's pattern, as `toxgraph query` takes it.
pattern=$(awk "/^pattern = '''/ { on = 1; next } /^'''/ { on = 0 } on" rules/TC001.toml)

# command... -> "wall|peak_kb|stderr file"; the command's stderr (its --stats) is kept.
timed() {
  local err
  err=$(mktemp -p "$work")
  /usr/bin/time -v "$@" 2>"$err"
  local wall peak
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$err")
  peak=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$err")
  echo "$wall|$peak|$err"
}
secs() { echo "$1" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
stat_of() { awk -F': ' -v k="$2" '$1 == k { sub(/s$/, "", $2); print $2 }' "$1"; } # file phase -> seconds
phases() { (grep -E '^(read|parse|build|evaluate|write):' "$1" || true) | tr '\n' ' ' | sed 's/ $//'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "—"; else printf "%.1f×", a / b }'; }
rows=""
qrows=""
declare -A all_of one_of
for n in $SIZES; do
  "$bin" generate --resources "$n" --seed 1 -o "$work/g$n" >/dev/null
  f="$work/g$n/q1.jsonl"
  size=$(stat -c %s "$f")
  # The best of three: the first read of a file just written can take twice as long.
  fl=$(for _ in 1 2 3; do "$floor" "$f" 2>/dev/null; done | sort -n | head -1)
  IFS='|' read -r wall_all peak_all err_all <<<"$(timed "$bin" scan "$f" --format json -o "$work/all.json" --threads "$(nproc)" --stats)"
  IFS='|' read -r wall_one _ _ <<<"$(timed "$bin" scan "$f" --format json -o "$work/one.json" --threads 1 --stats)"
  if cmp -s "$work/all.json" "$work/one.json"; then same="identical"; else same="DIFFER"; fi
  s_all=$(secs "$wall_all"); s_one=$(secs "$wall_one")
  all_of[$n]=$s_all; one_of[$n]=$s_one
  rows+="| $n | $((size / 1000000)) MB | ${fl} s | ${s_all} s | $(ratio "$s_all" "$fl") | ${s_one} s | $(ratio "$s_one" "$fl") | $((peak_all / 1024)) MB | $(awk "BEGIN{printf \"%.2f\", $peak_all*1024/$size}")× | $(phases "$err_all") | $same |"$'\n'

  # The target: the first TC001 combination's target (the listing is sorted, so this is stable).
  tgt=$(jq -r '[.combinations[] | select(.rule == "TC001")][0].target // empty' "$work/all.json")
  if [ -z "$tgt" ]; then
    qrows+="| $n | (no TC001 combination) | | | | | | | |"$'\n'
    continue
  fi
  IFS='|' read -r wall_q _ err_q <<<"$(timed "$bin" query "$pattern" "$f" --target "$tgt" --format json -o "$work/query.json" --threads "$(nproc)" --stats)"
  paths=$(jq '.counts.combinations' "$work/query.json")
  load_q=$(awk -v r="$(stat_of "$err_q" read)" -v p="$(stat_of "$err_q" parse)" -v b="$(stat_of "$err_q" build)" 'BEGIN { print (r > p ? r : p) + b }')
  load_s=$(awk -v r="$(stat_of "$err_all" read)" -v p="$(stat_of "$err_all" parse)" -v b="$(stat_of "$err_all" build)" 'BEGIN { print (r > p ? r : p) + b }')
  eval_q=$(stat_of "$err_q" evaluate); eval_s=$(stat_of "$err_all" evaluate)
  rest_q=$(awk -v w="$(secs "$wall_q")" -v l="$load_q" 'BEGIN { printf "%.3f", w - l }')
  rest_s=$(awk -v w="$s_all" -v l="$load_s" 'BEGIN { printf "%.3f", w - l }')
  qrows+="| $n | ${tgt##*/} | $paths | ${eval_q} s | ${eval_s} s | $(ratio "$eval_s" "$eval_q") | ${rest_q} s | ${rest_s} s | $(ratio "$rest_s" "$rest_q") |"$'\n'
done
machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
{
  echo "| resources | snapshot | floor (1 thread) | scan, all cores | ratio | scan, 1 thread | ratio | peak RSS | RSS ÷ file | phases (all cores) | JSON, 1 thread vs all |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
  printf "%s" "$rows"
  if [ -n "${all_of[100000]:-}" ] && [ -n "${all_of[1000000]:-}" ]; then
    echo
    echo "Scaling 100,000 → 1,000,000 resources: all cores $(ratio "${all_of[1000000]}" "${all_of[100000]}"), one thread $(ratio "${one_of[1000000]}" "${one_of[100000]}") (linear: 10×)."
  fi
  echo
  echo "Targeted query (TC001's pattern, \`query --target\` one sensitive store the scan found) against the full scan, all cores:"
  echo
  echo "| resources | target | entries reaching it | query: evaluate | scan: evaluate | speed-up | query: wall − load | scan: wall − load | speed-up |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  printf "%s" "$qrows"
  echo
  echo "Machine: $machine. Command: \`scripts/scale.sh\` ($(date -u +%Y-%m-%d))."
} > "$work/table.md"
cat "$work/table.md"
echo "(paste into docs/performance.md)"

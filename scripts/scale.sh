#!/usr/bin/env bash
# Measures scan at 10,000, 100,000 and 1,000,000 generated resources: wall time and peak
# RSS (/usr/bin/time -v), the JSON-parse floor, the ratio to it, one thread against all,
# per-phase times, whether the JSON is byte-identical with one thread and with all, and
# how time grows from 100,000 to 1,000,000.
# Each command runs RUNS times (3 unless set), the floor and the scans in turn, and the
# median of each is reported: this machine has spells that move a single run by a tenth,
# and the floor and a scan are then measured alike. Wall times are to the millisecond;
# peak RSS is the largest of the runs; the phases are the median scan's. Each output is
# removed before its run, so no run pays for the file system freeing the last one's.
# Then a targeted query at each size: TC001's pattern into one sensitive store that the
# scan found, against the full scan, evaluation alone (the --stats `evaluate` phase) and
# wall time less the load (parse and build; reading overlaps parsing and ends inside it),
# so the graph build is left out of both (medians again).
# Prints both tables for docs/performance.md.
#   SIZES="10000 100000" RUNS=1 scripts/scale.sh     # a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000 1000000"}
RUNS=${RUNS:-3}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
cargo build --release --quiet --bin toxgraph --example floor
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/toxgraph
floor=$target/release/examples/floor
# TC001's pattern, as `toxgraph query` takes it.
pattern=$(awk "/^pattern = '''/ { on = 1; next } /^'''/ { on = 0 } on" rules/TC001.toml)

# command... -> "wall_seconds|peak_kb|stderr file"; the command's stderr (its --stats) is
# kept. The wall time is taken around /usr/bin/time, to the millisecond (it gives
# hundredths), so it includes starting that one small program.
timed() {
  local err t0 t1 peak
  err=$(mktemp -p "$work")
  t0=$EPOCHREALTIME
  /usr/bin/time -v "$@" 2>"$err"
  t1=$EPOCHREALTIME
  peak=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$err")
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')|$peak|$err"
}
# The median of the lines on standard input (the lower middle of an even count), by the
# first field; the whole line is given.
median() { sort -n -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'; }
stat_of() { awk -F': ' -v k="$2" '$1 == k { sub(/s$/, "", $2); print $2 }' "$1"; } # file phase -> seconds
# file -> seconds of loading (parse and build; reading overlaps parsing and ends inside it)
load() { awk -v r="$(stat_of "$1" read)" -v p="$(stat_of "$1" parse)" -v b="$(stat_of "$1" build)" 'BEGIN { print (r > p ? r : p) + b }'; }
phases() { (grep -E '^(read|parse|build|evaluate|write):' "$1" || true) | tr '\n' ' ' | sed 's/ $//'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "—"; else printf "%.2f×", a / b }'; }
rows=""
qrows=""
declare -A all_of one_of
for n in $SIZES; do
  "$bin" generate --resources "$n" --seed 1 -o "$work/g$n" >/dev/null
  f="$work/g$n/q1.jsonl"
  size=$(stat -c %s "$f")
  # The first read of a file just written can take twice as long: read it once first.
  "$floor" "$f" >/dev/null 2>&1
  floors="" alls="" ones="" peak_all=0 same="identical"
  for r in $(seq "$RUNS"); do
    floors+="$("$floor" "$f" 2>/dev/null)"$'\n'
    rm -f "$work/all.json" "$work/one.json"
    IFS='|' read -r wall peak err <<<"$(timed "$bin" scan "$f" --format json -o "$work/all.json" --threads "$(nproc)" --stats)"
    alls+="$wall $err"$'\n'
    peak_all=$((peak > peak_all ? peak : peak_all))
    IFS='|' read -r wall _ _ <<<"$(timed "$bin" scan "$f" --format json -o "$work/one.json" --threads 1 --stats)"
    ones+="$wall"$'\n'
    cmp -s "$work/all.json" "$work/one.json" || same="DIFFER"
    if [ "$r" = 1 ]; then cp "$work/all.json" "$work/first.json"; fi
    cmp -s "$work/all.json" "$work/first.json" || same="DIFFER"
  done
  fl=$(printf "%s" "$floors" | median)
  read -r s_all err_all <<<"$(printf "%s" "$alls" | median)"
  s_one=$(printf "%s" "$ones" | median)
  all_of[$n]=$s_all; one_of[$n]=$s_one
  rows+="| $n | $((size / 1000000)) MB | ${fl} s | ${s_all} s | $(ratio "$s_all" "$fl") | ${s_one} s | $(ratio "$s_one" "$fl") | $((peak_all / 1024)) MB | $(awk "BEGIN{printf \"%.2f\", $peak_all*1024/$size}")× | $(phases "$err_all") | $same |"$'\n'

  # The target: the first TC001 combination's target (the listing is sorted, so this is stable).
  tgt=$(jq -r '[.combinations[] | select(.rule == "TC001")][0].target // empty' "$work/all.json")
  if [ -z "$tgt" ]; then
    qrows+="| $n | (no TC001 combination) | | | | | | | |"$'\n'
    continue
  fi
  qs=""
  for _ in $(seq "$RUNS"); do
    rm -f "$work/query.json"
    IFS='|' read -r wall_q _ err_q <<<"$(timed "$bin" query "$pattern" "$f" --target "$tgt" --format json -o "$work/query.json" --threads "$(nproc)" --stats)"
    qs+="$(awk -v w="$wall_q" -v l="$(load "$err_q")" 'BEGIN { printf "%.3f", w - l }') $(stat_of "$err_q" evaluate)"$'\n'
  done
  paths=$(jq '.counts.combinations' "$work/query.json")
  eval_q=$(printf "%s" "$qs" | awk '{ print $2 }' | median); eval_s=$(stat_of "$err_all" evaluate)
  rest_q=$(printf "%s" "$qs" | awk '{ print $1 }' | median)
  rest_s=$(awk -v w="$s_all" -v l="$(load "$err_all")" 'BEGIN { printf "%.3f", w - l }')
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
  echo "Machine: $machine. Command: \`scripts/scale.sh\`, medians of $RUNS runs ($(date -u +%Y-%m-%d))."
} > "$work/table.md"
cat "$work/table.md"
echo "(paste into docs/performance.md)"

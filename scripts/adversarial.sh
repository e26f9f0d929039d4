#!/usr/bin/env bash
# Scans each adversarial shape (`toxgraph generate --shape S`, default sizes) with the
# shipped rule pack and a capped listing, under /usr/bin/time -v, and prints a table: wall
# time, peak RSS, RSS ÷ snapshot size, combinations found, and whether the cap's notice
# appeared. A scan that runs past TIME_LIMIT seconds is killed; one that needs more than
# MEM_LIMIT_GB of address space fails its allocation: both are reported, not hidden.
#   SHAPES="deep-groups pairs" scripts/adversarial.sh    # some shapes only
#   SIZE_pairs=1600 SIZE_mg_wide=100000 scripts/adversarial.sh   # other sizes
#   TIME_LIMIT=300 MEM_LIMIT_GB=12 MAX_COMBINATIONS=1000 WORK=/tmp/adv scripts/adversarial.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHAPES=${SHAPES:-"clique deep-groups group-cycle mg-wide pairs"}
TIME_LIMIT=${TIME_LIMIT:-300}
MEM_LIMIT_GB=${MEM_LIMIT_GB:-12}
MAX=${MAX_COMBINATIONS:-1000}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
cargo build --release --quiet --bin toxgraph
bin=${CARGO_TARGET_DIR:-target}/release/toxgraph

secs() { echo "$1" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB", u); i = 1; while (b >= 1000 && i < 4) { b /= 1000; i++ } printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'; }

rows=""
for shape in $SHAPES; do
  var="SIZE_${shape//-/_}"
  size_arg=()
  [ -n "${!var:-}" ] && size_arg=(--size "${!var}")
  t0=$(date +%s.%N)
  "$bin" generate --shape "$shape" "${size_arg[@]}" -o "$work" >/dev/null
  gen=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  f="$work/adversarial-$shape.jsonl"
  out="$work/adversarial-$shape.scan.json"
  err="$work/adversarial-$shape.stderr"
  rm -f "$out"
  size=$(stat -c %s "$f")
  records=$(wc -l <"$f")
  given=$(head -1 "$f" | jq -r '.source' | sed 's/.*--size \([0-9]*\).*/\1/')
  echo "== $shape: size $given, $(human "$size"), $records records (generated in ${gen} s)" >&2
  rc=0
  ( ulimit -v $((MEM_LIMIT_GB * 1024 * 1024))
    /usr/bin/time -v timeout -k 10 "$TIME_LIMIT" "$bin" scan "$f" --format json -o "$out" \
      --max-combinations "$MAX" --stats ) 2>"$err" || rc=$?
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$err")
  peak=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$err")
  phases=$( (grep -E '^(read|parse|build|evaluate|write):' "$err" || true) | tr '\n' ' ' | sed 's/ $//')
  evaluated=$( (grep -E '^  TC[0-9]+: ' "$err" || true) | awk '{ n += $(NF-1) } END { print n + 0 }')
  if [ "$rc" -eq 0 ] && [ -s "$out" ]; then
    outcome="ok"
    found=$(jq '.counts.combinations' "$out")
    listed=$(jq '.combinations | length' "$out")
    in_json=$(jq 'has("notice")' "$out")
    on_stderr=$(grep -c '^note: listing cut' "$err" || true)
    if [ "$found" -le "$MAX" ]; then
      notice="not needed ($listed listed)"
    elif [ "$in_json" = true ] && [ "$on_stderr" -gt 0 ]; then
      notice="yes, JSON and stderr ($listed listed)"
    else
      notice="MISSING (json: $in_json, stderr: $on_stderr; $listed listed)"
    fi
  else
    found="— (evaluation counted $evaluated)"
    notice="—"
    if grep -q 'memory allocation of .* failed' "$err"; then
      outcome="out of memory at the ${MEM_LIMIT_GB} GiB limit"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      outcome="killed after ${TIME_LIMIT} s"
    elif grep -q 'terminated by signal' "$err"; then
      outcome="crashed ($(grep -o 'terminated by signal [0-9]*' "$err"))"
    else
      outcome="exit $rc: $(grep -m1 -E '^error' "$err" || true)"
    fi
  fi
  ratio=$(awk -v p="$peak" -v s="$size" 'BEGIN { printf "%.2f", p * 1024 / s }')
  rows+="| $shape | $given | $(human "$size") | $(secs "$wall") s | $((peak / 1024)) MB | ${ratio}× | $found | $notice | $outcome | ${phases} |"$'\n'
done
machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m)"
{
  echo "| shape | size | snapshot | wall | peak RSS | RSS ÷ file | combinations | cap notice | outcome | phases |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---|---|"
  printf "%s" "$rows"
  echo
  echo "Machine: $machine. Command: \`scripts/adversarial.sh\` (--max-combinations $MAX, limits ${TIME_LIMIT} s and ${MEM_LIMIT_GB} GiB; $(date -u +%Y-%m-%d))."
} >"$work/adversarial.md"
cat "$work/adversarial.md"
echo "(files in $work)" >&2

#!/usr/bin/env bash
# Renders the HTML quarterly report of a generated estate in headless Chromium and saves a
# screenshot to docs/report.png (the README shows it). Needs Debian's chromium package:
#   apt-get install -y chromium
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
bin=target/release/toxgraph
"$bin" generate --resources "${RESOURCES:-10000}" --seed 1 -o "$work" >/dev/null
"$bin" report "$work/q1.jsonl" "$work/q2.jsonl" --tier enterprise -o "$work/report.html" >/dev/null
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=1200,1600 \
  --screenshot="$PWD/docs/report.png" "file://$work/report.html" 2>/dev/null
echo "wrote docs/report.png"

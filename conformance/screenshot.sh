#!/usr/bin/env bash
# Renders a conformance HTML report in headless Chromium and saves a PNG screenshot.
#
#   conformance/screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]
#
# Needs Debian's chromium (apt-get install -y chromium). The page is loaded from a file URL
# with networking disabled, which also proves the report is self-contained.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
report=$(realpath "$1")
out=$(realpath -m "$2")
size=${3:-1400x2400}
chrome=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$chrome" ]]; then
  echo "error: chromium not found (apt-get install -y chromium)" >&2
  exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$chrome" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --proxy-server='http://127.0.0.1:9' --proxy-bypass-list='<-loopback>' \
  --hide-scrollbars --window-size="${size/x/,}" --screenshot="$out" "file://$report" \
  > "$profile/chromium.log" 2>&1 || { cat "$profile/chromium.log" >&2; exit 1; }
[[ -s "$out" ]] || { echo "error: no screenshot written" >&2; exit 1; }
echo "$out"

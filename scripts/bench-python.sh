#!/usr/bin/env bash
# Python in the page, measured (see bench/python.mjs): time to Python ready (cold and warm), the
# round trip from Python against the same from JavaScript, and the memory of a page running two
# programs. Not a test: it prints numbers. Needs what scripts/test.sh sets up (Chromium, the npm
# packages of tests/browser, Pyodide).
#
#   ./scripts/bench-python.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release -p bridge-daemon
./scripts/build-web.sh >&2
log=$(mktemp)
./target/release/bridge-daemon --listen 127.0.0.1:0 --web-root web-demo >"$log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do [ "$(wc -l <"$log")" -ge 2 ] && break; sleep 0.1; done
pages=$(sed -n 2p "$log" | sed 's/^teaching pages: //')
node bench/python.mjs "$pages" "$daemon" "${1:-5}"

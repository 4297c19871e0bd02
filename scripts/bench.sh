#!/usr/bin/env bash
# The benchmark: sockbridge side by side with raw loopback TCP, websocat and websockify, on the same
# work, in one run (see BENCHMARKS.md). Installs the peers it compares with from the registries the
# first time: websocat from crates.io (into ~/.cargo/bin), websockify from PyPI (into a venv in
# target/bench-venv). Not a test: it prints numbers. Options go to sockbridge-bench (--help):
#
#   ./scripts/bench.sh                   # the full run, as in BENCHMARKS.md (a few minutes)
#   ./scripts/bench.sh --mib 64 --rounds 1 --no-browser
set -euo pipefail
cd "$(dirname "$0")/.."
WEBSOCAT_VERSION=1.14.0
WEBSOCKIFY_VERSION=0.13.0

if [ "$(websocat --version 2>/dev/null | awk '{print $2}')" != "$WEBSOCAT_VERSION" ]; then
  # Its lock file names crates the registry no longer has, so not --locked.
  cargo install websocat --version "$WEBSOCAT_VERSION"
fi
venv=target/bench-venv
if [ ! -x "$venv/bin/websockify" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "websockify==$WEBSOCKIFY_VERSION"
fi
cargo build --locked --release -p bridge-daemon -p sockbridge-bench
# The wasm client for the headless-Chromium rows (skipped with a note if it cannot be built).
./scripts/build-web.sh >&2 || echo "bench: the browser package did not build; the Chromium rows are skipped" >&2
exec ./target/release/sockbridge-bench --websocat "$(command -v websocat)" --websockify "$venv/bin/websockify" "$@"

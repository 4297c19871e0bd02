#!/usr/bin/env bash
# Brings the demo up: builds the browser package if needed, then runs the daemon, which serves the
# teaching pages and prints their address with this run's token: open that address (build output
# goes to stderr, so stdout starts with the daemon's WebSocket URL, as it does for the daemon alone). Options are passed to bridge-daemon (see --help), e.g.
#   ./scripts/demo.sh --listen 127.0.0.1:8000
# On a fresh machine this installs the wasm32 target and the pinned wasm-bindgen CLI first.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if command -v rustup >/dev/null; then
  rustup target add wasm32-unknown-unknown >/dev/null
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  echo "demo: installing the wasm-bindgen CLI $WASM_BINDGEN_VERSION (once; a few minutes)" >&2
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
# Rebuild the package when any of its sources is newer than it.
if [ ! -f web-demo/pkg/sockbridge.js ] \
  || [ -n "$(find wasm-client/src bridge-protocol/src Cargo.lock -newer web-demo/pkg/sockbridge.js -print -quit)" ]; then
  ./scripts/build-web.sh >&2
fi
cargo build --release --locked -p bridge-daemon
# Unix sockets on (in a private directory made for this run; lesson 3 creates one), unless the
# options say where; and a private network for every page (hosts of its own, so lesson 1 runs on
# two computers and the diagram shows real packets), unless the options choose. Where this system
# cannot make network namespaces (not root, no user namespaces), the daemon says so and the pages
# share this computer's loopback.
unix=(--unix)
network=(--network private)
# The pages from web-demo/ as they are now, so an edited lesson shows on reload (the binary also
# has them built in, for when it runs without the checkout).
web=(--web-root web-demo)
for arg in "$@"; do
  case "$arg" in
    --unix | --unix-dir | --unix-dir=*) unix=() ;;
    --network | --network=*) network=() ;;
    --web-root | --web-root=*) web=() ;;
    --config | --config=*) unix=() network=() web=() ;;
  esac
done
exec ./target/release/bridge-daemon "${unix[@]}" "${network[@]}" "${web[@]}" "$@"

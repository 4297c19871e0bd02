#!/usr/bin/env bash
# Sets up what the tests need and runs every test and check, as CI does:
#   formatting, clippy (warnings are errors), rustdoc (warnings are errors), the wasm32 build,
#   unit tests, integration tests against a real daemon, and the CPython conformance suite.
# Needs: a rustup toolchain (stable), python3 (CPython, stdlib only). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "set-up"
if ! command -v python3 >/dev/null; then
  echo "python3 is needed: the conformance suite compares the bridge with CPython's socket module" >&2
  exit 1
fi
python3 --version
if command -v rustup >/dev/null; then
  rustup component add rustfmt clippy >/dev/null
  rustup target add wasm32-unknown-unknown >/dev/null
fi
cargo --version

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lint (clippy, warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "docs (rustdoc, warnings are errors)"
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --workspace --no-deps

step "wasm32 build (bridge-protocol, wasm-client)"
RUSTFLAGS=-Dwarnings cargo build --locked --target wasm32-unknown-unknown -p bridge-protocol -p wasm-client

step "tests (unit, integration against a real daemon, CPython conformance)"
# The integration tests also run the built binary, which cargo test does not build for another package.
cargo build --locked -p bridge-daemon
cargo test --locked --workspace

step "all checks passed"

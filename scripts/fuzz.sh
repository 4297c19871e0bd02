#!/usr/bin/env bash
# Fuzzes the JSON-RPC request decoder (bridge_protocol::json::decode_request, which every WebSocket
# message the daemon reads goes through) with cargo-fuzz and libFuzzer, for a bounded time.
# Not part of CI. New inputs that reach new code are added to fuzz/corpus/decode_request/; commit
# the ones worth keeping (`cargo fuzz cmin` first keeps the corpus small).
#
#   ./scripts/fuzz.sh            # 5 minutes
#   ./scripts/fuzz.sh 3600       # an hour
#
# cargo-fuzz needs nightly Rust for its sanitizer flags; on a stable toolchain RUSTC_BOOTSTRAP=1
# lets it use them.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-300}
CARGO_FUZZ_VERSION=0.13.2

if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz run decode_request fuzz/corpus/decode_request -- \
  -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -rss_limit_mb=2048 -timeout=10
echo "fuzz: $(ls fuzz/corpus/decode_request | wc -l) inputs in fuzz/corpus/decode_request"

#!/usr/bin/env bash
# Fuzzes the request decoders every WebSocket message the daemon reads goes through
# (bridge_protocol::json::decode_request for text frames, msgpack::decode_request and the client's
# msgpack::decode_response for binary) with cargo-fuzz and libFuzzer, for a bounded time each.
# Not part of CI. New inputs that reach new code are added to fuzz/corpus/<target>/; commit the
# ones worth keeping (`cargo fuzz cmin` first keeps the corpus small).
#
#   ./scripts/fuzz.sh            # 5 minutes per target
#   ./scripts/fuzz.sh 3600       # an hour per target
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
for target in decode_request decode_msgpack; do
  mkdir -p "fuzz/corpus/$target"
  cargo fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -rss_limit_mb=2048 -timeout=10
  echo "fuzz: $(ls "fuzz/corpus/$target" | wc -l) inputs in fuzz/corpus/$target"
done

#!/usr/bin/env bash
# Fuzzes the decoders every WebSocket message goes through, with cargo-fuzz and libFuzzer, for a
# bounded time each, with inputs up to the daemon's message limit (1 MiB):
#   decode_request    the daemon's JSON requests (json::decode_request)
#   decode_msgpack    the daemon's MessagePack requests (msgpack::decode_request)
#   decode_response   the client's answers, both codecs, and every result type; its JSON reader
#                     against serde_json's
#   decode_packet     IP packets (bridge_daemon::packet, which private networks' capture decodes)
# Not part of CI; the committed corpus (fuzz/corpus/<target>/, seeded with deep nesting and huge
# declared lengths) is replayed by the security suite (j08, j10). New inputs that reach new code
# are added to the corpus; commit the ones worth keeping (`cargo fuzz cmin` keeps it small).
#
#   ./scripts/fuzz.sh                    # 5 minutes per target
#   ./scripts/fuzz.sh 3600               # an hour per target
#   ./scripts/fuzz.sh 60 decode_response # one target
#
# cargo-fuzz needs nightly Rust for its sanitizer flags; on a stable toolchain RUSTC_BOOTSTRAP=1
# lets it use them.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-300}
shift || true
TARGETS=${*:-decode_request decode_msgpack decode_response decode_packet}
CARGO_FUZZ_VERSION=0.13.2

if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
export RUSTC_BOOTSTRAP=1
for target in $TARGETS; do
  mkdir -p "fuzz/corpus/$target"
  cargo fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=1048576 -rss_limit_mb=2048 -timeout=10
  echo "fuzz: $(ls "fuzz/corpus/$target" | wc -l) inputs in fuzz/corpus/$target"
done

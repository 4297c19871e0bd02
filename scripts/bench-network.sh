#!/usr/bin/env bash
# Private networks measured (see bench/src/bin/network.rs): the time to a session with its network
# of 1, 2 and 4 hosts; throughput and round trips between two hosts over the daemon's link, next to
# one host's loopback and the shared mode; the daemon's memory per network and how many it holds.
# Not a test: it prints numbers. Needs root, as private networks do.
#
#   ./scripts/bench-network.sh [--rounds N] [--mib N] [--networks N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release -p bridge-daemon -p sockbridge-bench
exec ./target/release/sockbridge-bench-network "$@"

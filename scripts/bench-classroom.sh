#!/usr/bin/env bash
# The classroom load benchmark (issue 15; a benchmark, not a test: it prints numbers). It sets up
# what docs/classroom.md sets up (nginx with TLS in front of two hosted daemons, join links) with
# the daemons' limits raised for a large class, then has 50, 200 and 500 students at once run
# lesson 4 through it, over wss:// (bench/classroom.mjs, Node.js and the npm package's API). For
# each run it prints one JSON line: lesson completion times (p50, p99), failures by message, and
# each daemon's memory (before, peak, after) and CPU time; then a table.
#
#   ./scripts/bench-classroom.sh              # 50 200 500 students
#   ./scripts/bench-classroom.sh 20 100       # other sizes
#
# As root, in namespaces of its own (like tests/classroom/run.sh): the guide's fixed ports and
# files are the benchmark's alone. Builds the release daemon and the browser package first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sizes=${*:-50 200 500}
largest=$(printf '%s\n' $sizes | sort -n | tail -1)
if [ "$(id -u)" -ne 0 ]; then
  echo "bench-classroom: needs root (namespaces, private networks, nginx on port 443)" >&2
  exit 1
fi
cargo build --locked --release -p bridge-daemon
./scripts/build-web.sh >/dev/null
work=$(mktemp -d /tmp/sockbridge-bench-classroom.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 tests/classroom/guide.py docs/classroom.md "$work/guide.sh"
cat > "$work/inside.sh" <<INSIDE
set -euo pipefail
source "$root/tests/classroom/namespace.sh" "$work"
export PATH="$root/target/release:\$PATH"
( cd /; source "$work/guide.sh" ) > "$work/guide.log" 2>&1
# The guide's daemons, restarted with room for a large class.
pkill -TERM -f 'bridge-daemon --config' && while pgrep -f 'bridge-daemon --config' >/dev/null; do sleep 0.1; done
for d in a b; do
  # [limits] is the guide's last table: the keys go on at its end.
  grep -q '^\[limits\]' /etc/sockbridge/\$d.toml || printf '\n[limits]\n' >> /etc/sockbridge/\$d.toml
  printf 'max_sessions = 1024\nmax_networks = 1024\nmax_sockets_total = 8192\n' >> /etc/sockbridge/\$d.toml
  bridge-daemon --config /etc/sockbridge/\$d.toml >> /var/log/sockbridge/\$d.log 2>&1 &
done
until curl -sf http://127.0.0.1:9321/healthz >/dev/null && curl -sf http://127.0.0.1:9322/healthz >/dev/null; do sleep 0.2; done
names=\$(seq -f 's%04g' 1 $largest)
bridge-daemon join add --join-links /var/lib/sockbridge/links.json --url https://class.example.org/ \$names > "$work/links.txt"
for n in $sizes; do
  NODE_EXTRA_CA_CERTS=/etc/sockbridge/cert.pem node --experimental-websocket --no-warnings \
    "$root/bench/classroom.mjs" "$work/links.txt" "\$n" \
    "\$(pgrep -f 'bridge-daemon --config /etc/sockbridge/a.toml'),\$(pgrep -f 'bridge-daemon --config /etc/sockbridge/b.toml')" \
    "\$(pgrep -d, nginx)" 9321,9322 | tee -a "$work/results.jsonl"
  sleep 2
done
INSIDE
unshare --mount --net --pid --fork --mount-proc --propagation private bash "$work/inside.sh"
python3 - "$work/results.jsonl" <<'PY'
import json, sys
print()
print("| students at once | completed | wall s | p50 ms | p99 ms | daemons' RSS growth at peak (a + b) | per student | daemons' CPU s | per student | nginx CPU s | students' (Node) CPU s | left after | failures |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    n = r["students"]
    peak = sum(d["rssPeakMiB"] - d["rssBeforeMiB"] for d in r["daemons"])
    cpu = sum(d["cpuSeconds"] for d in r["daemons"])
    fails = "; ".join(f"{k} ({v})" for k, v in r["failures"].items()) or "none"
    left = ", ".join(f"{v['sessions']} sessions, {v['networks']} networks" for v in r["leftAfter"].values())
    print(f"| {n} | {r['completed']} | {r['wallMs'] / 1000:.1f} | {r['p50Ms']} | {r['p99Ms']} | {peak:.1f} MiB | {peak * 1024 / n:.0f} KiB | {cpu:.2f} | {cpu * 1000 / n:.1f} ms | {r['nginxCpuSeconds']:.2f} | {r['clientCpuSeconds']:.2f} | {left} | {fails} |")
PY

#!/usr/bin/env bash
# Follows docs/classroom.md's teacher's guide word for word, then checks the class it set up in
# headless Chromium (tests/classroom/browser.mjs). Every `sh` block of the guide runs as written,
# in order, in one shell, except those the guide marks "not run by the test" (installing, systemd,
# the demo). It all happens in fresh mount, network and PID namespaces (tests/classroom/inside.sh),
# so the guide's fixed ports and the files it writes under /etc, /var and /run are this test's
# alone, and its daemons and nginx end with it.
#
# Needs root (namespaces, nginx on port 443), nginx, openssl and curl, the debug daemon
# (target/debug/bridge-daemon, which scripts/test.sh builds), Chromium and tests/browser's npm
# packages.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/classroom/run.sh needs root: it makes namespaces and runs nginx on port 443" >&2
  exit 1
fi
for tool in nginx openssl curl unshare; do
  command -v "$tool" >/dev/null || { echo "tests/classroom/run.sh needs $tool" >&2; exit 1; }
done
work=$(mktemp -d /tmp/sockbridge-classroom.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The guide's blocks, in order: those to run, and a note of each one skipped.
python3 "$root/tests/classroom/guide.py" "$root/docs/classroom.md" "$work/guide.sh"

unshare --mount --net --pid --fork --mount-proc --propagation private bash "$root/tests/classroom/inside.sh" "$work" "$root"

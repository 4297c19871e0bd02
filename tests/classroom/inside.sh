#!/usr/bin/env bash
# The inside of tests/classroom/run.sh: in namespaces of its own, gives /etc, /var and /run layers
# that take this test's writes (the real ones stay as they were), makes class.example.org this
# namespace's loopback, runs the guide's blocks, then the browser checks.
set -euo pipefail
work=$1
root=$2
ip link set lo up
mount -t tmpfs tmpfs "$work/layers" 2>/dev/null || { mkdir -p "$work/layers"; mount -t tmpfs tmpfs "$work/layers"; }
for dir in etc var run; do
  mkdir -p "$work/layers/$dir/up" "$work/layers/$dir/work"
  mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$work/layers/$dir/up,workdir=$work/layers/$dir/work" "/$dir"
done
echo "127.0.0.1 class.example.org" >> /etc/hosts
# The daemon as built here, where the guide has it installed.
export PATH="$root/target/debug:$PATH"

echo "classroom: following docs/classroom.md"
( set -euo pipefail; cd /root 2>/dev/null || cd /; source "$work/guide.sh" )

echo "classroom: the class in headless Chromium"
node --test --test-reporter=tap "$root/tests/classroom/browser.mjs"

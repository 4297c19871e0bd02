#!/usr/bin/env bash
# The inside of tests/classroom/run.sh: in namespaces of its own, gives /etc, /var and /run layers
# that take this test's writes (the real ones stay as they were), makes class.example.org this
# namespace's loopback, runs the guide's blocks, then the browser checks.
set -euo pipefail
work=$1
root=$2
source "$root/tests/classroom/namespace.sh" "$work"
# The daemon as built here, where the guide has it installed.
export PATH="$root/target/debug:$PATH"

echo "classroom: following docs/classroom.md"
( set -euo pipefail; cd /root 2>/dev/null || cd /; source "$work/guide.sh" )

echo "classroom: the class in headless Chromium"
node --test --test-reporter=tap "$root/tests/classroom/browser.mjs"

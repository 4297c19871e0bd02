#!/usr/bin/env bash
# Sets up what the tests need and runs every test and check, as CI does:
#   formatting, clippy (native and wasm32; warnings are errors), rustdoc (warnings are errors), unit
#   tests, integration tests against a real daemon, the security suite, the CPython conformance
#   suite, the browser package build, and the browser tests in headless Chromium
#   (wasm-bindgen-test and Playwright).
# Set-up, done only where missing: rustup components and the wasm32 target; Chromium, ChromeDriver,
# CJK fonts and iproute2's `ss` (Debian packages; needs root, as in CI); the wasm-bindgen CLI and
# wasm-pack at the pinned versions (cargo install); the npm packages of tests/browser (npm ci).
# Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_PACK_VERSION=0.15.1
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
step() { printf '\n==> %s\n' "$*"; }

step "set-up"
if ! command -v python3 >/dev/null; then
  echo "python3 is needed: the conformance suite compares the bridge with CPython's socket module" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  rustup component add rustfmt clippy >/dev/null
  rustup target add wasm32-unknown-unknown >/dev/null
fi
# Chinese fonts, so the lessons' screenshots show the Chinese text rather than empty boxes; `ss`,
# which the security suite reads listen backlogs with; nginx, openssl and curl, which
# docs/classroom.md's set-up uses (tests/classroom/run.sh follows it).
PACKAGES="chromium chromium-driver fonts-noto-cjk iproute2 nginx openssl curl"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v ss >/dev/null \
  || ! command -v nginx >/dev/null || ! command -v openssl >/dev/null || ! command -v curl >/dev/null \
  || ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "needed: apt-get install $PACKAGES (as root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null \
    || apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$WASM_PACK_VERSION" ]; then
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
fi
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
python3 --version; cargo --version; chromium --version; wasm-bindgen --version; wasm-pack --version

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lint (clippy, native and wasm32, warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown -p bridge-protocol -p wasm-client --all-targets -- -D warnings

step "docs (rustdoc, native and wasm32, warnings are errors)"
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --workspace --no-deps
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --target wasm32-unknown-unknown -p wasm-client --no-deps

logs=$(mktemp -d)
step "tests (unit, integration against a real daemon, security, CPython conformance)"
# The integration tests also run the built binary, which cargo test does not build for another package.
cargo build --locked -p bridge-daemon
cargo test --locked --workspace 2>&1 | tee "$logs/cargo"
security=$(grep -oE '^test [a-z]::[a-z][0-9]+b?_[a-z0-9_]+ \.\.\. ok$' "$logs/cargo" || true)
groups=""
for g in h j e l u r c; do
  groups="$groups, $(echo "$g" | tr a-z A-Z) $(echo "$security" | grep -c "^test $g::" || true)"
done
step "security suite: $(echo "$security" | grep -c . || true) cases of shared/security.md section 4 ran and passed (${groups#, })"
step "hostile-client soak: $(grep -E '^soak: [0-9]' "$logs/cargo" || echo 'did not run')"
step "$(grep -oE '^conformance in a private network: [0-9]+ scenarios.*' "$logs/cargo" || echo 'conformance in a private network: did not run')"
step "hosted daemon (a class): $(grep -cE '^test hosted::[a-z0-9_]+ \.\.\. ok$' "$logs/cargo" || true) integration tests ran and passed (tests/it/hosted.rs: join links, the trusted identity header, per-identity limits and networks, metrics, draining)"
step "private networks: $(grep -cE '^test private::[a-z0-9_]+ \.\.\. ok$' "$logs/cargo" || true) integration tests ran and passed (tests/it/private.rs; as root they make real namespaces, else they check the fallback)"

step "browser package (scripts/build-web.sh)"
./scripts/build-web.sh
# README.md states the .wasm's size; it must be the size just built.
commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
wasm=web-demo/pkg/wasm_client_bg.wasm
stated="the \`.wasm\` is $(commas "$(wc -c < "$wasm")") bytes, $(commas "$(gzip -9 -c "$wasm" | wc -c)") gzipped"
if ! grep -qF "$stated" README.md; then
  echo "README.md does not say what was built: put \"$stated\" in its status table" >&2
  exit 1
fi
echo "README.md states the size built: $stated"
# What a page downloads: at most 100,000 bytes gzipped (issue 16; DEVELOPERS.md says what keeps it so).
if [ "$(gzip -9 -c "$wasm" | wc -c)" -gt 100000 ]; then
  echo "the .wasm is over its budget of 100,000 bytes gzipped: see DEVELOPERS.md, \"Building\"" >&2
  exit 1
fi

step "browser tests: the Rust API in headless Chromium (wasm-bindgen-test, via bridge-daemon exec)"
./target/debug/bridge-daemon exec -- \
  wasm-pack test --headless --chrome --chromedriver "$(command -v chromedriver)" wasm-client --test browser 2>&1 | tee "$logs/wasm"

step "node tests: the same Rust API tests in Node.js (wasm-pack test --node, via bridge-daemon exec)"
# Node.js 20 has WebSocket only with --experimental-websocket (22 and later have it anyway).
node_flag=""
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then node_flag=--experimental-websocket; fi
NODE_OPTIONS="$node_flag" ./target/debug/bridge-daemon exec -- wasm-pack test --node wasm-client --test node 2>&1 | tee "$logs/node"

step "browser tests: the JS package and the npm package, every lesson in Python and JavaScript (shared loopback and private network), Python's standard library, the conformance scenarios in the page's Python, the handshake gate in Chromium (Playwright), and the package's TypeScript types (tsc)"
# A test that hangs fails after 3 minutes instead of holding the run.
(cd tests/browser && node --test --test-timeout=180000) 2>&1 | tee "$logs/js"
echo "screenshots of every lesson: tests/browser/artifacts/"

step "install: cargo install from the checkout's path and from its git URL, each run from an empty directory, a lesson in Chromium (release builds: a few minutes)"
(cd tests/browser && node --test --test-timeout=1500000 install.mjs) 2>&1 | tee "$logs/install"

step "classroom: docs/classroom.md followed word for word (nginx with TLS in front of two hosted daemons, in namespaces of the test's own), then the class in headless Chromium over wss://"
./tests/classroom/run.sh 2>&1 | tee "$logs/classroom"

wasm_passed=$(grep -oE 'test result: ok\. [0-9]+ passed' "$logs/wasm" | grep -oE '[0-9]+' | head -1)
node_passed=$(grep -oE 'test result: ok\. [0-9]+ passed' "$logs/node" | grep -oE '[0-9]+' | head -1)
js_passed=$(grep -oE '^# pass [0-9]+' "$logs/js" | grep -oE '[0-9]+')
step "$(grep -oE 'conformance in the page: .*' "$logs/js" || echo 'conformance in the page: did not run')"
step "private networks in the page: $(grep -E '^ok [0-9]+ - private network: ' "$logs/js" | grep -vc SKIP || true) browser tests ran and passed, $(grep -E '^ok [0-9]+ - private network: ' "$logs/js" | grep -c SKIP || true) skipped (not root)"
step "accessibility: $(grep -cE '^ok [0-9]+ - (accessibility|keyboard|print|phone): ' "$logs/js" || true) tests ran and passed (axe-core WCAG 2.1 A/AA on every page in both languages at 1366 and 390 px, a keyboard-only walk, print, the phone's lesson strip)"
step "install: $(grep -cE '^ok [0-9]+ - install: ' "$logs/install" || true) cargo installs ran and served the lessons, the package and Python with no checkout (tests/browser/install.mjs)"
step "classroom: $(grep -oE 'the guide has [0-9]+ blocks to run and [0-9]+ marked not run' "$logs/classroom" || echo 'the guide did not run'); $(grep -cE '^ok [0-9]+ - classroom: ' "$logs/classroom" || true) browser checks of the class ran and passed (tests/classroom/)"
step "npm package: $(grep -cE '^ok [0-9]+ - npm package: ' "$logs/js" || true) tests of the packed tarball ran and passed (installed offline; Node.js, a Vite build, a plain page, TypeScript)"
step "node tests: $node_passed Rust API tests ran in Node.js (wasm-bindgen-test), all passed"
step "browser tests: $((wasm_passed + js_passed)) passed ($wasm_passed wasm-bindgen-test in headless Chromium; $js_passed with node --test: Playwright in headless Chromium, tsc, and the npm package)"
rm -rf "$logs"
step "all checks passed"

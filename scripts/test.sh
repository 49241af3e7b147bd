#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs what it needs, type-checks and
# builds (tsc), then runs the container test in the background while lint and every other test
# run with node's test runner; fails when any of the three fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: skopeo (end-to-end), and for test/deploy podman with runc
# (containers), mmdebstrap (the offline base image), podman-compose (deploy/compose.yaml) and
# unzip (test/deploy/kubectl.ts unpacks pinned kubectl builds: Debian's kubernetes-client is 1.20, too old).
packages=()
command -v skopeo >/dev/null 2>&1 || packages+=(skopeo)
command -v podman >/dev/null 2>&1 || packages+=(podman)
command -v runc >/dev/null 2>&1 || packages+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || packages+=(mmdebstrap)
command -v podman-compose >/dev/null 2>&1 || packages+=(podman-compose)
command -v unzip >/dev/null 2>&1 || packages+=(unzip)
if [ "${#packages[@]}" -gt 0 ]; then
  echo "test: installing ${packages[*]} (Debian packages) for the end-to-end and deployment tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
fi
if [ ! -d node_modules ]; then
  npm ci
fi

echo "test: type-check and build"
rm -rf dist
npx tsc -p tsconfig.json

# The container test (test/deploy/containers: base images, the image build, containers, compose)
# takes minutes, mostly waiting on podman: it runs in its own process beside everything else, its
# output prefixed with [containers] and kept in a log; the script fails if either fails.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
long=dist/test/deploy/containers.test.js
echo "test: run $long in the background (lines prefixed with [containers])"
(
  set +e
  node --test --test-timeout=3600000 "$long" 2>&1 | tee "$logs/containers.log" | sed -u 's/^/[containers] /'
  exit "${PIPESTATUS[0]}"
) &
containers_pid=$!

set +e
echo "test: lint"
npx eslint .
lint=$?
echo "test: run"
# Only *.test.js files: node 20 given a folder would also load every helper module as a test file.
find dist/test -name '*.test.js' ! -path "$long" -print0 | sort -z \
  | xargs -0 node --test --test-concurrency=2 --test-timeout=300000 2>&1 | tee "$logs/suite.log"
suite=${PIPESTATUS[2]}  # find | sort | xargs node | tee: the third is the test runner
echo "test: waiting for $long"
wait "$containers_pid"
containers=$?
set -e

# One closing line for both runs (node's own summaries are above, the containers' prefixed).
count() { local n; n=$(grep -E "^# $1 [0-9]+$" "$2" | tail -1 | awk '{print $3}'); echo "${n:-0}"; }
passed=$(( $(count pass "$logs/suite.log") + $(count pass "$logs/containers.log") ))
failed=$(( $(count fail "$logs/suite.log") + $(count fail "$logs/containers.log") ))
echo "test: lint exit $lint, suite exit $suite, containers exit $containers"
echo "test: $passed passed, $failed failed"
[ "$lint" -eq 0 ] && [ "$suite" -eq 0 ] && [ "$containers" -eq 0 ]

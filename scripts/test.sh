#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs what it needs, then lint,
# type-check and build (tsc), then every test with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v skopeo >/dev/null 2>&1; then
  echo "test: installing skopeo (Debian package) for the end-to-end tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq skopeo >/dev/null
fi
if [ ! -d node_modules ]; then
  npm ci
fi

echo "test: lint"
npx eslint .
echo "test: type-check and build"
rm -rf dist
npx tsc -p tsconfig.json
echo "test: run"
# Only *.test.js files: node 20 given a folder would also load every helper module as a test file.
find dist/test -name '*.test.js' -print0 | sort -z | xargs -0 node --test --test-concurrency=2 --test-timeout=120000

#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs what it needs, then lint,
# type-check and build (tsc), then every test with node's test runner.
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

echo "test: lint"
npx eslint .
echo "test: type-check and build"
rm -rf dist
npx tsc -p tsconfig.json
# The container test builds the image and runs containers: minutes, not the 120 s a test file
# gets below, so it runs first, on its own, with its own per-test time limits.
long=dist/test/deploy/containers.test.js
echo "test: run $long"
node --test --test-timeout=3600000 "$long"
echo "test: run"
# Only *.test.js files: node 20 given a folder would also load every helper module as a test file.
find dist/test -name '*.test.js' ! -path "$long" -print0 | sort -z | xargs -0 node --test --test-concurrency=2 --test-timeout=120000

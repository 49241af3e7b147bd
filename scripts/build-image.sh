#!/usr/bin/env bash
# Builds the Outpost container image from the Dockerfile at the repository root, with podman or
# docker (whichever is there; OUTPOST_CONTAINER_ENGINE=podman|docker chooses).
#
#   npm run image                                               # tag outpost:latest
#   npm run image -- --build-arg BASE_IMAGE=localhost/my-node20 # another runtime base
#   OUTPOST_IMAGE=registry.example/outpost:0.1.0 npm run image  # another tag
#
# Every argument is passed on to `<engine> build`. With podman the image is written in Docker's
# format (OCI images have no HEALTHCHECK). When npm has a `cafile` configured (a TLS-inspecting
# proxy's CA, say), the build's npm gets it too, as the build secret `npm_ca` (never in a layer).
set -euo pipefail
cd "$(dirname "$0")/.."

engine="${OUTPOST_CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  if command -v podman >/dev/null 2>&1; then engine=podman
  elif command -v docker >/dev/null 2>&1; then engine=docker
  else
    echo "build-image: neither podman nor docker is installed (apt-get install podman)" >&2
    exit 1
  fi
fi
tag="${OUTPOST_IMAGE:-outpost:latest}"
version="$(node -p 'require("./package.json").version')"

args=(build --tag "$tag" --build-arg "VERSION=$version" --file Dockerfile)
if [ "$engine" = podman ]; then args+=(--format docker); fi
cafile="$(npm config get cafile 2>/dev/null || true)"
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -s "$cafile" ]; then
  args+=(--secret "id=npm_ca,src=$cafile")
fi

echo "build-image: $engine ${args[*]} $* ." >&2
"$engine" "${args[@]}" "$@" .
"$engine" image inspect --format '{{.Size}}' "$tag" 2>/dev/null \
  | awk -v tag="$tag" '{ printf "build-image: %s is %.1f MB\n", tag, $1 / 1000000 }' >&2 || true

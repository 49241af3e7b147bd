# syntax=docker/dockerfile:1
# The Outpost node image: one process (`outpost serve`), listening on 8080, data in /var/acr/data,
# certificates in /var/acr/certs (the reference's layout), as a non-root user (10001).
#
#   npm run image                                   # podman or docker, whichever is there
#   docker build -t outpost .                       # BuildKit (docker 23+)
#   podman build --format docker -t outpost .       # --format docker keeps the HEALTHCHECK
#
# BASE_IMAGE is the runtime base: anything with a Node.js 20 `node` on the PATH (and glibc); it
# needs no shell: the runtime stage runs no command. BUILD_IMAGE (default: the same image) installs
# the dependencies and builds the TypeScript: it needs node, npm and a shell; when no prebuilt
# better-sqlite3 addon can be had (offline), also python3, make and g++ (installed with apt-get
# when missing). Give a different BUILD_IMAGE only with the same distribution release and the same
# Node.js as BASE_IMAGE, so that the addon matches both.
# docs/deploy.md, "Container image", has the details.
ARG BASE_IMAGE=node:20-bookworm-slim
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Every dependency from the lock file, without running their install scripts; then better-sqlite3's
# own install: its prebuilt addon for this Node.js and platform (prebuild-install looks in the
# folder npm_config_better_sqlite3_local_prebuilds names, npm's cache, then its GitHub release),
# else compiled here from source against this base's Node.js headers, with node-gyp's tools
# (installed with apt-get when the base lacks them). Either way the addon must load.
# The optional build secret `npm_ca` is a CA bundle for npm (a TLS-inspecting proxy's, say).
RUN --mount=type=secret,id=npm_ca \
    set -eu; \
    if [ -s /run/secrets/npm_ca ]; then export npm_config_cafile=/run/secrets/npm_ca; fi; \
    nodedir="$(dirname "$(dirname "$(command -v node)")")"; \
    if [ -f "$nodedir/include/node/node.h" ]; then export npm_config_nodedir="$nodedir"; fi; \
    npm ci --ignore-scripts --no-audit --no-fund; \
    loads() { node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"; }; \
    if ! npm rebuild better-sqlite3 --no-audit --no-fund || ! loads; then \
      echo "no prebuilt better-sqlite3 addon for this platform: compiling it"; \
      if ! command -v g++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
        && rm -rf /var/lib/apt/lists/*; \
      fi; \
      npm_config_build_from_source=true npm rebuild better-sqlite3 --no-audit --no-fund; \
    fi; \
    loads
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs
RUN npx tsc -p tsconfig.json --sourceMap false
# Production dependencies only, and of better-sqlite3 only the compiled addon and its JavaScript.
RUN set -eu; \
    npm prune --omit=dev --ignore-scripts --no-audit --no-fund; \
    cd node_modules/better-sqlite3; \
    mv build/Release/better_sqlite3.node /tmp/; \
    rm -rf build deps src binding.gyp; \
    mkdir -p build/Release; mv /tmp/better_sqlite3.node build/Release/; \
    cd /src; \
    mkdir -p /out/app /out/acr/data /out/acr/certs; \
    cp -a package.json bin node_modules /out/app/; \
    mkdir -p /out/app/dist /out/app/deploy; \
    cp -a dist/src /out/app/dist/src; \
    cp -a deploy/healthcheck.mjs /out/app/deploy/; \
    chmod 0700 /out/acr/data /out/acr/certs

FROM ${BASE_IMAGE}
ARG VERSION=0.2.0
LABEL org.opencontainers.image.title="outpost" \
      org.opencontainers.image.description="Outpost: an open connected container registry (OCI Distribution v1.1) for the edge" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# The data folder's default is the reference's: ACR_REGISTRY_DATA_VOLUME (not OUTPOST_DATA_DIR, so
# that either variable set at run time wins over it). Port 8080 and 0.0.0.0 are the node's defaults.
ENV NODE_ENV=production \
    ACR_REGISTRY_DATA_VOLUME=/var/acr/data
WORKDIR /app
COPY --from=build /out/app /app
COPY --from=build --chown=10001:10001 /out/acr /var/acr
USER 10001:10001
EXPOSE 8080
VOLUME ["/var/acr/data"]
# GET /healthz on 127.0.0.1:$OUTPOST_PORT (8080), over HTTP, else HTTPS; no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/app/deploy/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/bin/outpost"]
CMD ["serve"]

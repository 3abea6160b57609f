# One image for every edgefuse role: broker, planner, source, worker and the
# experiment client. The entry point shapes the container's own link
# (docker/device-start.sh, from BANDWIDTH and DELAY), then runs `edgefuse "$@"`.
#
# Only node:20-slim as a base: on machines without Docker,
# test/setup/container-engine.sh builds that tag locally and no registry serves
# any other.

# --- all dependencies, downloaded once (this layer changes only with the lockfile)
FROM node:20-slim AS deps
WORKDIR /app
# onnxruntime-node's postinstall would fetch GPU libraries; the CPU ones ship in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# No dependency needs its install script on CPU, and the root's `prepare` (tsc) has no
# sources yet: that is the build stage's job.
RUN npm ci --ignore-scripts --no-audit --no-fund

# --- runtime dependencies: dev packages pruned, onnxruntime kept for this platform only
# (it ships macOS, Windows and both Linux architectures: ~240 MB that never load)
FROM deps AS runtime-deps
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && keep="linux/$(node -p process.arch)" \
 && for d in node_modules/onnxruntime-node/bin/napi-v*/*/*; do \
      case "$d" in */"$keep") ;; *) rm -rf "$d" ;; esac; \
    done \
 && test -e node_modules/onnxruntime-node/bin/napi-v*/"$keep"/onnxruntime_binding.node

# --- compiled JavaScript
FROM deps AS build
COPY tsconfig.json ./
COPY docker/tsconfig.json docker/
# Every source folder the runtime imports from (tsconfig.json's "include" minus test/ and bench/).
COPY core core
COPY dnn dnn
COPY planner planner
COPY broker broker
COPY actors actors
COPY cli cli
# The chaos run is a command of its own (edgefuse chaos); the other benchmarks stay out.
COPY bench/chaos bench/chaos
COPY bench/report.ts bench/report.ts
COPY view view
COPY lab lab
RUN npx tsc -p docker/tsconfig.json

# --- the image
FROM node:20-slim
# tc and ip shape the link at start. The locally built node:20-slim has iproute2;
# Docker Hub's does not, and gets it from Debian.
RUN command -v tc >/dev/null 2>&1 || { \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 \
      && rm -rf /var/lib/apt/lists/*; \
    }
WORKDIR /app
ENV NODE_ENV=production
COPY --from=runtime-deps /app/node_modules node_modules
COPY package.json ./
COPY models models
COPY bin bin
COPY docker/device-start.sh /usr/local/bin/device-start
COPY docker/healthcheck.sh /usr/local/bin/healthcheck
RUN ln -s /app/bin/edgefuse /usr/local/bin/edgefuse
COPY --from=build /app/dist dist
ENTRYPOINT ["device-start"]
CMD ["--help"]

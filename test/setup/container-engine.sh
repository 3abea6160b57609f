#!/usr/bin/env bash
# A Docker-compatible container engine for machines that have none.
#
# These machines have the docker CLI but no Docker engine, and no container
# registry can be reached. This script serves podman behind the Docker API and
# builds the base images locally, so that compose.yaml, Dockerfiles and
# testcontainers run unchanged. On a machine with a working Docker engine it
# does nothing.
#
#   eval "$(test/setup/container-engine.sh up)"   # exports DOCKER_HOST etc.
#   test/setup/container-engine.sh down             # stops what `up` started
#
# After `up`:
#   - DOCKER_HOST points at podman's Docker-compatible socket;
#   - `docker` and `docker-compose` (compose v1 syntax: `docker-compose up`, not
#     `docker compose up`) work against it;
#   - images `node:20-slim` (= docker.io/library/node:20-slim) and
#     `debian:bookworm-slim` exist locally (Debian minbase + iproute2 +
#     ca-certificates; the node image adds this machine's node and npm);
#   - healthchecks are run once a second by a background loop, since no
#     systemd is there to run them;
#   - testcontainers: pin testcontainers@11 on Node 20, set
#     TESTCONTAINERS_RYUK_DISABLED=true (exported), and give
#     DockerComposeEnvironment
#     .withClientOptions({ executable: { standalone: true, executablePath: "docker-compose" } }).
# Known limits: tc qdiscs tbf and htb work inside containers (cap_add NET_ADMIN);
# netem does not exist in this kernel. Everything it prints on stdout is shell.
set -euo pipefail

SOCK=/run/podman/podman.sock
STATE=/var/lib/ci-container-engine
CONF=/etc/containers/containers.conf
log() { echo "container-engine: $*" >&2; }

exports() {
  echo "export DOCKER_HOST=unix://$SOCK"
  echo "export TESTCONTAINERS_RYUK_DISABLED=true"
  echo "export TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE=$SOCK"
}

engine_ok() { DOCKER_HOST=unix://$SOCK timeout 10 docker version >/dev/null 2>&1; }

install_packages() {
  local need=()
  command -v podman >/dev/null || need+=(podman)
  command -v runc >/dev/null || need+=(runc)
  command -v docker-compose >/dev/null || need+=(docker-compose)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v tc >/dev/null || need+=(iproute2)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
}

write_conf() {
  # crun cannot run here (hybrid cgroups, and a nofile hard limit below podman's default).
  mkdir -p "$(dirname "$CONF")"
  if ! grep -q 'runtime = "runc"' "$CONF" 2>/dev/null; then
    cat > "$CONF" <<'CONFEOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONFEOF
  fi
}

start_service() {
  mkdir -p /run/podman "$STATE"
  if ! engine_ok; then
    log "starting podman's Docker API on $SOCK"
    nohup podman system service --time=0 "unix://$SOCK" >"$STATE/service.log" 2>&1 &
    echo $! > "$STATE/service.pid"
    for _ in $(seq 100); do engine_ok && break; sleep 0.1; done
    engine_ok || { log "podman service did not come up; see $STATE/service.log"; exit 1; }
  fi
  if ! { [ -f "$STATE/health.pid" ] && kill -0 "$(cat "$STATE/health.pid")" 2>/dev/null; }; then
    nohup bash -c 'while :; do for c in $(podman ps -q 2>/dev/null); do podman healthcheck run "$c" >/dev/null 2>&1; done; sleep 1; done' \
      >/dev/null 2>&1 &
    echo $! > "$STATE/health.pid"
  fi
}

mirror() {
  # the Debian mirror this machine's apt already uses
  awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null ||
    awk '/^deb / && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list
}

build_images() {
  if ! podman image exists docker.io/library/debian:bookworm-slim; then
    log "building debian:bookworm-slim with debootstrap (about a minute)"
    local root="$STATE/rootfs"
    rm -rf "$root"
    debootstrap --variant=minbase --include=iproute2,ca-certificates bookworm "$root" "$(mirror)" >"$STATE/debootstrap.log" 2>&1 ||
      { log "debootstrap failed; see $STATE/debootstrap.log"; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | podman import -q --change 'CMD ["bash"]' - docker.io/library/debian:bookworm-slim >/dev/null
    rm -rf "$root"
  fi
  if ! podman image exists docker.io/library/node:20-slim; then
    log "building node:20-slim from this machine's node $(node --version)"
    local ctx="$STATE/node-ctx"
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp "$(readlink -f "$(command -v node)")" "$ctx/node"
    cp -r "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")" "$ctx/npm"
    # builds reach the package registries through the same TLS roots as this machine
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
    cat > "$ctx/Containerfile" <<'CFEOF'
FROM docker.io/library/debian:bookworm-slim
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && \
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version
CMD ["node"]
CFEOF
    podman build -q -t docker.io/library/node:20-slim "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
}

up() {
  if DOCKER_HOST="${DOCKER_HOST:-}" timeout 10 docker info >/dev/null 2>&1 && [ "${DOCKER_HOST:-}" != "unix://$SOCK" ]; then
    log "a Docker engine is already reachable; nothing to do"
    return 0
  fi
  install_packages
  write_conf
  start_service
  build_images
  exports
}

down() {
  for f in health service; do
    if [ -f "$STATE/$f.pid" ]; then kill "$(cat "$STATE/$f.pid")" 2>/dev/null || true; rm -f "$STATE/$f.pid"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) exports ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac

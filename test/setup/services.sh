# Sourced by test/run.sh: installs and starts what the suites need beyond node_modules.
#
#   - Mosquitto and its clients: the broker contract suites run against a real one.
#   - Debian's darknet (libdarknet.so + darknet.h) and gcc: the reference outputs every
#     engine test compares with are made by darknet itself (test/oracle/).
#   - iproute2 and procps: lab/ drives ip, tc and sysctl in network namespaces.
#   - Chromium: the live view's browser test (view/browser.test.ts) drives it headless.
#   - A Docker-compatible container engine: the compose and testcontainers suites.
#     Without a Docker engine, container-engine.sh serves podman behind the Docker API;
#     its CNI networks resolve service names (mqtt://broker:1883) only with the dnsname
#     plugin.
#
# Installing needs root and Debian's apt (a fresh machine of the kind the README names).
# Elsewhere it installs nothing, says what is missing, and the suites that need it fail
# with a message naming it. EDGEFUSE_TEST_SERVICES=none skips all of it (npm run
# test:unit needs none of these).

setup_log() { echo "test setup: $*" >&2; }

setup_missing_packages() {
  local need=()
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
  command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
  [ -f /usr/lib/darknet/libdarknet.so ] || need+=(darknet)
  command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
  command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || need+=(iproute2)
  command -v sysctl >/dev/null 2>&1 || need+=(procps)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  if ! timeout 10 docker info >/dev/null 2>&1 && [ ! -x /usr/lib/cni/dnsname ]; then
    need+=(golang-github-containernetworking-plugin-dnsname)
  fi
  echo "${need[@]}"
}

setup_install() {
  local need
  need=$(setup_missing_packages)
  [ -z "$need" ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    setup_log "missing: $need (install them as root with apt-get; the suites that need them will fail)"
    return 0
  fi
  setup_log "installing $need"
  local log
  log=$(mktemp)
  # shellcheck disable=SC2086 # one word per package
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need; } >"$log" 2>&1; then
    cat "$log" >&2
    setup_log "apt-get could not install $need (log above)"
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

setup_container_engine() {
  if timeout 10 docker info >/dev/null 2>&1 && [ -z "${CI:-}" ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    setup_log "no container engine reachable and not root: the container suites will fail"
    return 0
  fi
  local started=$SECONDS engine_env
  # On CI a fresh engine: a Docker API service left running from earlier work can refuse
  # to start containers ("write child: broken pipe") while its own CLI still works.
  [ -n "${CI:-}" ] && { test/setup/container-engine.sh down >/dev/null 2>&1 || true; }
  # Captured first: a failing `up` inside eval "$(...)" would not stop the script.
  engine_env=$(test/setup/container-engine.sh up)
  eval "$engine_env"
  setup_log "container engine ready in $((SECONDS - started)) s"
  # Built before the suites, so the compose tests' `up --build` finds every layer cached
  # and the build does not compete with the timing-sensitive suites for the CPUs.
  started=$SECONDS
  local build_log
  if ! build_log=$(docker build -t edgefuse:latest . 2>&1); then
    echo "$build_log" >&2
    setup_log "building the edgefuse image failed (log above)"
    return 1
  fi
  setup_log "edgefuse image built in $((SECONDS - started)) s"
}

if [ "${EDGEFUSE_TEST_SERVICES:-all}" != none ]; then
  setup_install
  setup_container_engine
fi

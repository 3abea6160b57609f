#!/bin/sh
# Device start-up: shape this container's own link, then run `edgefuse "$@"`.
#
#   BANDWIDTH  link rate in both directions, in tc's spelling: 10mbit, 100mbit, 1gbit,
#              512kbit. Empty or unset: the link is left as it is.
#   DELAY      one-way delay added to what the device sends (20ms, 1s). Needs the
#              netem qdisc; on a kernel without it, DELAY is ignored with a notice.
#   NET_DEV    interface to shape; default: the one the default route leaves by.
#
# Egress is a tbf at the root of the interface. Arriving packets cannot be queued
# where they arrive, so an ingress filter redirects them to ifb0, and a tbf on ifb0
# limits them: the paper's device has one link, shaped both ways. Bucket sizes, queue
# latency and the sender's packet size come from lab/shaping.ts, which the namespace
# lab uses too (96 % of the set rate reaches TCP payload; the rest is headers).
#
# Needs cap_add NET_ADMIN (and the ifb module, which the kernel loads on demand).
# When BANDWIDTH is set and cannot be applied, the container stops: an experiment on
# an unshaped link would report numbers for a network nobody asked for.
set -eu

say() { echo "device-start: $*"; }
die() {
  echo "device-start: $*" >&2
  exit 1
}

# Runs a command; if it fails, stops the container with the command and tc's own words.
run() {
  if ! out=$("$@" 2>&1); then
    hint=""
    case "$out" in *"Operation not permitted"*) hint=" (give the container cap_add: [NET_ADMIN])" ;; esac
    die "cannot shape $dev to $BANDWIDTH: \`$*\` failed: $out$hint"
  fi
}

app=$(dirname "$(dirname "$(readlink -f "$(command -v edgefuse)")")")
BANDWIDTH=${BANDWIDTH:-}
DELAY=${DELAY:-}
dev=${NET_DEV:-$(ip -o route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')}
dev=${dev:-eth0}

if [ -n "$DELAY" ]; then
  case "$DELAY" in
    *[!0-9.a-z]* | [!0-9]*) die "bad DELAY '$DELAY': expected e.g. 20ms, 1s" ;;
  esac
fi

# The tbf parameters, from the same code as the namespace lab: "RATE BURST LATENCY GSO".
shaping_parameters() {
  node --input-type=module -e "
    import { TBF_LATENCY_MS, burstBytes, gsoMaxBytes, parseRate } from '$app/dist/lab/shaping.js';
    try {
      const mbit = parseRate(process.argv[1]);
      if (!(mbit > 0)) throw new Error('the rate must be above 0');
      // tc takes integer kbit (lab/shaping.ts formatKbit)
      console.log(Math.max(1, Math.round(mbit * 1000)) + 'kbit', burstBytes(mbit), TBF_LATENCY_MS + 'ms', gsoMaxBytes(mbit));
    } catch (err) {
      console.error(err.message);
      process.exit(1);
    }
  " "$1"
}

if [ -n "$BANDWIDTH" ]; then
  params=$(shaping_parameters "$BANDWIDTH" 2>&1) || die "bad BANDWIDTH: $params"
  read -r rate burst latency gso <<EOF
$params
EOF
fi

# DELAY: netem at the root, the rate limit as its child, so packets are delayed, then paced.
netem=no
if [ -n "$DELAY" ]; then
  if out=$(tc qdisc replace dev "$dev" root handle 1: netem delay "$DELAY" 2>&1); then
    netem=yes
  else
    case "$out" in
      *"qdisc kind is unknown"* | *"Unknown qdisc"*)
        say "DELAY=$DELAY is IGNORED: this kernel has no netem qdisc (tc: $out); the link has no added delay" ;;
      *) die "cannot add DELAY=$DELAY on $dev: \`tc qdisc replace dev $dev root handle 1: netem delay $DELAY\` failed: $out" ;;
    esac
  fi
fi

if [ -n "$BANDWIDTH" ]; then
  if [ "$netem" = yes ]; then
    run tc qdisc replace dev "$dev" parent 1:1 handle 10: tbf rate "$rate" burst "$burst" latency "$latency"
  else
    run tc qdisc replace dev "$dev" root tbf rate "$rate" burst "$burst" latency "$latency"
  fi
  # Smaller packets from this side, so a full tbf queue drops like a router, per packet,
  # not 44 segments at once (lab/shaping.ts gsoMaxBytes).
  run ip link set dev "$dev" gso_max_size "$gso"
  ip link show ifb0 >/dev/null 2>&1 || run ip link add ifb0 type ifb
  run ip link set dev ifb0 up
  # From scratch, so a restarted container does not stack a second redirect.
  tc qdisc del dev "$dev" ingress >/dev/null 2>&1 || true
  run tc qdisc add dev "$dev" handle ffff: ingress
  run tc filter add dev "$dev" parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ifb0
  run tc qdisc replace dev ifb0 root tbf rate "$rate" burst "$burst" latency "$latency"
  say "$dev shaped to $BANDWIDTH both ways: tbf rate $rate burst $burst latency $latency on $dev (out) and ifb0 (in)$([ "$netem" = yes ] && echo ", netem delay $DELAY out")"
  tc qdisc show dev "$dev" | sed 's/^/device-start:   /'
  tc qdisc show dev ifb0 | sed 's/^/device-start:   /'
elif [ "$netem" = yes ]; then
  say "$dev: netem delay $DELAY out; rate not limited (BANDWIDTH is empty)"
else
  say "$dev not shaped (BANDWIDTH is empty)"
fi

# Knobs for the device's role, as flags; unset, the CLI's own defaults apply (one home each).
case "${1:-}" in
  source) if [ -n "${THRESH:-}" ]; then set -- "$@" --thresh "$THRESH"; fi ;;
  worker) if [ -n "${MEMORY_MB:-}" ]; then set -- "$@" --memory "$MEMORY_MB"; fi ;;
esac

exec edgefuse "$@"

#!/bin/sh
# Container healthchecks that cost no node start-up (the engine runs them every
# second in every container): they read the kernel's TCP table of the container's
# own network namespace.
#
#   healthcheck listening PORT   something listens on PORT (the broker, a net-probe server)
#   healthcheck connected PORT   an established connection to a peer's PORT (an actor connected to the broker)
set -eu

usage() { echo "usage: healthcheck listening|connected PORT" >&2; exit 2; }
[ $# -eq 2 ] || usage
case "$2" in *[!0-9]* | "") usage ;; esac
port=$(printf '%04X' "$2")

# /proc/net/tcp{,6}: "sl local_address rem_address st ...", addresses as HEXIP:HEXPORT,
# st 0A = LISTEN, 01 = ESTABLISHED.
case "$1" in
  listening) field=2 state=0A ;;
  connected) field=3 state=01 ;;
  *) usage ;;
esac
cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
  awk -v f="$field" -v st="$state" -v p=":$port" '$4 == st && substr($f, length($f) - 4) == p { found = 1 } END { exit !found }' ||
  { echo "no $1 TCP socket on port $2" >&2; exit 1; }

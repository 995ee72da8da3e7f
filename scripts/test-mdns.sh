#!/usr/bin/env bash
# Runs the mDNS tests (backend/mdns, examples/mdns) inside a private network
# namespace, so their multicast never reaches the host's interfaces: each test
# binary runs under `unshare -n` with only lo, brought up with multicast
# routes. go test itself drives the binaries (-exec), so the output ends with
# go test's usual "ok"/"FAIL" lines.
#
#   ./scripts/test-mdns.sh               # both packages, -race
#   ./scripts/test-mdns.sh -v -run Conf  # extra go test flags are passed on
#
# Without the privilege to create a network namespace it skips (exit 0), or
# fails (exit 1) when CI is set. Outside the namespace the same tests skip.
set -euo pipefail

if [[ "${1:-}" == "--in-netns" ]]; then
  # Called by go test as the -exec program: run the test binary "$2" with
  # its arguments inside a new network namespace.
  shift
  exec unshare -n sh -c '
    ip link set lo up &&
    ip route add 224.0.0.0/4 dev lo &&
    { ip -6 route add multicast ff00::/8 dev lo table local 2>/dev/null ||
      echo "test-mdns: no IPv6 multicast route; testing over IPv4 only" >&2; } &&
    DISCOVERY_MDNS_NETNS=1 exec "$@"' test-mdns "$@"
fi

cd "$(dirname "$0")/.."
self="$PWD/scripts/test-mdns.sh"

skip() {
  echo "test-mdns: SKIP: $1" >&2
  echo "test-mdns: the mDNS tests send multicast and run only in a private network namespace (unshare -n, as root or with CAP_SYS_ADMIN)." >&2
  case "${CI:-}" in
    "" | 0 | false) exit 0 ;;
  esac
  echo "test-mdns: FAIL: CI is set, so a skipped mDNS suite is a failure" >&2
  exit 1
}

if ! command -v ip >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing iproute2 (ip) for the namespace's routes"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
  fi
  command -v ip >/dev/null 2>&1 || skip "the ip command (iproute2) is missing"
fi
command -v unshare >/dev/null 2>&1 || skip "the unshare command (util-linux) is missing"
if ! err=$(unshare -n sh -c 'ip link set lo up && ip route add 224.0.0.0/4 dev lo' 2>&1); then
  skip "cannot create a network namespace with multicast on lo here: $err"
fi

echo "== go test -race -tags mdns (inside unshare -n) ./backend/mdns/ ./examples/mdns/"
go test -race -count=1 -tags mdns -timeout 15m -exec "$self --in-netns" "$@" ./backend/mdns/ ./examples/mdns/

#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests
# need (Go modules; Debian's ZooKeeper and Chromium; a Consul agent,
# kube-apiserver and kube-controller-manager built from the module proxy),
# checks formatting and vet, then runs all tests with -race and every
# backend's build tag, and the mDNS tests inside a network namespace.
#
#   ./scripts/test.sh            # everything
#   TAGS="" ./scripts/test.sh    # only the light backends (no servers needed)
set -euo pipefail
cd "$(dirname "$0")/.."

TAGS="${TAGS-__ALL_TAGS__}"
if [[ "$TAGS" == "__ALL_TAGS__" ]]; then
  TAGS=""
  for f in backend_*.go; do
    [[ -e "$f" ]] || continue
    tag="${f#backend_}"; TAGS="$TAGS ${tag%.go}"
  done
  TAGS="${TAGS# }"
fi
echo "== build tags: ${TAGS:-<none>}"

has_tag() { [[ " $TAGS " == *" $1 "* ]]; }

# On a fresh machine the installs take most of the first run. Debian's
# packages (one apt at a time: dpkg holds a lock) and the Consul build run in
# the background while the Kubernetes binaries build: apt mostly waits on the
# network and dpkg, and each build leaves a core idle while it resolves
# modules and links.
installs=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$installs"' EXIT
(
  if has_tag zookeeper; then bash scripts/install-zookeeper.sh; fi
  # The dashboard's tests drive a real headless browser.
  bash scripts/install-chromium.sh
) & apt_pid=$!
consul_pid=""
if has_tag consul; then
  # Builds the agent once (several minutes), then reuses the cached binary.
  bash scripts/install-consul.sh >"$installs/consul" & consul_pid=$!
fi
if has_tag kubernetes; then
  # Builds kube-apiserver and kube-controller-manager once (about 14 min on
  # 2 cores), then reuses the cached binaries.
  kube_bins=$(bash scripts/install-kubernetes.sh)
  KUBE_APISERVER_BIN=$(sed -n 1p <<<"$kube_bins")
  KUBE_CONTROLLER_MANAGER_BIN=$(sed -n 2p <<<"$kube_bins")
  export KUBE_APISERVER_BIN KUBE_CONTROLLER_MANAGER_BIN
fi
if [[ -n "$consul_pid" ]]; then
  wait "$consul_pid" || { echo "install-consul.sh failed" >&2; exit 1; }
  CONSUL_BIN=$(cat "$installs/consul")
  export CONSUL_BIN
fi
wait "$apt_pid" || { echo "installing Debian's packages failed" >&2; exit 1; }

echo "== go mod download"
go mod download

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$bad" ]]; then
  echo "gofmt would change:"; echo "$bad"; exit 1
fi

echo "== go vet"
# With -race, vet compiles the packages as the race tests below will, so on
# a fresh machine everything is compiled once, not twice. Files kept out of
# race builds are vetted without it.
go vet -race -tags "$TAGS" ./...
go vet ./selector/

echo "== go test -race"
# One test binary at a time (-p 1): the backend suites start real servers and
# measure recoveries against deadlines; two of them at once on a 2-core
# machine only add noise. go vet above already compiled the packages.
go test -race -count=1 -p 1 -tags "$TAGS" -timeout 40m ./...

# The race detector allocates and makes sync.Pool drop items on purpose, so
# the selectors' "0 allocs per Select" and strict-rotation tests skip under
# -race: run them again without it, so those claims are checked too.
echo "== selector claims without -race"
go test -count=1 -v -run 'DoesNotAllocate|Rotates' ./selector/

if has_tag mdns; then
  # Multicast tests run only inside a network namespace of their own.
  echo "== mdns tests in a network namespace"
  bash scripts/test-mdns.sh
fi

#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests
# need (Go modules; the ZooKeeper server when the zookeeper backend is
# built), checks formatting and vet, then runs all tests with -race and every
# backend's build tag.
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

if [[ " $TAGS " == *" zookeeper "* ]]; then
  bash scripts/install-zookeeper.sh
fi

echo "== go mod download"
go mod download

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$bad" ]]; then
  echo "gofmt would change:"; echo "$bad"; exit 1
fi

echo "== go vet"
go vet -tags "$TAGS" ./...

echo "== go test -race"
go test -race -count=1 -tags "$TAGS" -timeout 40m ./...

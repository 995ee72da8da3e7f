#!/usr/bin/env bash
# Builds the Consul agent the consul backend's tests run, from the Go module
# proxy (Consul has no Debian package), once, and caches the binary outside
# the repo. Prints the binary's path. Idempotent: a cached binary is reused.
#
# Facts behind the recipe: ../shared/notes/real-backends.md (a wrapper module
# with consul's own require/exclude blocks minus its local replaces; two
# sub-modules unknown to the checksum database).
set -euo pipefail

VERSION="${CONSUL_VERSION:-1.20.2}"
CACHE="${DISCOVERY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seedforge-discovery}"
BIN="$CACHE/consul-$VERSION/consul"

if [[ -x "$BIN" ]] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

export GOTOOLCHAIN=local
export GONOSUMDB="github.com/hashicorp/consul/envoyextensions,github.com/hashicorp/consul/troubleshoot"
work="$CACHE/consul-$VERSION/build"
rm -rf "$work"
mkdir -p "$work"
cd "$work"

gomod=$(go mod download -json "github.com/hashicorp/consul@v$VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[[ -f "$gomod" ]] || { echo "install-consul: cannot download consul v$VERSION's go.mod" >&2; exit 1; }

{
  echo "module consulbuild"
  echo
  grep -m1 '^go ' "$gomod"
  echo
  echo "require github.com/hashicorp/consul v$VERSION"
  echo
  # consul's own require and exclude blocks, without its ./local replaces.
  awk '
    /^(require|exclude) \(/ { keep=1 }
    keep { print }
    keep && /^\)/ { keep=0; print "" }
    /^(require|exclude) [^(]/ { print }
  ' "$gomod"
} > go.mod
cat > main.go <<'GO'
package main

import _ "github.com/hashicorp/consul"

func main() {}
GO
echo "install-consul: building consul v$VERSION (several minutes on 2 cores)" >&2
# No debug information: the test agent is never debugged, and DWARF costs
# build time.
CGO_ENABLED=0 go build -mod=mod -ldflags="-s -w" -gcflags=all=-dwarf=false -o "$BIN" github.com/hashicorp/consul >&2
"$BIN" version >&2
rm -rf "$work"
echo "$BIN"

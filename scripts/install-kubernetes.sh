#!/usr/bin/env bash
# Builds the kube-apiserver and kube-controller-manager the kubernetes
# backend's tests run, from the Go module proxy (no Debian package ships an
# API server), once, and caches both binaries outside the repo. Prints the two
# paths, one a line: apiserver first, controller-manager second.
# Idempotent: cached binaries are reused. Concurrent callers wait on a lock
# instead of building twice.
#
# Facts behind the recipe: ../shared/notes/real-backends.md (k8s.io/kubernetes
# refuses `go install` because its go.mod replaces the staging modules with
# ./staging/...; a wrapper module that replaces each of them with its v0.X.Y
# release builds). Cost on 2 cores: about 11 min for the apiserver, 3 more
# for the controller-manager.
set -euo pipefail

VERSION="${KUBERNETES_VERSION:-1.37.2}"
STAGING_VERSION="v0.${VERSION#1.}"
CACHE="${DISCOVERY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seedforge-discovery}"
DIR="$CACHE/kubernetes-$VERSION"
APISERVER="$DIR/kube-apiserver"
CONTROLLER_MANAGER="$DIR/kube-controller-manager"

built() {
  [[ -x "$APISERVER" && -x "$CONTROLLER_MANAGER" ]] &&
    "$APISERVER" --version >/dev/null 2>&1 &&
    "$CONTROLLER_MANAGER" --version >/dev/null 2>&1
}

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if built; then
  echo "$APISERVER"
  echo "$CONTROLLER_MANAGER"
  exit 0
fi

export GOTOOLCHAIN=local
# No debug information: test servers are never debugged, and generating
# DWARF for two 100 MB binaries is a fair share of the build.
NODEBUG=(-ldflags="-s -w" -gcflags=all=-dwarf=false)
work="$DIR/build"
rm -rf "$work"
mkdir -p "$work/kube-apiserver" "$work/kube-controller-manager"
cd "$work"

staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client cri-streaming csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver streaming)
{
  echo "module kubebuild"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes v$VERSION"
  echo
  for m in "${staging[@]}"; do
    echo "replace k8s.io/$m => k8s.io/$m $STAGING_VERSION"
  done
} > go.mod

# The two mains, as in k8s.io/kubernetes/cmd/*/: the upstream command run by
# component-base's cli.Run.
cat > kube-apiserver/main.go <<'GO'
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
GO
cat > kube-controller-manager/main.go <<'GO'
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
GO

echo "install-kubernetes: resolving k8s.io/kubernetes v$VERSION" >&2
go mod tidy >&2
echo "install-kubernetes: building kube-apiserver v$VERSION (about 11 min on 2 cores)" >&2
start=$SECONDS
CGO_ENABLED=0 go build "${NODEBUG[@]}" -o "$APISERVER.tmp" ./kube-apiserver >&2
mv "$APISERVER.tmp" "$APISERVER"
echo "install-kubernetes: kube-apiserver built in $((SECONDS - start)) s" >&2
echo "install-kubernetes: building kube-controller-manager v$VERSION (about 3 min more)" >&2
start=$SECONDS
CGO_ENABLED=0 go build "${NODEBUG[@]}" -o "$CONTROLLER_MANAGER.tmp" ./kube-controller-manager >&2
mv "$CONTROLLER_MANAGER.tmp" "$CONTROLLER_MANAGER"
echo "install-kubernetes: kube-controller-manager built in $((SECONDS - start)) s" >&2
"$APISERVER" --version >&2
cd "$DIR"
rm -rf "$work"
echo "$APISERVER"
echo "$CONTROLLER_MANAGER"

#!/usr/bin/env bash
# Installs Debian's ZooKeeper server (and the JRE it pulls in) when it is
# missing, for the zookeeper backend's tests, which start a standalone server
# themselves. Idempotent: exits 0 at once when the jar is already there.
set -euo pipefail

jar=/usr/share/java/zookeeper.jar
if [[ -f "$jar" ]] && command -v java >/dev/null 2>&1; then
	exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "install-zookeeper: need root (or sudo) to apt-get install zookeeper" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-zookeeper: $jar or java missing; installing Debian's zookeeper package" >&2
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends zookeeper

if [[ ! -f "$jar" ]] || ! command -v java >/dev/null 2>&1; then
	echo "install-zookeeper: zookeeper package installed but $jar or java is still missing" >&2
	exit 1
fi
echo "install-zookeeper: installed ($(dpkg-query -W -f='${Version}' zookeeper))" >&2

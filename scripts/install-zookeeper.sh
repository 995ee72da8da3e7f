#!/usr/bin/env bash
# Installs Debian's ZooKeeper server (and the JRE it pulls in) when it is
# missing, for the zookeeper backend's tests, which start a standalone server
# themselves. Idempotent: exits 0 at once when the jar is already there.
set -euo pipefail

jar=/usr/share/java/zookeeper.jar
if [[ -f "$jar" ]] && command -v java >/dev/null 2>&1; then
	exit 0
fi

echo "install-zookeeper: $jar or java missing; installing Debian's zookeeper package" >&2
bash "$(dirname "$0")/apt-install.sh" zookeeper

if [[ ! -f "$jar" ]] || ! command -v java >/dev/null 2>&1; then
	echo "install-zookeeper: zookeeper package installed but $jar or java is still missing" >&2
	exit 1
fi
echo "install-zookeeper: installed ($(dpkg-query -W -f='${Version}' zookeeper))" >&2

#!/usr/bin/env bash
# apt-install.sh PACKAGE... : installs Debian packages, through sudo when not
# root. The install-*.sh scripts call it once they know something is missing.
set -euo pipefail

sudo=""
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "apt-install: need root (or sudo) to apt-get install $*" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "$@"

#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing, for the dashboard's tests,
# which drive a headless browser through the DevTools protocol (chromedp).
# Idempotent: exits 0 at once when chromium is already there.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
	exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "install-chromium: need root (or sudo) to apt-get install chromium" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-chromium: chromium missing; installing Debian's chromium package" >&2
$sudo apt-get update -q
$sudo apt-get install -y -q chromium

if ! command -v chromium >/dev/null 2>&1; then
	echo "install-chromium: chromium package installed but the chromium command is still missing" >&2
	exit 1
fi

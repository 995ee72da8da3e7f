#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing, for the dashboard's tests,
# which drive a headless browser through the DevTools protocol (chromedp).
# Idempotent: exits 0 at once when chromium is already there.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
echo "install-chromium: chromium missing; installing Debian's chromium package" >&2
bash "$(dirname "$0")/apt-install.sh" chromium
if ! command -v chromium >/dev/null 2>&1; then
	echo "install-chromium: chromium package installed but the chromium command is still missing" >&2
	exit 1
fi

#!/usr/bin/env bash
# Install Debian's chromium (and CJK fonts, so Chinese pages render) for the browser tests.
# Needs root (CI runs as root). Playwright never downloads a browser: tests point it at
# /usr/bin/chromium.
set -euo pipefail
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-browser: not root; install the Debian packages chromium and fonts-noto-cjk" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium fonts-noto-cjk >/dev/null

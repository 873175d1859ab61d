#!/usr/bin/env bash
# Set up a virtual environment with the project and its test tools, then run the test suite.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
# The browser tests need Debian's chromium; install it when we may (root), else they skip.
if [ "$(id -u)" = 0 ] || [ -x /usr/bin/chromium ]; then
    bash scripts/install-browser.sh || echo "chromium not installed: browser tests will skip"
fi
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Set up (.venv), create a demo county in instance/demo.sqlite (once), and start the county
# server on http://127.0.0.1:5000. Usage: bash scripts/demo.sh [--port N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
port=5000
if [ "${1:-}" = "--port" ]; then port=$2; fi
export CUNSYNC_STORAGE_URL="sqlite:///$(pwd)/instance/demo.sqlite"
if [ ! -f instance/demo.sqlite ]; then
    .venv/bin/cunsync-server demo
fi
cat <<MSG

cunsync county server (demo county 长顺坝县) on http://127.0.0.1:$port
  console:           http://127.0.0.1:$port/console/  (supervisor jiandu / demo-password; admin for devices)
  API description:   http://127.0.0.1:$port/api/v1/openapi.json
  open conflicts:    curl -u jiandu:demo-password http://127.0.0.1:$port/api/v1/conflicts
  users:             admin, jiandu (supervisor), team01..team08; password demo-password
Stop with Ctrl-C. Start afresh: rm instance/demo.sqlite*
MSG
exec .venv/bin/cunsync-server run --host 127.0.0.1 --port "$port"

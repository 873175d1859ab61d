#!/usr/bin/env bash
# Set up (.venv), create a demo county in instance/demo.sqlite (once), and start the county
# server on http://127.0.0.1:5000. Usage: bash scripts/demo.sh [--port N]
# The demo's files go to $CUNSYNC_INSTANCE_PATH when set, else instance/ in the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: bash scripts/demo.sh [--port N]   (N: a free port, 1-65535; default 5000)" >&2
    exit 2
}

port=5000
while [ $# -gt 0 ]; do
    case "$1" in
        --port) [ $# -ge 2 ] || { echo "demo.sh: --port needs a number" >&2; usage; }
                port=$2; shift 2 ;;
        --port=*) port=${1#--port=}; shift ;;
        -h|--help) echo "usage: bash scripts/demo.sh [--port N]"; exit 0 ;;
        *) echo "demo.sh: unknown argument: $1" >&2; usage ;;
    esac
done
if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    echo "demo.sh: --port needs a number from 1 to 65535, not '$port'" >&2
    usage
fi
# Before anything is built or printed: is something listening there already?
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo.sh: port $port is in use (another server?); choose another:" \
         "bash scripts/demo.sh --port $((port == 65535 ? 5001 : port + 1))" >&2
    exit 1
fi

source scripts/venv.sh
instance=${CUNSYNC_INSTANCE_PATH:-$(pwd)/instance}
export CUNSYNC_INSTANCE_PATH="$instance"
export CUNSYNC_STORAGE_URL="sqlite:///$instance/demo.sqlite"
if [ ! -f "$instance/demo.sqlite" ]; then
    # The banner below gives the code to use; the demo's own one would only confuse.
    .venv/bin/cunsync-server demo | { grep -v '^enrolment code' || true; }
fi
# A fresh code at every start (a code is shown only once and is used up by one tablet):
# team01's tablet for 白岩村, the demo's first village (server/demo.py).
code=$(.venv/bin/cunsync-server enrol-code issue --user team01 --village 522731100201 \
       --hours 72 | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["code"])')
cat <<MSG

cunsync county server (demo county 长顺坝县) on http://127.0.0.1:$port
  console:           http://127.0.0.1:$port/console/  (supervisor jiandu / demo-password; admin for devices)
  API description:   http://127.0.0.1:$port/api/v1/openapi.json
  open conflicts:    curl -u jiandu:demo-password http://127.0.0.1:$port/api/v1/conflicts
  users:             admin, jiandu (supervisor), team01..team08; password demo-password
  enrol a tablet:    enrolment code $code (team01, 白岩村; valid 72 hours, one tablet)
                     in another terminal, in this folder:
                       export CUNSYNC_HOME=$instance/demo-tablet
                       .venv/bin/cunsync enroll --server http://127.0.0.1:$port --code $code
                       .venv/bin/cunsync app      # the field app on http://127.0.0.1:8765/
Stop with Ctrl-C. Start afresh: rm $instance/demo.sqlite*
MSG
exec .venv/bin/cunsync-server run --host 127.0.0.1 --port "$port"

#!/usr/bin/env bash
# Stop the private pcscd started by testbed/pcscd-start.sh DIR, by its PID.
set -euo pipefail
dir=${1:?usage: pcscd-stop.sh DIR}
[ -f "$dir/pcscd.pid" ] && kill "$(cat "$dir/pcscd.pid")" 2>/dev/null || true
rm -f "$dir/pcscd.pid"

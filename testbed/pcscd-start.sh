#!/usr/bin/env bash
# Start a private pcscd with vpcd readers for manual use: testbed/pcscd-start.sh DIR [BASE_PORT]
# Prints the PCSCLITE_CSOCK_NAME to export and writes DIR/pcscd.pid. Stop with testbed/pcscd-stop.sh DIR.
set -euo pipefail
dir=${1:?usage: pcscd-start.sh DIR [BASE_PORT]}
base=${2:-35963}
mkdir -p "$dir/reader.conf.d" "$dir/run" /run/pcscd
hex=$(printf '0x%X' "$base")
printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:%s\nLIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID %s\n' "$hex" "$hex" > "$dir/reader.conf.d/vpcd"
unshare -m --propagation private sh -c "mount --bind '$dir/run' /run/pcscd && exec pcscd -f -c '$dir/reader.conf.d'" >"$dir/pcscd.log" 2>&1 &
echo $! > "$dir/pcscd.pid"
for _ in $(seq 50); do [ -S "$dir/run/pcscd.comm" ] && break; sleep 0.1; done
echo "export PCSCLITE_CSOCK_NAME=$dir/run/pcscd.comm   # vpcd ports $base and $((base + 1))"

#!/usr/bin/env bash
# Debian packages Sillage's tests and demos stand on: real PC/SC (pcscd + vpcd virtual readers), PKCS#11
# modules (SoftHSM2, OpenSC), Chromium for the UI tests, PostgreSQL (and PgBouncer in front of it) for the
# session server, Xvfb, msitools,
# a software TPM with its PKCS#11 module (swtpm, tpm2-pkcs11) for the workstation key.
# --if-missing: install only when something is missing (npm test calls it this way); needs root + apt.
set -euo pipefail
PKGS=(gcc libc6-dev python3 pcscd libpcsclite-dev vsmartcard-vpcd softhsm2 opensc openssl chromium xvfb postgresql libusb-1.0-0 msitools wixl libxml2-utils swtpm libtpm2-pkcs11-1 pgbouncer)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  [ "${1:-}" = "--if-missing" ] || echo "setup-system: all packages present"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "setup-system: missing Debian packages: ${missing[*]} — install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts no daemons here (no systemd); tests start their own private pcscd and PostgreSQL.

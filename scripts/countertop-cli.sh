#!/bin/sh
# /usr/local/bin/countertop (installed by install-pi.sh): the terminal's command line, run as the
# service user. Run by root (sudo countertop ...), it switches to user countertop first, so the
# journal and print queue files it creates in /var/lib/countertop stay writable by the service;
# a root-owned journal.db would stop the terminal. SUDO_USER survives the switch, so the audit
# trail still names the person.
set -eu
COUNTERTOP_BIN="${COUNTERTOP_BIN:-/opt/countertop/venv/bin/countertop}"
COUNTERTOP_USER="${COUNTERTOP_USER:-countertop}"
if [ "$(id -u)" -eq 0 ] && [ "$COUNTERTOP_USER" != root ]; then
    exec runuser -u "$COUNTERTOP_USER" -- "$COUNTERTOP_BIN" "$@"
fi
exec "$COUNTERTOP_BIN" "$@"

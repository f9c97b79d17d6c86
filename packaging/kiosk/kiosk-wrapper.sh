#!/bin/sh
# /usr/bin/kiosk: the technician's `kiosk` command (kiosk doctor, kiosk status, ...).
# Runs the real command as the `kiosk` user, so that it reads /etc/kiosk/kiosk.toml (mode
# 0600) and never leaves files owned by root in /var/lib/kiosk.
REAL=/opt/hailong/venv/bin/kiosk
# `kiosk update` (docs/updates.md) installs software: it stays root's.
if [ "$(id -un)" = kiosk ] || { [ "$(id -u)" = 0 ] && [ "${1:-}" = update ]; }; then
    exec "$REAL" "$@"
elif [ "$(id -u)" = 0 ]; then
    exec runuser -u kiosk -- "$REAL" "$@"
else
    exec sudo -u kiosk -- "$REAL" "$@"
fi

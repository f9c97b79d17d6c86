#!/usr/bin/env bash
# The README's run command (`make run`): the whole system on one machine.
#   - the district server on http://127.0.0.1:8000 (SQLite in var/district.db), fleet loaded
#   - one kiosk registered as "dev-kiosk" in Thanh Nhàn ward, its config in var/kiosk.toml
#   - the kiosk's sync agent, in the background
#   - the kiosk UI in a window (keys 1, 2, 3 vote; Ctrl+C here stops everything)
#   - a dev officer (CB-DEV) with a badge sheet in var/badges.pdf, and a simulated serial
#     scanner (a pty pair, var/scanner-tty): to "scan" the officer's badge into it, run
#       cat var/dev-badge.txt > var/scan          (or: echo 000.00.00.H00-241201-0001 > var/scan)
# State survives between runs in var/; delete var/ to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
VAR=var
PORT=${PORT:-8000}
mkdir -p "$VAR"
export DISTRICT_DB="sqlite:///$PWD/$VAR/district.db"
# The development server's own configuration (plain HTTP on loopback), so that a district
# server installed on this machine (/etc/district/district.toml, HTTPS) is never picked up.
export DISTRICT_CONFIG="$PWD/$VAR/district.toml"
cat > "$DISTRICT_CONFIG" <<TOML
# Written by scripts/run-local.sh: the development server, plain HTTP on loopback only.
[database]
url = "$DISTRICT_DB"
[listen]
host = "127.0.0.1"
port = $PORT
TOML
export KIOSK_CONFIG="$PWD/$VAR/kiosk.toml"

"$BIN/district" units load config/fleet.toml >/dev/null

# The badge key beside the dev server's configuration (district setup makes it in service),
# a dev officer, their badge sheet, and their badge's text for the simulated scanner.
badge_key=$("$BIN/python" - "$VAR" <<'PY'
import sys
from pathlib import Path
from district.badges import ensure_key, public_key_text, sign
key = ensure_key(Path(sys.argv[1]))[0]
Path(sys.argv[1], "dev-badge.txt").write_text(sign(key, "CB-DEV", 1) + "\n")
print(public_key_text(key))
PY
)
if ! "$BIN/district" officers list --unit hbt-thanh-nhan 2>/dev/null | grep -q 'CB-DEV'; then
  "$BIN/district" officers add CB-DEV --name "Nguyễn Văn Thử" --unit hbt-thanh-nhan >/dev/null
fi
"$BIN/district" officers badges --unit hbt-thanh-nhan --code CB-DEV --out "$VAR/badges.pdf" \
  >/dev/null

if [ ! -f "$VAR/kiosk.toml" ]; then
  if "$BIN/district" terminals list 2>/dev/null | grep -q '^dev-kiosk\b'; then
    token=$("$BIN/district" terminals rotate dev-kiosk | tail -n 1)
  else
    token=$("$BIN/district" terminals add dev-kiosk --unit hbt-thanh-nhan \
      --name "Máy thử tại máy tính" | tail -n 1)
  fi
  umask 077
  cat > "$VAR/kiosk.toml" <<TOML
# Written by scripts/run-local.sh for a developer's machine.
[terminal]
id = "dev-kiosk"
unit = "hbt-thanh-nhan"
name = "Bộ phận một cửa phường Thanh Nhàn"
[gpio]
pin_factory = "mock"
[storage]
path = "$PWD/$VAR/kiosk/votes.db"
[server]
url = "http://127.0.0.1:$PORT"
token = "$token"
[sync]
interval_s = 3
heartbeat_interval_s = 30
[followup]
enabled = true
[technician]
pin = "$(printf '%06d' $((RANDOM * RANDOM % 1000000)))"
[ui]
fullscreen = false
TOML
fi
if ! grep -q '^\[attribution\]' "$VAR/kiosk.toml"; then
  cat >> "$VAR/kiosk.toml" <<TOML
[attribution]
badge_public_key = "$badge_key"
scanner = "serial"
scanner_device = "$PWD/$VAR/scanner-tty"
staff_pin = "1357"
TOML
fi

if [ ! -f "$VAR/official.txt" ]; then
  "$BIN/district" users add admin --role district > "$VAR/official.txt"
fi

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$BIN/district" serve --host 127.0.0.1 --port "$PORT" > "$VAR/district.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do  # the agent would only log "cannot reach" until the server is up
  "$BIN/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/healthz', timeout=1)" \
    2>/dev/null && break
  sleep 0.2
done
"$BIN/kiosk" sync > "$VAR/sync.log" 2>&1 &
pids+=($!)
# The simulated serial scanner: a pty pair, the kiosk reads var/scanner-tty; each line
# written to the FIFO var/scan is one scan.
rm -f "$VAR/scan" && mkfifo "$VAR/scan"
"$BIN/python" - "$VAR" <<'PY' &
import os, sys
from pathlib import Path
var = Path(sys.argv[1])
master, slave = os.openpty()
link = var / "scanner-tty"
link.unlink(missing_ok=True)
link.symlink_to(os.ttyname(slave))
while True:  # each writer's lines, then wait for the next writer
    with open(var / "scan", "rb") as fifo:
        for line in fifo:
            os.write(master, line.rstrip(b"\r\n") + b"\r\n")
PY
pids+=($!)

echo "Bảng theo dõi / dashboard: http://127.0.0.1:$PORT/  (tài khoản / account:)"
sed 's/^/    /' "$VAR/official.txt"
echo "Nhật ký / logs: $VAR/district.log, $VAR/sync.log"
echo "Thẻ cán bộ / badge: $VAR/badges.pdf; quét thẻ / scan it: cat $VAR/dev-badge.txt > $VAR/scan"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  # No screen (a server or CI): the UI runs on a virtual one so the rest still works.
  echo "Không có màn hình: chạy giao diện trên Xvfb :77 / no display: UI on Xvfb :77"
  Xvfb :77 -screen 0 1024x600x24 -nolisten tcp > "$VAR/xvfb.log" 2>&1 &
  pids+=($!)
  export DISPLAY=:77
  sleep 1
fi
"$BIN/kiosk" run --windowed

#!/usr/bin/env bash
# Starts the services the tests need when they are not running already: PostgreSQL.
# (Xvfb is started per test session by tests/conftest.py.)
set -u
if command -v pg_ctlcluster >/dev/null; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    for v in /etc/postgresql/*; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
    done
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
exit 0

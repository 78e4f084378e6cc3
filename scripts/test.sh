#!/usr/bin/env bash
# `make test`: set everything up and run the whole suite (pytest) against PostgreSQL and Redis.
# Arguments (and $ARGS, which `make test ARGS="-k foo"` passes) go to pytest; its exit code is ours.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$ROOT/scripts/services.sh"
cd "$ROOT"

if [ -n "${ARGS:-}" ]; then
  eval "set -- $ARGS \"\$@\""  # shell quoting in ARGS works: ARGS='-k "a and b"'
fi

ensure_python_env
ensure_test_services
source "$ROOT/scripts/conformance.sh"
ensure_conformance  # the MCP conformance suite and Node 22 (tests/conformance)
export DJANGO_SETTINGS_MODULE=omni.settings

log "pytest $*  (DATABASE_URL=$(printf '%s' "$DATABASE_URL" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#'), REDIS_URL=$REDIS_URL)"
exec "$VENV/bin/python" -m pytest "$@"

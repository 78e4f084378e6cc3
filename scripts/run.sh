#!/usr/bin/env bash
# `make run`: set everything up (idempotent, fast on re-run) and serve the platform on the embedded
# default: SQLite under var/, no Redis, one daphne process on 127.0.0.1:${PORT:-8000}.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PORT="${PORT:-8000}"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "PORT=$PORT is not a port number"
BASE_URL="http://127.0.0.1:$PORT"
MCP_URL="$BASE_URL/mcp"
export DJANGO_SETTINGS_MODULE=omni.settings
export OMNI_PUBLIC_URL="${OMNI_PUBLIC_URL:-$BASE_URL}"
PY="$VENV/bin/python"

ensure_python_env

# Fail now, not after seeding, when the port is taken (daphne binds with SO_REUSEADDR too).
"$PY" - "$PORT" <<'PYEOF' || die "127.0.0.1:$PORT is in use: stop what runs there or use \`make run PORT=8001\`"
import socket, sys
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
PYEOF

if [ -n "${DATABASE_URL:-}" ]; then
  log "database: DATABASE_URL from the environment"
else
  log "database: SQLite var/omni.sqlite3 (embedded default)"
fi
[ -n "${REDIS_URL:-}" ] && log "redis: REDIS_URL from the environment"

log "manage.py migrate"
"$PY" manage.py migrate --noinput -v 0

log "manage.py seed_demo"
seed_output=$("$PY" manage.py seed_demo | sed 's/\x1b\[[0-9;]*m//g')
printf '%s\n' "$seed_output" | sed 's/^/    /'

# seed_demo shows the admin password only when it creates the admin: keep it for later runs.
login_file="$ROOT/var/make-run-login"
password=$(printf '%s\n' "$seed_output" | sed -n 's/^superuser admin: .*password: \([^ ]*\)$/\1/p' | tail -n1)
password_note=""
if [ -n "$password" ]; then
  (umask 077 && printf '%s\n' "$password" >"$login_file")
elif [ -f "$login_file" ]; then
  password=$(cat "$login_file")
  password_note="  (from an earlier run; \`manage.py seed_demo --reset-password\` makes a new one)"
fi

log "manage.py create_api_key --org acme --name make-run"
api_key=$("$PY" manage.py create_api_key --org acme --name make-run | tail -n1)
[[ -n "$api_key" && "$api_key" != *" "* ]] || die "create_api_key did not print a key on its last line"

if [ -n "$password" ]; then
  login="admin / $password$password_note"
else
  login="admin / (unknown: \`.venv/bin/python manage.py seed_demo --reset-password\` sets a new one)"
fi

cat <<TXT

================================================================================
 Omni MCP Platform
   Web UI       $BASE_URL/   (Django admin: $BASE_URL/admin/, system health: $BASE_URL/ops/health/)
   Login        $login
   MCP URL      $MCP_URL        (Streamable HTTP; legacy SSE at $BASE_URL/sse)
   API key      $api_key   (organization acme, name make-run)

 Cursor (~/.cursor/mcp.json), Claude Code, VS Code and other clients that speak HTTP:
{
  "mcpServers": {
    "omni": {
      "type": "http",
      "url": "$MCP_URL",
      "headers": { "Authorization": "Bearer $api_key" }
    }
  }
}

 Claude Desktop (claude_desktop_config.json) through the mcp-remote bridge (needs Node.js):
{
  "mcpServers": {
    "omni": {
      "command": "npx",
      "args": ["-y", "mcp-remote", "$MCP_URL", "--header", "Authorization:\${OMNI_AUTH}"],
      "env": { "OMNI_AUTH": "Bearer $api_key" }
    }
  }
}

 MCP Inspector: npx @modelcontextprotocol/inspector  (Streamable HTTP, URL above,
                header Authorization: Bearer <key>).  More: docs/clients.md
================================================================================

TXT

log "serving on $BASE_URL (Ctrl-C stops)"
exec "$VENV/bin/daphne" -b 127.0.0.1 -p "$PORT" omni.asgi:application

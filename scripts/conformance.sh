#!/usr/bin/env bash
# The official MCP conformance suite (npm @modelcontextprotocol/conformance), Node 22 to run it and
# the suite's reference server (tests/conformance/reference/everything-server.ts, from the suite's
# repository at the same version) with what it needs, installed into var/conformance from
# tests/conformance/package-lock.json. Nothing goes outside var/ (Node 22 is the npm package
# `node`); only npm itself comes from apt when missing. Idempotent: a stamp of the inputs skips
# the install when nothing changed. tests/conformance/test_conformance.py runs it before the suite.
#
#   scripts/conformance.sh          install (when needed) and print the directory
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONFORMANCE_SRC="$ROOT/tests/conformance"
CONFORMANCE_DIR="${OMNI_CONFORMANCE_DIR:-$ROOT/var/conformance}"

ensure_conformance() {
  local want have="" file
  want=$(cat "$CONFORMANCE_SRC/package-lock.json" "$CONFORMANCE_SRC/bearer.mjs" \
    "$CONFORMANCE_SRC/reference/everything-server.ts" | sha256sum | cut -d' ' -f1)
  [ -f "$CONFORMANCE_DIR/.stamp" ] && have=$(cat "$CONFORMANCE_DIR/.stamp")
  if [ "$want" = "$have" ] && [ -x "$CONFORMANCE_DIR/node_modules/.bin/node" ]; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || apt_install npm
  mkdir -p "$CONFORMANCE_DIR"
  for file in package.json package-lock.json bearer.mjs reference/everything-server.ts; do
    cp "$CONFORMANCE_SRC/$file" "$CONFORMANCE_DIR/"
  done
  log "npm ci the MCP conformance suite, Node 22 and the reference server into $CONFORMANCE_DIR"
  (cd "$CONFORMANCE_DIR" && npm ci --no-audit --no-fund --loglevel=error) \
    || die "npm ci in $CONFORMANCE_DIR failed (see above)"
  "$CONFORMANCE_DIR/node_modules/.bin/node" --version | grep -q '^v22\.' \
    || die "$CONFORMANCE_DIR/node_modules/.bin/node is not Node 22"
  printf '%s\n' "$want" >"$CONFORMANCE_DIR/.stamp"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_conformance
  echo "$CONFORMANCE_DIR"
fi

# Shared helpers for scripts/*.sh. Source it; do not run it.
#
# Everything here is idempotent: each step checks first and acts only when something is missing,
# so a second `make run` / `make test` does no apt-get, no venv creation and no pip install.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP_DIR="$VENV/.omni-stamps"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (run as root or install sudo)"
  fi
}

# True when the Debian package is installed.
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# apt-get install only the packages that are missing; `apt-get update` once per script run.
_APT_UPDATED=""
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    have_pkg "$pkg" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 \
    || die "missing packages ${missing[*]} and no apt-get here (this script targets Debian 12): install them yourself"
  if [ -z "$_APT_UPDATED" ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Set PYTHON_BIN to a Python 3.11-3.13 interpreter, installing Debian's python3 when there is none.
# $PYTHON wins when set; then python3.11 / python3 on PATH (pyenv, a developer's own build), then
# Debian's /usr/bin/python3 (3.11 on Debian 12).
find_python() {
  local candidate path
  PYTHON_BIN=""
  for candidate in ${PYTHON:-} python3.11 python3 /usr/bin/python3.11 /usr/bin/python3; do
    path=$(command -v "$candidate" 2>/dev/null) || continue
    if "$path" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))' 2>/dev/null; then
      PYTHON_BIN=$path
      return 0
    fi
  done
  [ -n "${PYTHON:-}" ] && die "PYTHON=$PYTHON is not a Python 3.11-3.13 interpreter"
  apt_install python3
  [ -x /usr/bin/python3 ] || die "no Python 3.11+ found and apt-get did not provide one"
  PYTHON_BIN=/usr/bin/python3
}

# Create .venv when it is missing or broken. Debian's python3 needs python3-venv for ensurepip.
ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    return 0
  fi
  find_python
  if ! "$PYTHON_BIN" -c 'import venv, ensurepip' 2>/dev/null; then
    case "$PYTHON_BIN" in
      /usr/bin/*)
        apt_install python3-venv "python3.$("$PYTHON_BIN" -c 'import sys; print(sys.version_info[1])')-venv"
        ;;
      *) die "$PYTHON_BIN has no working venv/ensurepip module; set PYTHON=/path/to/python3.11" ;;
    esac
  fi
  log "creating .venv with $PYTHON_BIN ($("$PYTHON_BIN" --version 2>&1))"
  rm -rf "$VENV"
  "$PYTHON_BIN" -m venv "$VENV"
}

# pip install -r requirements.txt, only when requirements.txt (or the interpreter) changed since the
# last successful install. A build failure (a package without a wheel for this machine) gets
# Debian's compiler and Python headers, then one retry.
ensure_requirements() {
  local want have=""
  want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1) $("$VENV/bin/python" -c 'import sys; print(sys.version)' | head -n1)"
  [ -f "$STAMP_DIR/requirements" ] && have=$(cat "$STAMP_DIR/requirements")
  [ "$want" = "$have" ] && return 0
  log "pip install -r requirements.txt"
  if ! "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements.txt"; then
    if have_pkg build-essential && have_pkg python3-dev; then
      die "pip install -r requirements.txt failed (see above)"
    fi
    warn "pip install failed; installing build-essential and python3-dev, then retrying"
    apt_install build-essential python3-dev
    "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements.txt" || die "pip install -r requirements.txt failed"
  fi
  mkdir -p "$STAMP_DIR"
  printf '%s\n' "$want" >"$STAMP_DIR/requirements"
}

# The Python side of every entry point: interpreter, .venv, packages.
ensure_python_env() {
  ensure_venv
  ensure_requirements
}

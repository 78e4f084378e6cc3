#!/usr/bin/env bash
# Prepare the Prometheus multiprocess directory of one deployment, before its processes start:
#
#   eval "$(scripts/metrics_dir.sh)"          # wipe (or create) it, then export PROMETHEUS_MULTIPROC_DIR
#   honcho start                               # web, worker, beat inherit the variable
#
# The directory is $PROMETHEUS_MULTIPROC_DIR, or var/prometheus under the checkout. Every web and
# worker process writes its samples to its own files there and /metrics sums them, so it must be
# empty when the deployment starts (files of the previous run would be added to the new counts) and
# must NOT be wiped while any process of the deployment runs (its samples would vanish from /metrics):
# the script refuses when a running process has a file of the directory mapped. Restarting a single
# process (granian respawning a worker, `systemctl restart omni-worker`) needs no wipe: a dead
# process's counters stay in the sums, as Prometheus counters should. With systemd, run it as
# ExecStartPre= of the unit (or target) that starts all of them together. Prints the export line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="${PROMETHEUS_MULTIPROC_DIR:-$ROOT/var/prometheus}"
case "$dir" in
  "" | "/" | "$HOME" | "$ROOT") die "PROMETHEUS_MULTIPROC_DIR=$dir: refusing to wipe that directory" ;;
esac
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

holders=""
for maps in /proc/[0-9]*/maps; do
  if grep -qF "$dir/" "$maps" 2>/dev/null; then
    pid="${maps#/proc/}"
    holders="$holders ${pid%/maps}"
  fi
done
[ -z "$holders" ] || die "processes still use $dir (pids:$holders): stop the deployment first"

find "$dir" -maxdepth 1 -type f -name '*.db' -delete
log "PROMETHEUS_MULTIPROC_DIR=$dir (empty)"
printf 'export PROMETHEUS_MULTIPROC_DIR=%q\n' "$dir"

#!/bin/bash
# Stops the analysis workstation after IDLE_STOP_HOURS without use: no login session (EC2 Instance
# Connect SSH sessions are in utmp), no Session Manager session, and a 15-minute load average below 1
# (a timeline or memory analysis left running after logout keeps it up). Run by a systemd timer;
# `--reset` (at boot) starts the idle clock afresh. The instance's shutdown behaviour is `stop`, so
# powering off stops it and keeps its volumes.
set -euo pipefail

env_file="${IRF_ENV_FILE:-/etc/ir-forensics/workstation.env}"
# shellcheck source=/dev/null
. "$env_file"
: "${IDLE_STOP_HOURS:?IDLE_STOP_HOURS is not set in $env_file}"
state_dir="${IRF_STATE_DIR:-/var/lib/ir-forensics}"
loadavg_file="${IRF_LOADAVG_FILE:-/proc/loadavg}"
stamp="$state_dir/last-activity"

mkdir -p "$state_dir"
if [ "${1:-}" = "--reset" ] || [ ! -f "$stamp" ]; then
  touch "$stamp"
  exit 0
fi

busy() {
  [ -n "$(who)" ] && return 0
  pgrep -f ssm-session-worker >/dev/null && return 0
  awk '{ exit !($3 >= 1.0) }' "$loadavg_file"
}

if busy; then
  touch "$stamp"
  exit 0
fi

idle=$(($(date +%s) - $(stat -c %Y "$stamp")))
if [ "$idle" -ge $((IDLE_STOP_HOURS * 3600)) ]; then
  echo "ir-forensics-idle-stop: idle for ${idle}s (limit ${IDLE_STOP_HOURS}h): powering off" >&2
  systemctl poweroff
fi

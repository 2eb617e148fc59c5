#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start_cluster.sh started, each by the pid in its pid file, and nothing
# else: a munged that was already running before start_cluster.sh (no pid file of ours) is left alone.
# Jobs still queued or running in the test cluster are cancelled first, and /etc/slurm/slurm.conf is
# removed if start_cluster.sh wrote it. Safe to call twice.
#
# Environment: LR_SLURM_DIR (default /tmp/localregions-slurm); LR_SLURM_KEEP_MUNGE=1 keeps munged running.
set -uo pipefail

STATE=${LR_SLURM_DIR:-/tmp/localregions-slurm}
log() { echo "[stop_cluster] $*" >&2; }

# stop PIDFILE NAME: SIGTERM the pid in PIDFILE if it still runs NAME, wait up to 10 s, then SIGKILL.
stop() {
    local pidfile=$1 name=$2 pid
    [[ -s "$pidfile" ]] || return 0
    pid=$(<"$pidfile")
    if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -r "/proc/$pid/comm" ]] && [[ "$(<"/proc/$pid/comm")" == "$name" ]]; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
        if [[ -d "/proc/$pid" ]]; then
            log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
}

CONF=/etc/slurm/slurm.conf
MARK="# Written by tests/slurm/start_cluster.sh"
ours=0
[[ -s "$CONF" ]] && grep -qF "$MARK" "$CONF" && ours=1
if ((ours)) && [[ -s "$STATE/slurmctld.pid" ]]; then
    timeout 10 scancel --quiet --user=root >/dev/null 2>&1 || true   # only this test cluster's jobs
fi
stop "$STATE/slurmd.pid" slurmd
stop "$STATE/slurmctld.pid" slurmctld
if [[ "${LR_SLURM_KEEP_MUNGE:-0}" != 1 ]]; then
    stop "$STATE/munged.pid" munged
    # Leave no configuration behind that points at daemons that no longer run (only our own file).
    ((ours)) && rm -f "$CONF"
fi
exit 0

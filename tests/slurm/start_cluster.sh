#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (Debian/Ubuntu, root, no systemd needed), for tests.
#
#   eval "$(tests/slurm/start_cluster.sh)"     # prints `export SLURM_CONF=...`; progress goes to stderr
#   ... sbatch / snakemake --executor slurm ...
#   tests/slurm/stop_cluster.sh                # stops exactly the daemons this script started
#
# Idempotent: packages already installed are not reinstalled; daemons this script started earlier are
# reused when they still run with the same configuration, else stopped by their pid files and restarted.
# The configuration goes to /etc/slurm/slurm.conf (with a marker line; an existing file without that marker,
# i.e. a real cluster's, is never overwritten); state, logs and pid files live in LR_SLURM_DIR
# (default /tmp/localregions-slurm). It must be the default path: inside a job, Snakemake's jobstep plugin
# drops every SLURM_* variable (SLURM_CONF too) before it calls srun.
# No accounting database (slurmdbd) and no cgroups: jobs are tracked by squeue only, so Snakemake's
# SLURM executor must be run with `--slurm-status-command squeue` (profiles/slurm sets it).
#
# Environment: LR_SLURM_DIR, LR_SLURM_PARTITION (default "debug"), LR_SLURMCTLD_PORT (6817),
# LR_SLURMD_PORT (6818), LR_SLURM_WAIT (seconds to wait for the node to become idle, default 60).
set -euo pipefail

STATE=${LR_SLURM_DIR:-/tmp/localregions-slurm}
PARTITION=${LR_SLURM_PARTITION:-debug}
CTLD_PORT=${LR_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${LR_SLURMD_PORT:-6818}
WAIT=${LR_SLURM_WAIT:-60}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=/etc/slurm/slurm.conf
MARK="# Written by tests/slurm/start_cluster.sh"

log() { echo "[start_cluster] $*" >&2; }
die() { echo "[start_cluster] ERROR: $*" >&2; exit 1; }
# alive PIDFILE NAME: the pid in PIDFILE runs a process whose command name is NAME
alive() {
    local pid
    [[ -s "$1" ]] || return 1
    pid=$(<"$1")
    [[ "$pid" =~ ^[0-9]+$ ]] && [[ -r "/proc/$pid/comm" ]] && [[ "$(<"/proc/$pid/comm")" == "$2" ]]
}

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts slurmd as root)"

# 1. Packages (skipped when present).
missing=()
for pkg in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # Post-install scripts try to start services and fail quietly without systemd; we start them below.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# 2. Configuration (into a temporary file first, to see whether running daemons need a restart).
HOST=$(hostname -s)
getent hosts "$HOST" >/dev/null || die "host name $HOST does not resolve; add it to /etc/hosts"
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)   # below the machine's, or slurmd drains
if [[ -e "$CONF" ]] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script (a real cluster?); not touching it"
fi
mkdir -p "$STATE"/{etc,ctld,spool,log} /etc/slurm
NEW_CONF=$(mktemp "$STATE/etc/slurm.conf.XXXXXX")
cat >"$NEW_CONF" <<EOF
$MARK: a one-node cluster without accounting or cgroups.
ClusterName=localregions
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# MinJobAge stays at its default (300 s): squeue must still list a finished job when Snakemake asks.
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$CONF"

# 3. munge: reuse a working munged (ours or the system's); otherwise start one and remember its pid.
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already answers; reusing it"
else
    [[ -s /etc/munge/munge.key ]] || { log "creating /etc/munge/munge.key"; mungekey --create >&2 || create-munge-key -f >&2; }
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- munged
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$STATE/munged.pid"   # the mark that this script started it (stop_cluster.sh)
    munge -n | unmunge >/dev/null || die "munged started but a credential does not round-trip"
    log "started munged (pid $(<"$STATE/munged.pid"))"
fi

# 4. slurmctld and slurmd: reuse ours when running with an unchanged configuration.
if alive "$STATE/slurmctld.pid" slurmctld && alive "$STATE/slurmd.pid" slurmd && cmp -s "$NEW_CONF" "$CONF"; then
    rm -f "$NEW_CONF"
    log "slurmctld and slurmd already running from $STATE; reusing them"
else
    if alive "$STATE/slurmctld.pid" slurmctld || alive "$STATE/slurmd.pid" slurmd; then
        log "restarting this script's slurm daemons"
        LR_SLURM_KEEP_MUNGE=1 LR_SLURM_DIR="$STATE" "$HERE/stop_cluster.sh"
    fi
    install -m 0644 "$NEW_CONF" "$CONF"
    rm -f "$NEW_CONF"
    for port in "$CTLD_PORT" "$SLURMD_PORT"; do
        if command -v ss >/dev/null && ss -ltnH "sport = :$port" | grep -q .; then
            die "port $port is taken (another SLURM?); set LR_SLURMCTLD_PORT / LR_SLURMD_PORT"
        fi
    done
    # Both daemonise and write their pid files. A first start cannot read saved state: harmless.
    slurmctld || die "slurmctld failed; see $STATE/log/slurmctld.log"
    for _ in $(seq 50); do alive "$STATE/slurmctld.pid" slurmctld && break; sleep 0.1; done
    alive "$STATE/slurmctld.pid" slurmctld || die "slurmctld did not stay up; see $STATE/log/slurmctld.log"
    slurmd || die "slurmd failed; see $STATE/log/slurmd.log"
    for _ in $(seq 50); do alive "$STATE/slurmd.pid" slurmd && break; sleep 0.1; done
    alive "$STATE/slurmd.pid" slurmd || die "slurmd did not stay up; see $STATE/log/slurmd.log"
    log "started slurmctld (pid $(<"$STATE/slurmctld.pid")) and slurmd (pid $(<"$STATE/slurmd.pid"))"
fi

# 5. Wait for the node to accept jobs.
state=""
for ((i = 0; i < WAIT * 2; i++)); do
    state=$(sinfo -h -N -n "$HOST" -o %t 2>/dev/null | head -n1 || true)
    case "$state" in
        idle | mix | alloc) break ;;
        drain* | drng) scontrol update NodeName="$HOST" State=RESUME >&2 || true ;;
    esac
    sleep 0.5
done
case "$state" in
    idle | mix | alloc) log "node $HOST is $state in partition $PARTITION" ;;
    *) die "node $HOST is '${state:-unknown}' after ${WAIT}s; see $STATE/log/" ;;
esac

echo "export SLURM_CONF=$CONF"

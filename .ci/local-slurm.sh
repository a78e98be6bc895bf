#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, for testing `snakemake --executor slurm`.
#
#   .ci/local-slurm.sh up     install (Debian slurm-wlm + munge), configure, start; idempotent
#   .ci/local-slurm.sh down   stop exactly the daemons `up` started (by PID), nothing else
#   .ci/local-slurm.sh check  exit 0 if this machine can host it (root, apt-get), else say why
#
# No accounting database: Snakemake must poll with `--slurm-status-command squeue`, which
# MinJobAge=600 keeps working for finished jobs (see ../shared/reference/slurm-local.md).
# Writes the Debian binaries' built-in paths (/etc/slurm, /etc/munge, /var/lib/slurm,
# /var/log/slurm, /run): meant for disposable CI machines.
set -euo pipefail

STATE=${LOCAL_SLURM_STATE:-/var/lib/local-slurm}   # PIDs of the daemons this script started

check() {
    [[ $(id -u) == 0 ]] || { echo "not root: cannot install or start SLURM daemons"; return 1; }
    command -v apt-get >/dev/null || { echo "no apt-get: not a Debian-like machine"; return 1; }
}

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge >/dev/null
}

write_config() {
    # RealMemory must not exceed what slurmd detects, or the node is drained.
    local mem cpus
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    cpus=$(nproc)
    mkdir -p /etc/slurm /var/lib/slurm/slurmd /var/lib/slurm/slurmctld /var/log/slurm
    cat >/etc/slurm/slurm.conf <<EOF
ClusterName=localcluster
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$((mem - 512)) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

running() { [[ -f $STATE/$1.pid ]] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start() {  # start NAME PIDFILE COMMAND...: run a self-daemonising daemon, remember its PID
    local name=$1 pidfile=$2
    shift 2
    running "$name" && return
    rm -f "$pidfile"
    "$@"
    for _ in $(seq 50); do [[ -s $pidfile ]] && break; sleep 0.1; done
    [[ -s $pidfile ]] || { echo "$name did not start; see /var/log/slurm or /var/log/munge"; exit 1; }
    cp "$pidfile" "$STATE/$name.pid"
}

up() {
    check || exit 1
    install
    write_config
    mkdir -p "$STATE" /run/munge
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
    [[ -s /etc/munge/munge.key ]] || runuser -u munge -- mungekey --create
    start munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
    start slurmctld /run/slurmctld.pid /usr/sbin/slurmctld
    start slurmd /run/slurmd.pid /usr/sbin/slurmd -N localhost
    scontrol reconfigure >/dev/null 2>&1 || true
    for _ in $(seq 100); do
        sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)' && break
        sleep 0.2
    done
    scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
    sinfo
    srun --quiet hostname >/dev/null
    echo "local SLURM cluster is up (PIDs in $STATE)"
}

down() {
    # Reverse order; only daemons whose PIDs this script recorded.
    for name in slurmd slurmctld munged; do
        if running "$name"; then
            local pid
            pid=$(cat "$STATE/$name.pid")
            kill "$pid"
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$STATE/$name.pid"
    done
    # Clients keep reading /etc/slurm/slurm.conf, and with no controller each one retries
    # for MessageTimeout - 1 s (9 s by default). Snakemake's SLURM plugin runs `scontrol
    # show config` on import, so every later Snakemake run would wait that long: say that
    # nobody answers at once. `up` writes the full config again.
    if [[ -f /etc/slurm/slurm.conf ]] && ! grep -q '^MessageTimeout=1$' /etc/slurm/slurm.conf; then
        echo "MessageTimeout=1" >>/etc/slurm/slurm.conf
    fi
    echo "local SLURM cluster is down"
}

case ${1:-} in
    up) up ;;
    down) down ;;
    check) check ;;
    *) echo "usage: $0 up|down|check" >&2; exit 2 ;;
esac

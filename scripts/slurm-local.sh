#!/usr/bin/env bash
# A single-node Slurm on this machine, for tests and for trying `xai3d submit --engine slurm` (run as root):
#   bash scripts/slurm-local.sh start   munge key + munged, slurm.conf with this machine's CPUs and memory,
#                                       slurmctld and slurmd (no systemd needed); waits until the node is idle
#   bash scripts/slurm-local.sh stop    stops slurmd, slurmctld and munged
#   bash scripts/slurm-local.sh status  sinfo
# Needs the Debian packages slurm-wlm and munge (apt-get install -y slurm-wlm munge).
set -euo pipefail
cmd="${1:-}"
conf=/etc/slurm/slurm.conf
state=/var/spool/slurmctld
spool=/var/spool/slurmd
log=/var/log/slurm
need() { command -v "$1" >/dev/null 2>&1 || { echo "slurm-local: $1 not found: apt-get install -y slurm-wlm munge" >&2; exit 1; }; }

start() {
  [ "$(id -u)" = 0 ] || { echo "slurm-local: run as root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }
  need munged; need slurmctld; need slurmd; need sinfo
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem_mb="$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
  mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge /etc/slurm "$state" "$spool" "$log"
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
  if ! pgrep -x munged >/dev/null; then
    if id munge >/dev/null 2>&1; then runuser -u munge -- munged; else munged --force; fi
  fi
  cat > "$conf" <<CONF
# Written by scripts/slurm-local.sh: one node, this machine.
ClusterName=xai3d-local
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$state
SlurmdSpoolDir=$spool
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "slurm-local: up ($host, $cpus CPUs, ${mem_mb} MB; partition local)"
      return 0
    fi
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "slurm-local: the node did not become idle; see $log/slurmctld.log and $log/slurmd.log" >&2
  sinfo >&2 || true
  exit 1
}

stop() {
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
  echo "slurm-local: stopped"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: bash scripts/slurm-local.sh start|stop|status" >&2; exit 2 ;;
esac

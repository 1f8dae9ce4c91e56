# A one-node Slurm cluster (Debian's slurm-wlm and munge) on its own ports, for the cluster
# tests: source it, then `start_slurm_cluster`. It sets `work` (a scratch directory, removed
# with the cluster on exit), SLURM_CONF and `fail MESSAGE`; `job` (when set) is cancelled on
# exit. Exits 77 (skipped) when Slurm is not installed.
start_slurm_cluster() {
  for tool in slurmctld slurmd sbatch squeue scancel munged; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "skipped: $tool is not installed"; exit 77; }
  done
  export PATH="$PATH:/usr/sbin"
  # Daemons left by an earlier run that was killed before its cleanup hold our ports.
  pkill -f "kiln-slurm\.[A-Za-z0-9]*/slurm.conf" 2>/dev/null && sleep 1
  work=$(mktemp -d /tmp/kiln-slurm.XXXXXX)
  export SLURM_CONF="$work/slurm.conf"
  host=$(hostname -s)
  cleanup() {
    scancel --full "${job:-0}" 2>/dev/null || true
    for d in slurmctld slurmd; do
      [ -f "$work/$d.pid" ] && kill "$(cat "$work/$d.pid")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$work"
  }
  trap cleanup EXIT
  fail() { echo "FAILED: $*"; tail -20 "$work"/*.log "$work"/sw/*.out 2>/dev/null || true; exit 1; }

  cat >"$SLURM_CONF" <<CONF
ClusterName=kilntest
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=kiln Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  mkdir -p "$work/state" "$work/spool" /run/munge
  if ! munge -n >/dev/null 2>&1; then
    [ -f /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    runuser -u munge -- /usr/sbin/munged || /usr/sbin/munged --force
    sleep 1
  fi
  slurmctld -c -f "$SLURM_CONF" && slurmd -c -f "$SLURM_CONF" || fail "the Slurm daemons did not start"
  for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && break
    sleep 1
  done
  sinfo -h -o %T | grep -q idle || fail "the node did not come up: $(sinfo 2>&1)"
}

#!/usr/bin/env bash
# A real Slurm job array runs a Kiln sweep with docs/cluster/sweep.sbatch: a one-node
# cluster (Debian's slurm-wlm and munge) is started here on its own ports, two array
# tasks work one sweep, one task gets SIGUSR1 as before a time limit (its trial checkpoints
# and is requeued, the task requeues itself), and the sweep ends with every trial completed
# exactly once. Exits 77 (skipped) when Slurm is not installed.
#   tests/cluster/slurm_array_test.sh KILN_BINARY
set -euo pipefail
kiln=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
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

mkdir -p "$work/sw"
cd "$work/sw"
"$kiln" data synth --out data --rows 20000 --seed 5 >/dev/null
cat >base.yaml <<CONF
data: {train: data/train, valid: data/valid, batch_size: 256, threads: 1}
model: {type: mlp, hidden: [32, 16], embedding_dim: 4}
optim: {warmup_steps: 5}
train: {steps: 800, eval_every: 50, keep_last: 1}
CONF
echo 'optim.lr: [0.001, 0.002, 0.003, 0.004]' >space.yaml
"$kiln" sweep init --config base.yaml --space space.yaml --dir "$work/sw/S" --sampler grid \
  --scheduler none --heartbeat 0.5 --stale-after 5 >/dev/null
job=$(SWEEP_DIR="$work/sw/S" KILN="$kiln" sbatch --parsable --array=0-1 --cpus-per-task=1 \
  --time=10 "$root/docs/cluster/sweep.sbatch")
echo "submitted array job $job"
deadline=$((SECONDS + 120))
until ls "$work"/sw/S/trials/*/checkpoints/latest >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "no trial wrote a checkpoint"
  sleep 0.2
done
scancel --signal=USR1 --batch "${job}_0" || fail "could not signal task 0"
deadline=$((SECONDS + 300))
while [ $SECONDS -lt $deadline ]; do
  done_=$("$kiln" sweep status --dir "$work/sw/S" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get("completed", 0))')
  [ "$done_" = 4 ] && break
  sleep 1
done
"$kiln" sweep status --dir "$work/sw/S"
[ "$done_" = 4 ] || fail "the sweep did not finish"
python3 - "$work/sw/S/journal.jsonl" "$job" <<'PY' || fail "journal check"
import collections, json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
job = sys.argv[2]
finals = collections.Counter(e["trial"] for e in events if e["event"] == "rung" and e["final"])
assert sorted(finals.values()) == [1, 1, 1, 1], finals
workers = {e["worker"] for e in events if e["event"] == "claim"}
assert all(w.startswith(f"slurm-{job}_") for w in workers), workers
requeues = [e for e in events if e["event"] == "requeue"]
assert any("stopped by a signal" in e["reason"] for e in requeues), requeues
print(f"journal: 4 trials completed once each by {sorted(workers)}; "
      f"{len(requeues)} requeued after SIGUSR1")
PY
grep -q "requeueing" "$work/sw/kiln-sweep-${job}_0.out" || fail "task 0 did not requeue itself"
echo "PASSED: a Slurm job array ran the sweep; the signalled task checkpointed and requeued"

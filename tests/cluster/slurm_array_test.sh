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
source "$root/tests/cluster/slurm_cluster.sh"
start_slurm_cluster

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

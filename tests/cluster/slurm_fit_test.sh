#!/usr/bin/env bash
# Data-parallel `kiln fit` as Slurm starts it, on a real one-node cluster: `srun` inside an
# `sbatch --ntasks=2` job starts two tasks that train one model together (Gloo, the
# rendezvous on the node list's first host at the job's own port), and `kiln fit` run
# directly in such a batch script is one process that says why, instead of a rank waiting
# for a peer that never starts. Exits 77 (skipped) when Slurm is not installed.
#   tests/cluster/slurm_fit_test.sh KILN_BINARY
set -euo pipefail
kiln=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/cluster/slurm_cluster.sh"
start_slurm_cluster

mkdir -p "$work/f"
cd "$work/f"
"$kiln" data synth --out data --rows 20000 --seed 5 >/dev/null
fit="$kiln fit data.train=data/train data.valid=data/valid data.batch_size=128 data.threads=1 \
train.steps=60 train.eval_every=30 model.hidden=[16] train.dist_timeout_s=60 run.dir=runs"

sbatch --wait --ntasks=2 --cpus-per-task=1 -o srun.out \
  --wrap "srun --kill-on-bad-exit=1 $fit run.name=srun2" >/dev/null ||
  fail "the srun job failed: $(tail -5 srun.out)"
python3 - runs/default/srun2 <<'PY' || fail "the srun job did not train as 2 ranks: $(tail -5 srun.out)"
import json, sys
run = json.load(open(sys.argv[1] + "/run.json"))
result = json.load(open(sys.argv[1] + "/result.json"))
assert run.get("world_size") == 2 and run.get("backend") == "gloo", run
assert result["steps"] == 60, result
print(f"srun: 2 ranks (gloo), {result['steps']} steps, val auroc {result['objective']['value']:.4f}")
PY

start=$(date +%s)
sbatch --wait --ntasks=2 --cpus-per-task=1 -o batch.out --wrap "$fit run.name=batch" >/dev/null ||
  fail "kiln fit in the batch script failed: $(tail -5 batch.out)"
grep -q "SLURM_NTASKS is 2 but this is the job's batch script" batch.out ||
  fail "no warning that the batch script is one process: $(tail -5 batch.out)"
python3 - runs/default/batch <<'PY' || fail "the batch script's fit was not one process"
import json, sys
run = json.load(open(sys.argv[1] + "/run.json"))
assert "world_size" not in run, run
print("batch script: one process, as warned")
PY
[ $(($(date +%s) - start)) -lt 50 ] || fail "the batch script's fit waited for peers"
echo "PASSED: srun's tasks trained as 2 ranks; the batch script alone trained as one process"

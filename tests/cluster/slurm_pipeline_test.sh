#!/usr/bin/env bash
# A pipeline's steps run as Slurm jobs (kiln pipeline run --executor slurm) on a real
# one-node cluster: every step's log says which job ran it, the pipeline promotes, and the
# rerun is cached without submitting anything. Exits 77 (skipped) when Slurm is not installed.
#   tests/cluster/slurm_pipeline_test.sh KILN_BINARY
set -euo pipefail
kiln=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/cluster/slurm_cluster.sh"
start_slurm_cluster

mkdir -p "$work/p"
cd "$work/p"
"$kiln" data synth --out data --rows 20000 --seed 5 >/dev/null
cat >p.yaml <<'YAML'
registry: reg
datasets: {train: data/train, valid: data/valid, test: data/test}
steps:
  check: {kind: validate, datasets: [train, valid, test]}
  train: {kind: fit, overrides: [train.steps=60, train.eval_every=30, "model.hidden=[16]"],
          train: train, valid: valid, after: [check]}
  test: {kind: evaluate, model: train, data: test}
  register: {kind: register, model: train, name: fraud, alias: candidate, reports: [test]}
  promote: {kind: promote, version: register, data: test, after: [test]}
YAML
"$kiln" pipeline run p.yaml --dir D --executor slurm --sbatch-arg=--cpus-per-task=1 ||
  fail "the pipeline failed: $(tail -5 D/steps/*/*/log.txt)"
for step in check train test register promote; do
  grep -q "kiln pipeline: step $step in Slurm job [0-9]" D/steps/$step/*/log.txt ||
    fail "step $step did not run as a Slurm job"
done
"$kiln" registry show fraud@champion --registry reg >/dev/null || fail "nothing was promoted"
"$kiln" pipeline run p.yaml --dir D --executor slurm --json >again.json || fail "the rerun failed"
python3 - again.json <<'PY' || fail "the rerun was not all cached"
import json, sys
steps = json.load(open(sys.argv[1]))["steps"]
assert all(s.get("cached") for s in steps), [(s["name"], s["state"]) for s in steps]
print(f"rerun: {len(steps)} steps cached")
PY
echo "PASSED: every step ran as a Slurm job; the rerun was cached"

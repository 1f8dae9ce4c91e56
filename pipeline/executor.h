// Where a pipeline's step commands run (`kiln pipeline run --executor`): here as child
// processes ("local"), or each as a Slurm job ("slurm": `sbatch --wait`, which exits with the
// job's code, the job's output appended to the step's log).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/signals.h"

namespace kiln::pipeline {

class Executor {
 public:
  // UsageError for a kind that is not local or slurm; InputError for slurm without sbatch on
  // PATH. `sbatch_args` are added to every sbatch (--partition=gpu, --gres=gpu:1).
  Executor(const std::string& kind, std::vector<std::string> sbatch_args);

  // Runs `args` to its end, its output appended to `log`, and returns its exit code. Under
  // slurm the command of pipeline step `step` runs as the job kiln-STEP-KEY (`key` the
  // step's cache key); with no step it runs here. The first stop
  // signal in `signals` is passed on (SIGINT as SIGTERM; to a job by `scancel --signal`, and
  // sbatch returns when the job has ended). `waiting` is called every 20 ms until it ends.
  int run(const std::vector<std::string>& args, const std::string& log,
          const core::StopSignals& signals, const std::string& step, const std::string& key,
          const std::function<void()>& waiting) const;

 private:
  std::vector<std::string> as_job(const std::vector<std::string>& args, const std::string& log,
                                  const std::string& step, const std::string& job) const;

  std::string sbatch_;  // slurm: its path; local: ""
  std::vector<std::string> sbatch_args_;
};

}  // namespace kiln::pipeline

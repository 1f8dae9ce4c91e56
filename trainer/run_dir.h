// A run directory of `kiln fit` (docs/TRAINING.md): where it is, what it resumes from, and
// its files other than checkpoints: status.json (state and heartbeat), config.resolved.yaml,
// run.json, result.json and metrics.jsonl. No LibTorch.
//
//   <run.dir>/<run.experiment>/<run_id>/{status.json, config.resolved.yaml, run.json,
//                                        result.json, metrics.jsonl, checkpoints/, reports/}
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/checkpoint.h"
#include "core/jsonl.h"
#include "registry/registry.h"
#include "trainer/config.h"

namespace kiln::trainer {

class RunDirectory {
 public:
  // The run `run` names (a new run id when run.name is empty), or with `resume` the run to
  // continue: "auto", the newest checkpoint of that run that verifies (none: a fresh start;
  // those that do not verify are skipped with a warning), or a checkpoint or run directory
  // (then its run). Creates the directory and reports/. OutputError when a fresh start would
  // write over another run's checkpoints or the directory cannot be made; DataError or
  // InputError from a named checkpoint that does not verify. With `version`, `resume` is a
  // registry version (its directory): it is continued in the run `run` names, not in the
  // registry.
  static RunDirectory open(const RunOptions& run, const std::string& resume,
                           const std::optional<registry::Resolved>& version = std::nullopt);

  // Rank r > 0 of a data-parallel job: the run rank 0 opened at `path`, continuing the
  // checkpoint `resumed` ("" for a fresh start). Rank 0 writes the run's files: here
  // status(), heartbeat() and write() do nothing and metrics_from() returns nullptr.
  static RunDirectory follow(const std::string& path, const std::string& resumed,
                             const std::optional<registry::Resolved>& version);

  const std::string& path() const { return path_; }
  bool writes() const { return writes_; }           // false on the ranks that follow rank 0
  std::string file(const std::string& name) const;  // path()/name
  std::string checkpoints() const { return file("checkpoints"); }
  // The checkpoint the run continues from, verified; nullopt for a fresh start.
  const std::optional<core::VerifiedCheckpoint>& resumed() const { return resumed_; }
  // The registry version it continues (fit --resume registry:REF), or nullopt.
  const std::optional<registry::Resolved>& resumed_version() const { return resumed_version_; }

  // status.json, rewritten atomically: state ("running", "done", "preempted", "failed"),
  // step, heartbeat time, pid, and at the end the exit code and reason.
  void status(const std::string& state, int64_t step, const std::string& reason = "",
              int exit_code = -1);
  // status("running", step) when the last write is more than a few seconds old.
  void heartbeat(int64_t step);

  // Writes `name` in the run directory atomically.
  void write(const std::string& name, const std::string& text) const;

  // metrics.jsonl for appending, with the lines of steps after `step` dropped first: a run
  // that stopped between an evaluation and its checkpoint left them, and this run, resumed
  // at `step`, writes those evaluations again. Rewritten (atomically) only where one goes.
  std::unique_ptr<core::JsonLinesWriter> metrics_from(int64_t step) const;

 private:
  std::string path_;
  std::optional<core::VerifiedCheckpoint> resumed_;
  std::optional<registry::Resolved> resumed_version_;
  std::chrono::steady_clock::time_point last_status_;
  bool writes_ = true;
};

}  // namespace kiln::trainer

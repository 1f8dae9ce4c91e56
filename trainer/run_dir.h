// A run directory of `kiln fit` (docs/TRAINING.md): where it is, what it resumes from, and
// its files other than checkpoints: status.json (state and heartbeat), config.resolved.yaml,
// run.json, result.json and metrics.jsonl. No LibTorch.
//
//   <run.dir>/<run.experiment>/<run_id>/{status.json, config.resolved.yaml, run.json,
//                                        result.json, metrics.jsonl, checkpoints/, reports/}
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/checkpoint.h"
#include "core/files.h"
#include "core/jsonl.h"
#include "core/textfile_metrics.h"
#include "registry/registry.h"
#include "trainer/config.h"

namespace kiln::trainer {

class RunDirectory {
 public:
  // The run `run` names (a new run id when run.name is empty), or with `resume` the run to
  // continue: "auto", the newest checkpoint of that run that verifies (none: a fresh start;
  // those that do not verify are skipped with a warning), or a checkpoint or run directory
  // (then its run). Creates the directory and reports/, and holds run.lock while this object
  // lives. OutputError when another process holds it (another `kiln fit` writes the run), a
  // fresh start would write over another run's checkpoints or the directory cannot be made;
  // DataError or InputError from a named checkpoint that does not verify. With `version`,
  // `resume` is a registry version (its directory): it is continued in the run `run` names,
  // not in the registry.
  static RunDirectory open(const RunOptions& run, const std::string& resume,
                           const std::optional<registry::Resolved>& version = std::nullopt);

  // Rank r > 0 of a data-parallel job: the run rank 0 opened at `path`, continuing the
  // checkpoint `resumed` ("" for a fresh start; rank 0 verified its hashes, this checks the
  // rest). Rank 0 writes the run's files: here
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
  // step, heartbeat time, pid, the run's preemptions and checkpoints so far (over its
  // resumes), and at the end the exit code and reason. With export_metrics(), the metrics
  // file too.
  void status(const std::string& state, int64_t step, const std::string& reason = "",
              int exit_code = -1);
  // status("running", step) when the last write is more than a few seconds old, with the
  // last train loss and rows a second for the metrics file.
  void heartbeat(int64_t step, double loss = NAN, double rows_per_s = NAN);
  // The best value of the validation metric so far, and a checkpoint written: for the
  // metrics file and status.json.
  void evaluated(const std::string& metric, double best);
  void checkpoint_written() { ++checkpoints_; }

  // Keeps the node_exporter textfile `path` (core::rank_path of it on ranks > 0) up to date
  // from status() and heartbeat(): kiln_fit_* metrics labelled with the run, experiment and
  // rank (docs/TRAINING.md, "Watching a run"); the next status() writes it first (an
  // OutputError naming it when it cannot be written; a later write that fails is a warning:
  // training goes on).
  void export_metrics(const std::string& path, const std::string& experiment, int rank);

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
  // The run's preemptions and checkpoints so far: the resumed run's status.json's, counted on.
  void count_from_status();
  void write_metrics_file();
  void lock();  // run.lock, or OutputError naming the process that holds it

  std::optional<core::FileLock> lock_;  // the writer's; none on the ranks that follow

  std::chrono::steady_clock::time_point last_status_;
  bool writes_ = true;
  int64_t preemptions_ = 0, checkpoints_ = 0;
  core::TextfileMetrics metrics_file_;
  bool metrics_written_ = false;
};

}  // namespace kiln::trainer

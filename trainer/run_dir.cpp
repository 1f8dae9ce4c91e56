#include "trainer/run_dir.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"

namespace kiln::trainer {
namespace {

namespace fs = std::filesystem;

std::string new_run_id() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &tm);
  std::random_device random;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x", random() & 0xffffu);
  return std::string(text) + suffix;
}

}  // namespace

void RunDirectory::lock() {
  // One writer at a time: a second `kiln fit` of this run (a command run twice, a job
  // requeued while its first start still runs) would interleave its checkpoints, metrics
  // and retention with the first's. Held while this object lives; the system releases it
  // when the process ends, however it ends.
  std::error_code error;
  fs::create_directories(path_, error);
  KILN_CHECK(!error, OutputError, "cannot create run directory '", path_, "': ", error.message());
  lock_ = core::lock_writer(file("run.lock"),
                            "run directory '" + path_ + "' is being written by another kiln fit",
                            "wait for it to end, or choose another run.name");
}

RunDirectory RunDirectory::open(const RunOptions& run, const std::string& resume,
                                const std::optional<registry::Resolved>& version) {
  RunDirectory dir;
  dir.resumed_version_ = version;
  dir.path_ =
      (fs::path(run.dir) / run.experiment / (run.name.empty() ? new_run_id() : run.name)).string();
  if (!resume.empty() && resume != "auto") {
    dir.resumed_ = core::verify_checkpoint(resume);
    if (!version)  // continue in the named checkpoint's run
      dir.path_ = fs::path(dir.resumed_->path).parent_path().parent_path().string();
  }
  dir.lock();  // before anything in the run is read or written
  if (resume == "auto") {
    std::vector<std::string> skipped;
    dir.resumed_ = core::newest_good_checkpoint(dir.checkpoints(), &skipped);
    for (const auto& s : skipped)
      core::log_warn("resume: skipping a checkpoint that does not verify: " + s);
  }
  // A fresh start does not write over another run's checkpoints (--resume auto starts
  // afresh only where none of them verifies).
  // A registry version continues in a new run: the same check.
  KILN_CHECK((dir.resumed_ && !version) || resume == "auto" ||
                 core::list_checkpoints(dir.checkpoints()).empty(),
             OutputError, "run directory '", dir.path_,
             "' already holds a run's checkpoints; continue it with --resume auto, or choose "
             "another run.name");
  if (dir.resumed_ && !version) {
    core::remove_leftovers(dir.checkpoints());  // may save nothing
    dir.count_from_status();
  }
  std::error_code error;
  fs::create_directories(fs::path(dir.path_) / "reports", error);
  KILN_CHECK(!error, OutputError, "cannot create run directory '", dir.path_,
             "': ", error.message());
  return dir;
}

RunDirectory RunDirectory::follow(const std::string& path, const std::string& resumed,
                                  const std::optional<registry::Resolved>& version) {
  RunDirectory dir;
  dir.path_ = path;
  dir.writes_ = false;
  dir.resumed_version_ = version;
  // Rank 0 hashed its bytes a moment ago: the structure is checked, not the SHA-256s again.
  if (!resumed.empty()) dir.resumed_ = core::verify_checkpoint(resumed, /*hashes=*/false);
  if (dir.resumed_ && !version) dir.count_from_status();
  return dir;
}

void RunDirectory::count_from_status() {
  const std::string path = file("status.json");
  if (!fs::exists(path)) return;
  const auto s = nlohmann::json::parse(core::read_file(path, "status"), nullptr, false);
  auto count = [&](const char* key) -> int64_t {  // untrusted: anything else counts from 0
    return s.is_object() && s.contains(key) && s[key].is_number_integer()
               ? std::max<int64_t>(0, s[key].get<int64_t>())
               : 0;
  };
  preemptions_ = count("preemptions");
  checkpoints_ = count("checkpoints");
}

void RunDirectory::export_metrics(const std::string& path, const std::string& experiment,
                                  int rank) {
  if (path.empty()) return;
  metrics_file_ = core::TextfileMetrics(core::rank_path(path, rank),
                                        {{"run", fs::path(path_).filename().string()},
                                         {"experiment", experiment},
                                         {"rank", std::to_string(rank)}});
}

std::string RunDirectory::file(const std::string& name) const {
  return (fs::path(path_) / name).string();
}

void RunDirectory::status(const std::string& state, int64_t step, const std::string& reason,
                          int exit_code) {
  last_status_ = std::chrono::steady_clock::now();
  if (state == "preempted") ++preemptions_;
  if (metrics_file_.enabled()) {
    core::TextfileMetrics& m = metrics_file_;
    m.set("kiln_fit_step", "gauge", "Training steps done.", static_cast<double>(step));
    m.set_state("kiln_fit_state", "1 for the run's state, 0 for the others.",
                {"running", "done", "preempted", "failed"}, state);
    m.set_heartbeat("kiln_fit_heartbeat_timestamp_seconds",
                    "Unix time of the run's last sign of life.");
    m.set("kiln_fit_preemptions_total", "counter",
          "Times the run was stopped by a signal, over its resumes.",
          static_cast<double>(preemptions_));
    if (writes_)
      m.set("kiln_fit_checkpoints_written_total", "counter",
            "Checkpoints the run has written, over its resumes.",
            static_cast<double>(checkpoints_));
    write_metrics_file();
  }
  if (!writes_) return;
  nlohmann::ordered_json s = {{"state", state},
                              {"step", step},
                              {"heartbeat", core::utc_timestamp()},
                              {"pid", ::getpid()},
                              {"preemptions", preemptions_},
                              {"checkpoints", checkpoints_}};
  if (exit_code >= 0) s["exit_code"] = exit_code;
  if (!reason.empty()) s["reason"] = reason;
  core::atomic_write(file("status.json"), s.dump(1) + "\n");
}

void RunDirectory::heartbeat(int64_t step, double loss, double rows_per_s) {
  if (std::chrono::steady_clock::now() - last_status_ <= std::chrono::seconds(5)) return;
  if (metrics_file_.enabled()) {
    metrics_file_.set("kiln_fit_train_loss", "gauge", "The last train loss read back.", loss);
    metrics_file_.set("kiln_fit_rows_per_second", "gauge",
                      "Training rows a second of this rank since the start of this process.",
                      rows_per_s);
  }
  status("running", step);
}

void RunDirectory::evaluated(const std::string& metric, double best) {
  metrics_file_.set("kiln_fit_best_validation", "gauge",
                    "The best value of the validation metric (train.metric) so far.", best,
                    {{"metric", metric}});
  if (metrics_file_.enabled()) write_metrics_file();
}

void RunDirectory::write_metrics_file() {
  try {
    metrics_file_.write();
    metrics_written_ = true;
  } catch (const OutputError& e) {
    if (!metrics_written_) throw;  // the first write: a path that cannot work
    core::log_warn(std::string("metrics file not updated (training goes on): ") + e.what());
  }
}

void RunDirectory::write(const std::string& name, const std::string& text) const {
  if (!writes_) return;
  core::atomic_write(file(name), text);
}

std::unique_ptr<core::JsonLinesWriter> RunDirectory::metrics_from(int64_t step) const {
  if (!writes_) return nullptr;
  const std::string path = file("metrics.jsonl");
  if (fs::exists(path)) {
    std::istringstream in(core::read_file(path, "metrics"));
    std::string kept;
    bool dropped = false;
    for (std::string line; std::getline(in, line);) {
      const auto record = nlohmann::json::parse(line, nullptr, false);
      const bool keep = record.is_object() && record.contains("step") &&
                        record["step"].is_number_integer() && record["step"].get<int64_t>() <= step;
      if (keep) kept += line + "\n";
      dropped = dropped || !keep;
    }
    if (dropped) core::atomic_write(path, kept);
  }
  return std::make_unique<core::JsonLinesWriter>(path);
}

}  // namespace kiln::trainer

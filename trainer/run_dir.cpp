#include "trainer/run_dir.h"

#include <unistd.h>

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

RunDirectory RunDirectory::open(const RunOptions& run, const std::string& resume,
                                const std::optional<registry::Resolved>& version) {
  RunDirectory dir;
  dir.resumed_version_ = version;
  dir.path_ =
      (fs::path(run.dir) / run.experiment / (run.name.empty() ? new_run_id() : run.name)).string();
  if (resume == "auto") {
    std::vector<std::string> skipped;
    dir.resumed_ = core::newest_good_checkpoint(dir.checkpoints(), &skipped);
    for (const auto& s : skipped)
      core::log_warn("resume: skipping a checkpoint that does not verify: " + s);
  } else if (!resume.empty()) {
    dir.resumed_ = core::verify_checkpoint(resume);
    if (!version)  // continue in the named checkpoint's run
      dir.path_ = fs::path(dir.resumed_->path).parent_path().parent_path().string();
  }
  // A fresh start does not write over another run's checkpoints (--resume auto starts
  // afresh only where none of them verifies).
  // A registry version continues in a new run: the same check.
  KILN_CHECK((dir.resumed_ && !version) || resume == "auto" ||
                 core::list_checkpoints(dir.checkpoints()).empty(),
             OutputError, "run directory '", dir.path_,
             "' already holds a run's checkpoints; continue it with --resume auto, or choose "
             "another run.name");
  if (dir.resumed_ && !version) core::remove_leftovers(dir.checkpoints());  // may save nothing
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
  if (!resumed.empty()) dir.resumed_ = core::verify_checkpoint(resumed);
  return dir;
}

std::string RunDirectory::file(const std::string& name) const {
  return (fs::path(path_) / name).string();
}

void RunDirectory::status(const std::string& state, int64_t step, const std::string& reason,
                          int exit_code) {
  if (!writes_) return;
  nlohmann::ordered_json s = {
      {"state", state}, {"step", step}, {"heartbeat", core::utc_timestamp()}, {"pid", ::getpid()}};
  if (exit_code >= 0) s["exit_code"] = exit_code;
  if (!reason.empty()) s["reason"] = reason;
  core::atomic_write(file("status.json"), s.dump(1) + "\n");
  last_status_ = std::chrono::steady_clock::now();
}

void RunDirectory::heartbeat(int64_t step) {
  if (std::chrono::steady_clock::now() - last_status_ > std::chrono::seconds(5))
    status("running", step);
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

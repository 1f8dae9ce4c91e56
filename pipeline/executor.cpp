#include "pipeline/executor.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/errors.h"
#include "core/process.h"

namespace kiln::pipeline {

namespace {

namespace fs = std::filesystem;

// The path of `program` on $PATH, or "".
std::string on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string rest = path ? path : "";
  while (!rest.empty()) {
    const std::size_t colon = rest.find(':');
    const fs::path candidate = fs::path(rest.substr(0, colon)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    rest = colon == std::string::npos ? "" : rest.substr(colon + 1);
  }
  return "";
}

// Waits for `child`, calling `waiting` every 20 ms; its exit code.
int wait_for(core::Child& child, const std::function<void()>& waiting) {
  while (true) {
    if (const int code = child.poll(); code >= 0) return code;
    if (waiting) waiting();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

Executor::Executor(const std::string& kind, std::vector<std::string> sbatch_args)
    : sbatch_args_(std::move(sbatch_args)) {
  KILN_CHECK(kind == "local" || kind == "slurm", UsageError, "--executor: '", kind,
             "' is not local or slurm");
  if (kind == "local") return;
  sbatch_ = on_path("sbatch");
  KILN_CHECK(!sbatch_.empty(), InputError,
             "--executor slurm: no sbatch on PATH (Slurm's client commands)");
}

std::vector<std::string> Executor::as_job(const std::vector<std::string>& args,
                                          const std::string& log, const std::string& step,
                                          const std::string& job) const {
  std::string command =
      "echo \"kiln pipeline: step " + step + " in Slurm job $SLURM_JOB_ID on $(hostname)\"; exec";
  for (const std::string& a : args)
    command += " " + core::shell_word(a);
  std::vector<std::string> sbatch = {sbatch_,
                                     "--wait",
                                     "--quiet",
                                     "--job-name=" + job,
                                     "--output=" + log,
                                     "--open-mode=append",
                                     "--chdir=" + fs::current_path().string()};
  sbatch.insert(sbatch.end(), sbatch_args_.begin(), sbatch_args_.end());
  sbatch.insert(sbatch.end(), {"--wrap", command});
  return sbatch;
}

int Executor::run(const std::vector<std::string>& args, const std::string& log,
                  const core::StopSignals& signals, const std::string& step, const std::string& key,
                  const std::function<void()>& waiting) const {
  const bool slurm = !sbatch_.empty() && !step.empty();
  const std::string job = "kiln-" + step + "-" + key;
  core::Child child(core::spawn(slurm ? as_job(args, log, step, job) : args, {}, log, true));
  bool forwarded = false;
  return wait_for(child, [&] {
    if (waiting) waiting();
    const int signal = signals.received();
    if (signal == 0 || forwarded) return;
    forwarded = true;
    const int pass = signal == SIGINT ? SIGTERM : signal;
    if (!slurm) {
      ::kill(child.pid, pass);
      return;
    }
    core::Child cancel(core::spawn({on_path("scancel"), "--full", "--signal",
                                    pass == SIGUSR1 ? "USR1" : "TERM", "--name=" + job},
                                   {}, log, true));
    wait_for(cancel, nullptr);
  });
}

}  // namespace kiln::pipeline

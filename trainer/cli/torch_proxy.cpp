// The LibTorch-free `kiln`'s definitions of the trainer's LibTorch functions
// (docs/ARCHITECTURE.md, "Two binaries"). `kiln` links this file where kiln-torch links
// kiln_trainer: a command that reaches one of these functions has done nothing yet but read
// its inputs, and continues as the same command line in kiln-torch, beside this binary,
// under the same process id (signals, exit codes and the output are kiln-torch's).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "trainer/cli/commands.h"
#include "trainer/evaluate.h"
#include "trainer/fit.h"
#include "trainer/monitor.h"
#include "trainer/predict.h"
#include "trainer/promote.h"
#include "trainer/torch_info.h"

namespace kiln::trainer {

namespace {

// The signal mask the process started with: exec keeps the mask, and whatever this process
// blocked since must not stay blocked in kiln-torch.
const sigset_t kStartMask = [] {
  sigset_t mask;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return mask;
}();

[[noreturn]] void continue_in_kiln_torch() {
  const std::string torch =
      (std::filesystem::path(cli::self_path()).parent_path() / "kiln-torch").string();
  const std::vector<std::string>& line = cli::command_line();
  std::vector<char*> argv;
  for (const std::string& arg : line)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::cout.flush();
  std::fflush(nullptr);
  ::pthread_sigmask(SIG_SETMASK, &kStartMask, nullptr);
  ::execv(torch.c_str(), argv.data());
  throw UnavailableError(detail::concat(torch, ": cannot run it (", errno_text(errno),
                                        "); kiln runs its models in kiln-torch, the binary "
                                        "built and installed beside it"));
}

}  // namespace

FitResult fit(const KilnConfig&, const FitArgs&) {
  continue_in_kiln_torch();
}

PredictResult predict(const PredictOptions&) {
  continue_in_kiln_torch();
}

eval::Scored checkpoint_scores(const std::string&, const std::string&, const EvaluateOptions&,
                               nlohmann::ordered_json*) {
  continue_in_kiln_torch();
}

PromoteResult promote(const PromoteOptions&) {
  continue_in_kiln_torch();
}

TorchInfo torch_info() {
  continue_in_kiln_torch();
}

eval::ModelScores model_scores(const ModelReference&, const std::shared_ptr<const data::Dataset>&,
                               const CurrentScores&) {
  continue_in_kiln_torch();
}

}  // namespace kiln::trainer

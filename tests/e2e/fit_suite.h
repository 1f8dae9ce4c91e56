// A test suite of small, quick `kiln fit` runs on one shared synthetic dataset: batch 256,
// a [32, 16] MLP, checkpoints every `every` steps, all kept, in the test's own directory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "synth_suite.h"

namespace kiln::testing {

template <int Rows>
class FitSuite : public SynthSuite<Rows> {
 protected:
  std::vector<std::string> fit_args(const std::string& name, int steps, int every,
                                    std::vector<std::string> extra = {}) const {
    namespace fs = std::filesystem;
    std::vector<std::string> args = {"fit",
                                     "data.train=" + (this->data() / "d/train").string(),
                                     "data.valid=" + (this->data() / "d/valid").string(),
                                     "data.batch_size=256",
                                     "data.threads=1",
                                     "run.dir=" + (fs::path(this->dir.path()) / "runs").string(),
                                     "run.name=" + name,
                                     "train.steps=" + std::to_string(steps),
                                     "train.eval_every=" + std::to_string(every),
                                     "train.keep_last=100",
                                     "optim.warmup_steps=10",
                                     "model.hidden=[32,16]"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  std::filesystem::path run_dir(const std::string& name) const {
    return std::filesystem::path(this->dir.path()) / "runs/default" / name;
  }
};

}  // namespace kiln::testing

// The LibTorch Kiln is linked against, and what it sees of CUDA.
#pragma once

#include <string>

namespace kiln::trainer {

struct TorchInfo {
  std::string version;        // e.g. "2.11.0"
  std::string cuda_compiled;  // CUDA LibTorch was built with, "" for a CPU-only LibTorch
  std::string cudnn;          // cuDNN LibTorch was built with, "" when none
  int cuda_devices = 0;       // devices LibTorch can use now
};

TorchInfo torch_info();

}  // namespace kiln::trainer

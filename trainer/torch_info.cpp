#include "trainer/torch_info.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

namespace kiln::trainer {
namespace {
std::string dotted_version(long v, long major_div, long minor_div, long minor_mod) {
  return std::to_string(v / major_div) + "." + std::to_string(v / minor_div % minor_mod);
}
}  // namespace

TorchInfo torch_info() {
  TorchInfo info;
  info.version = TORCH_VERSION;
  const auto& hooks = at::detail::getCUDAHooks();
  if (hooks.isBuilt()) {
    info.cuda_compiled = dotted_version(hooks.versionCUDART(), 1000, 10, 100);
    long cudnn = hooks.versionCuDNN();
    if (cudnn > 0) {  // 91900 -> 9.19.0
      info.cudnn = std::to_string(cudnn / 10000) + "." + std::to_string(cudnn / 100 % 100) + "." +
                   std::to_string(cudnn % 100);
    }
    info.cuda_devices = hooks.hasCUDA() ? static_cast<int>(hooks.deviceCount()) : 0;
  }
  return info;
}

}  // namespace kiln::trainer

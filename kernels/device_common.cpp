#include "kernels/device.h"

namespace kiln::kernels {

std::string cuda_version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

}  // namespace kiln::kernels

// cuda_info() for a build without CUDA.
#include "kernels/device.h"

namespace kiln::kernels {

CudaInfo cuda_info() {
  CudaInfo info;
  info.note = "Kiln was built without CUDA (KILN_WITH_CUDA=OFF or no nvcc)";
  return info;
}

bool built_with_cuda() {
  return false;
}

bool gpu_available() {
  return false;
}

}  // namespace kiln::kernels

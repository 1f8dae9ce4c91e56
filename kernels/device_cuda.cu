// cuda_info() for a build with CUDA.
#include <cuda_runtime.h>

#include "kernels/device.h"

namespace kiln::kernels {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
  info.compiled_version = CUDART_VERSION;
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    info.note = std::string("no GPU: ") + cudaGetErrorString(status);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    info.devices.push_back(
        {i, prop.name, prop.totalGlobalMem, prop.major, prop.minor, prop.multiProcessorCount});
  }
  if (info.devices.empty()) info.note = "no GPU: the CUDA runtime sees no device";
  return info;
}

bool built_with_cuda() {
  return true;
}

bool gpu_available() {
  static const bool available = [] {
    int count = 0;
    const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
    cudaGetLastError();  // a machine without a GPU leaves a sticky-free error: clear it
    return ok;
  }();
  return available;
}

}  // namespace kiln::kernels

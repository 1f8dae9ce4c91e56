// The CUDA devices Kiln's own kernels can use. CUDA-free: callers need no CUDA headers.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace kiln::kernels {

struct DeviceInfo {
  int index = 0;
  std::string name;
  std::size_t total_memory = 0;  // bytes
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
};

struct CudaInfo {
  bool compiled = false;     // Kiln's kernels were built with CUDA
  int compiled_version = 0;  // CUDART_VERSION at build time, e.g. 13000
  int runtime_version = 0;   // cudaRuntimeGetVersion; 0 when unknown
  int driver_version = 0;    // cudaDriverGetVersion; 0 when no driver is loaded
  std::vector<DeviceInfo> devices;
  std::string note;  // why there are no devices, when there are none
};

// Queries the CUDA runtime; never throws: a machine without a GPU is a normal answer.
CudaInfo cuda_info();

// Whether Kiln's kernels were built with CUDA (cuda_info().compiled, without the queries).
bool built_with_cuda();

// Whether there is a GPU to run Kiln's kernels on: built with CUDA and the runtime sees a
// device. Asked once per process; never throws.
bool gpu_available();

// 13000 -> "13.0", 12080 -> "12.8".
std::string cuda_version_text(int version);

}  // namespace kiln::kernels

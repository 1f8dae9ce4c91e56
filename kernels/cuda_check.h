// Checking CUDA runtime calls inside kernels/ (CUDA builds only).
#pragma once

#include <cuda_runtime.h>

#include "core/errors.h"

namespace kiln::kernels {

// InternalError "CUDA error while <doing>: <CUDA's message>" unless `status` is success.
inline void cuda_check(cudaError_t status, const char* doing) {
  KILN_CHECK(status == cudaSuccess, InternalError, "CUDA error while ", doing, ": ",
             cudaGetErrorString(status));
}

}  // namespace kiln::kernels

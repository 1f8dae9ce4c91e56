// Where row r of a batch lies in the columns a kernel reads: at r, or, for a batch of rows
// put in order on the GPU (feed/'s device shuffle), at ring row order[(start + r) mod ring].
// Host and device code (`__host__ __device__` under nvcc).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define KILN_ROW_MAP_HD __host__ __device__
#else
#define KILN_ROW_MAP_HD
#endif

namespace kiln::kernels {

struct RowMap {
  const int32_t* order = nullptr;  // nullptr: the rows are in place
  int64_t start = 0;
  int64_t ring = 0;
  KILN_ROW_MAP_HD int64_t operator()(int64_t r) const {
    if (order == nullptr) return r;
    const int64_t p = start + r;
    return order[p < ring ? p : p - ring];
  }
};

}  // namespace kiln::kernels

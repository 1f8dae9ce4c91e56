// Where row r of a batch (data/loader.h) lies in its columns: at r, or, for a batch of the
// loader's gather mode, at ring row order[(start + r) mod ring]. One definition for the host
// (Batch::row) and for CUDA code (the GPU transform, with `order` in device memory).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define KILN_ROW_MAP_HD __host__ __device__
#else
#define KILN_ROW_MAP_HD
#endif

namespace kiln::data {

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

}  // namespace kiln::data

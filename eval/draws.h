// The bootstrap's draws, written once for the CPU and the GPU (`__host__ __device__` under
// nvcc): how many times row `row` is drawn in replicate `replicate`, Poisson(1), from a
// hash of (seed, replicate, row), so that two models scored on the same rows see the same
// draws and no RNG state is shared between threads.
#pragma once

#include <cstdint>

#include "data/random.h"

#if defined(__CUDACC__)
#define KILN_EVAL_HD __host__ __device__ __forceinline__
#else
#define KILN_EVAL_HD inline
#endif

namespace kiln::eval {

KILN_EVAL_HD int poisson_draws(uint64_t seed, int replicate, uint32_t row) {
  // P(X <= k) for X ~ Poisson(1), k = 0..11
  const double cdf[] = {0.36787944117144233, 0.73575888234288467, 0.91969860292860584,
                        0.98101184312384626, 0.99634015317265634, 0.99940581518258232,
                        0.99991675885048672, 0.99998975080018735, 0.99999887479390019,
                        0.99999988857098961, 0.99999998995869855, 0.99999999917575389};
  uint64_t h = data::mix64(data::mix64(seed) ^ (static_cast<uint64_t>(replicate) << 32 | row));
  double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  int k = 0;
  while (k < 12 && u >= cdf[k])
    ++k;
  return k;
}

}  // namespace kiln::eval

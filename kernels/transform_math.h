// The per-element math of the feature transforms, written once for the CPU reference and
// the CUDA kernel (`__host__ __device__` under nvcc, plain inline functions elsewhere).
// The semantics, including NaN, +-Inf and ties at bucket edges, are specified in
// docs/TRANSFORMS.md; tests/kernels/transform_golden.py implements them independently in
// numpy.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define KILN_HD __host__ __device__ __forceinline__
#else
#define KILN_HD inline
#endif

namespace kiln::kernels {

// sign(x) * log1p(|x|): odd, monotone, keeps NaN, +-Inf and -0.
KILN_HD float signed_log1p(float x) {
  float magnitude = log1pf(fabsf(x));
  return x < 0.0f ? -magnitude : (x > 0.0f ? magnitude : x);
}

// x limited to [lo, hi]; NaN stays NaN (it is imputed, or not, before clipping).
KILN_HD float clip(float x, float lo, float hi) {
  if (x != x) return x;
  return x < lo ? lo : (x > hi ? hi : x);
}

// (x - center) * inv_scale, in float32: two correctly rounded operations, so the CPU and
// the GPU agree bit for bit (no contraction into an FMA is possible).
KILN_HD float standardize(float x, float center, float inv_scale) {
  return (x - center) * inv_scale;
}

// x, or `value` when x is NaN.
KILN_HD float impute(float x, float value) {
  return x != x ? value : x;
}

KILN_HD float missing_indicator(float x) {
  return x != x ? 1.0f : 0.0f;
}

// The bucket of x among `count` ascending edges: the number of edges <= x (so a value equal
// to an edge goes to the bucket above it), 0..count; NaN goes to bucket count + 1.
KILN_HD int32_t bucketize(float x, const float* edges, int32_t count) {
  if (x != x) return count + 1;
  int32_t lo = 0, hi = count;  // binary search for the first edge > x
  while (lo < hi) {
    int32_t mid = (lo + hi) / 2;
    if (edges[mid] <= x) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// MurmurHash3's 32-bit finalizer.
KILN_HD uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// A categorical code hashed into buckets 1..buckets (seeded); a missing code (< 0) is 0.
KILN_HD int64_t hash_bucket(int32_t code, uint32_t seed, uint32_t buckets) {
  if (code < 0) return 0;
  return 1 +
         static_cast<int64_t>(fmix32(static_cast<uint32_t>(code) * 0x9e3779b1u ^ seed) % buckets);
}

}  // namespace kiln::kernels

// The per-element math of the feature transforms, written once for the CPU reference and
// the CUDA kernel (`__host__ __device__` under nvcc, plain inline functions elsewhere).
// The semantics, including NaN, +-Inf and ties at bucket edges, are specified in
// docs/TRANSFORMS.md; tests/kernels/transform_golden.py implements them independently in
// numpy.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#if defined(__CUDACC__)
#define KILN_HD __host__ __device__ __forceinline__
#else
#define KILN_HD inline
#endif

namespace kiln::kernels {

// log1p(x) for x >= 0 (or NaN, +Inf), written out in double precision from IEEE basic
// operations only, so the CPU and the GPU compute the same bits (the library log1pf of glibc
// and of CUDA may round differently). 1 + x is exact in double for the floats where it
// matters; log(u) for u = 2^k * m, m in [sqrt(1/2), sqrt(2)), is k*ln2 + 2*atanh(s) with
// s = (m - 1) / (m + 1), |s| < 0.172, summed to s^15 (relative error < 1e-12), then rounded
// once to float. Needs no contraction into FMA: kernels/CMakeLists.txt turns it off.
KILN_HD float log1p_nonnegative(float x) {
  if (!(x <= 3.4028235e38f)) return x;  // NaN, +Inf
  if (x < 0x1p-24f) return x;           // log1p(x) = x - x^2/2 rounds to x
  double u = 1.0 + static_cast<double>(x);
#if defined(__CUDA_ARCH__)
  long long bits = __double_as_longlong(u);
#else
  long long bits;
  __builtin_memcpy(&bits, &u, sizeof bits);
#endif
  int k = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;  // m in [1, 2)
  double m;
#if defined(__CUDA_ARCH__)
  m = __longlong_as_double(bits);
#else
  __builtin_memcpy(&m, &bits, sizeof m);
#endif
  if (m > 1.4142135623730951) {
    m *= 0.5;
    k += 1;
  }
  double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double series = 1.0 / 15;
  series = series * s2 + 1.0 / 13;
  series = series * s2 + 1.0 / 11;
  series = series * s2 + 1.0 / 9;
  series = series * s2 + 1.0 / 7;
  series = series * s2 + 1.0 / 5;
  series = series * s2 + 1.0 / 3;
  series = series * s2 + 1.0;
  return static_cast<float>(static_cast<double>(k) * 0.6931471805599453 + 2.0 * s * series);
}

// sign(x) * log1p(|x|): odd, monotone, keeps NaN, +-Inf and -0.
KILN_HD float signed_log1p(float x) {
  float magnitude = log1p_nonnegative(fabsf(x));
  return x < 0.0f ? -magnitude : (x > 0.0f ? magnitude : x);
}

// x limited to [lo, hi]; NaN stays NaN (it is imputed, or not, before clipping): both
// comparisons are false for it.
KILN_HD float clip(float x, float lo, float hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

// x / sqrt(1 + (x / bound)^2) for bound > 0: about x near 0, tending to +-bound (RealMLP's
// smooth clipping), in float32 from IEEE division and square root, which the CPU and the GPU
// round alike. Where (x / bound)^2 would overflow (|x / bound| > 1e18) the result is
// +-bound, as it rounds to there: +-Inf included; NaN stays NaN. Both sides of the choice are
// computed, so that the CPU's loops over it vectorize.
KILN_HD float smooth_clip(float x, float bound) {
  const float t = x / bound;
  const float smooth = x / sqrtf(1.0f + t * t);
  return fabsf(t) > 1e18f ? copysignf(bound, x) : smooth;
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

// The bucket of x among `count` ascending edges, as a categorical index: 0 for NaN
// (missing), else 1 + the number of edges <= x (so a value equal to an edge goes to the
// bucket above it): 1..count + 1.
KILN_HD int64_t bucketize(float x, const float* edges, int32_t count) {
  if (x != x) return 0;
  int32_t lo = 0, hi = count;  // binary search for the first edge > x
  while (lo < hi) {
    int32_t mid = (lo + hi) / 2;
    if (edges[mid] <= x) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return 1 + lo;
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

// A categorical code through a fitted vocabulary, given as a dense table from code to index
// (`size` entries, each 1 or 2..): a missing code (< 0) is 0, a code past the table is 1
// (out of vocabulary).
KILN_HD int64_t vocabulary_index(int32_t code, const int32_t* table, int32_t size) {
  if (code < 0) return 0;
  return code < size ? table[code] : 1;
}

// The one NaN every float output uses, 0x7FC00000: arithmetic on a NaN keeps its payload
// on a CPU and gives 0x7FFFFFFF on a GPU, so outputs are canonicalized to agree bit for bit.
KILN_HD float canonical_nan() {
#if defined(__CUDA_ARCH__)
  return __int_as_float(0x7fc00000);
#else
  return std::numeric_limits<float>::quiet_NaN();
#endif
}

// ---- one output column of a compiled plan (kernels/transform.h), as plain data ----

enum FeatureFlag : uint32_t {
  kIndicator = 1u << 0,  // the output is missing_indicator(x) and nothing else
  kLog1p = 1u << 1,
  kImpute = 1u << 2,
  kStandardize = 1u << 3,
  kClip = 1u << 4,
  kSmoothClip = 1u << 5,  // clip's other shape: smooth_clip() with clip_high as the bound
};

// A float output: the steps in their fixed order, each present when its flag is set.
struct FeatureProgram {
  int32_t input = 0;  // column of the batch (float32)
  uint32_t flags = 0;
  float impute_value = 0;
  float center = 0;
  float inv_scale = 1;
  float clip_low = 0;
  float clip_high = 0;  // kClip: the upper bound; kSmoothClip: the bound (> 0)
};
// An odd number of words: the GPU kernels read the programs of a warp's 32 columns from shared
// memory, which an even stride would crowd into fewer banks.
static_assert(sizeof(FeatureProgram) == 7 * 4, "FeatureProgram must stay 7 words");

// `p` with each absent step's parameters made neutral, so that the step leaves every value
// as it is: impute with NaN (a NaN stays NaN), standardize with center 0 and scale 1 (x - 0
// and x * 1 are exact, -0 and subnormals included), clip to -Inf..+Inf. Then apply_steps()
// runs every step without looking at the flags (but log1p, the indicator and the clip's
// shape, which it selects by flag), which gives the bits of skipping them.
KILN_HD FeatureProgram neutral_steps(FeatureProgram p) {
  if (!(p.flags & kImpute)) p.impute_value = canonical_nan();
  if (!(p.flags & kStandardize)) {
    p.center = 0.0f;
    p.inv_scale = 1.0f;
  }
  if (!(p.flags & (kClip | kSmoothClip))) {
    p.clip_low = -std::numeric_limits<float>::infinity();
    p.clip_high = std::numeric_limits<float>::infinity();
  }
  return p;
}

// The steps of a neutral_steps() program on `n` values in place, without branches but for
// log1p and the clip's shape (a test of the program's flags, the same for all n): the GPU kernels
// keep their programs in this form, because the 32 threads of a warp may run 32 different output
// columns, whose branches would diverge. Each step is one loop over the n values, so that the
// CPU, which runs a column's block of rows as one call, vectorizes each (`p` by value: a
// reference could alias x, and its fields would be read again for every value).
template <int n>
KILN_HD void apply_steps(const FeatureProgram p, float (&x)[n]) {
#if !defined(__CUDA_ARCH__)
  if (p.flags & kIndicator) {  // the same values; a CPU thread runs a column at a time
    for (int k = 0; k < n; ++k)
      x[k] = missing_indicator(x[k]);
    return;
  }
#endif
  float missing[n];
  for (int k = 0; k < n; ++k)
    missing[k] = missing_indicator(x[k]);
  if (p.flags & kLog1p) {
    for (int k = 0; k < n; ++k)
      x[k] = signed_log1p(x[k]);
  }
  for (int k = 0; k < n; ++k)
    x[k] = standardize(impute(x[k], p.impute_value), p.center, p.inv_scale);
  if (p.flags & kSmoothClip) {
    for (int k = 0; k < n; ++k)
      x[k] = smooth_clip(x[k], p.clip_high);
  } else {
    for (int k = 0; k < n; ++k)
      x[k] = clip(x[k], p.clip_low, p.clip_high);
  }
  for (int k = 0; k < n; ++k) {
    const float v = x[k] != x[k] ? canonical_nan() : x[k];
    x[k] = p.flags & kIndicator ? missing[k] : v;
  }
}

KILN_HD float transform_feature(const FeatureProgram& p, float x) {
  float v[1] = {x};
  apply_steps(neutral_steps(p), v);
  return v[0];
}

enum class CategoricalKind : int32_t { kVocabulary, kHash, kBucketize };

// An int64 output. Vocabulary: tables[offset, offset + count) maps code to index. Hash: seed
// and buckets. Bucketize (a float input): log1p and impute as flagged, then the edges
// edges[offset, offset + count).
struct CategoricalProgram {
  int32_t input = 0;  // column of the batch: int32 codes, or float32 for bucketize
  CategoricalKind kind = CategoricalKind::kVocabulary;
  uint32_t flags = 0;  // kLog1p, kImpute (bucketize)
  float impute_value = 0;
  int32_t offset = 0;
  int32_t count = 0;
  uint32_t seed = 0;
  uint32_t buckets = 1;
};

// One cell of the program's input column, as its 4 raw bytes (an int32 code, or a float32
// for bucketize), so that a caller can load cells before it knows their type. The index fits
// 32 bits (hash buckets and vocabularies are below 2^31), and as an unsigned one it widens to
// the int64 output without an instruction that reads it: on a GPU, a lookup's load can then
// stay in flight until its store.
KILN_HD uint32_t transform_categorical(const CategoricalProgram& p, uint32_t cell,
                                       const int32_t* tables, const float* edges) {
  if (p.kind == CategoricalKind::kBucketize) {
#if defined(__CUDA_ARCH__)
    float x = __uint_as_float(cell);
#else
    float x;
    __builtin_memcpy(&x, &cell, sizeof x);
#endif
    if (p.flags & kLog1p) x = signed_log1p(x);
    if (p.flags & kImpute) x = impute(x, p.impute_value);
    return static_cast<uint32_t>(bucketize(x, edges + p.offset, p.count));
  }
  const auto code = static_cast<int32_t>(cell);
  if (p.kind == CategoricalKind::kHash)
    return static_cast<uint32_t>(hash_bucket(code, p.seed, p.buckets));
  return static_cast<uint32_t>(vocabulary_index(code, tables + p.offset, p.count));
}

// A plan (kernels/transform.h) bound to a schema's column indices, with vocabularies as dense code
// -> index tables and all edges in one array: what the CPU and GPU paths read.
struct CompiledPlan {
  std::vector<FeatureProgram> features;
  std::vector<CategoricalProgram> categoricals;
  std::vector<int32_t> tables;
  std::vector<float> edges;
  int64_t width() const { return static_cast<int64_t>(features.size()); }
  int64_t categorical_width() const { return static_cast<int64_t>(categoricals.size()); }
};

}  // namespace kiln::kernels

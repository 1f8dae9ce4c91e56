// The CPU reference of the fused transform.
#include <algorithm>

#include "kernels/transform.h"

namespace kiln::kernels {

void apply_cpu(const CompiledPlan& plan, const void* const* columns, int64_t rows, float* features,
               int64_t* categorical, core::ThreadPool* pool) {
  constexpr int64_t kBlock = 512;  // rows per task: its slice of the output stays in cache
  const int64_t width = plan.width(), cwidth = plan.categorical_width();
  auto block = [&](int64_t b) {
    int64_t begin = b * kBlock, end = std::min(rows, begin + kBlock);
    // A column's rows of the block, contiguous: each step runs over all of them as one
    // vectorized loop (a short block's rest is zeros or the previous column's values, which
    // are computed on and not written).
    float values[kBlock] = {};
    for (int64_t f = 0; f < width; ++f) {
      const FeatureProgram p = neutral_steps(plan.features[static_cast<std::size_t>(f)]);
      const float* in = static_cast<const float*>(columns[p.input]);
      std::copy(in + begin, in + end, values);
      apply_steps(p, values);
      float* out = features + f;
      for (int64_t r = begin; r < end; ++r)
        out[r * width] = values[r - begin];
    }
    for (int64_t k = 0; k < cwidth; ++k) {
      const CategoricalProgram p = plan.categoricals[static_cast<std::size_t>(k)];
      const auto* in = static_cast<const uint32_t*>(columns[p.input]);
      int64_t* out = categorical + k;
      for (int64_t r = begin; r < end; ++r)
        out[r * cwidth] = transform_categorical(p, in[r], plan.tables.data(), plan.edges.data());
    }
  };
  int64_t blocks = (rows + kBlock - 1) / kBlock;
  if (pool != nullptr) {
    pool->parallel_for(blocks, block);
  } else {
    for (int64_t b = 0; b < blocks; ++b)
      block(b);
  }
}

}  // namespace kiln::kernels

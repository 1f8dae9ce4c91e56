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
    for (int64_t f = 0; f < width; ++f) {
      const FeatureProgram p = plan.features[static_cast<std::size_t>(f)];
      const float* in = static_cast<const float*>(columns[p.input]);
      float* out = features + f;
      for (int64_t r = begin; r < end; ++r)
        out[r * width] = transform_feature(p, in[r]);
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

// Compares the tensors of two safetensors files (checkpoints of the same model).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "core/safetensors.h"

namespace kiln::testing {

// The largest |a - b| / (1e-3 + |b|) over every float32 element of two files with the same
// tensors; infinity when their tensors differ in name or size.
inline double weight_difference(const std::string& a_path, const std::string& b_path) {
  const core::TensorFile a = core::read_safetensors(a_path), b = core::read_safetensors(b_path);
  if (a.tensors.size() != b.tensors.size()) return INFINITY;
  double worst = 0;
  for (std::size_t t = 0; t < a.tensors.size(); ++t) {
    const core::Tensor &x = a.tensors[t], &y = b.tensors[t];
    if (x.name != y.name || x.data.size() != y.data.size()) return INFINITY;
    if (x.dtype != core::DType::kF32) {
      if (x.data != y.data) return INFINITY;
      continue;
    }
    const auto* p = reinterpret_cast<const float*>(x.data.data());
    const auto* q = reinterpret_cast<const float*>(y.data.data());
    for (std::size_t i = 0; i < x.data.size() / sizeof(float); ++i)
      worst =
          std::max(worst, std::abs(double(p[i]) - double(q[i])) / (1e-3 + std::abs(double(q[i]))));
  }
  return worst;
}

// The larger weight_difference of two checkpoint directories' model and optimizer files.
inline double checkpoint_difference(const std::string& a_dir, const std::string& b_dir) {
  double worst = 0;
  for (const char* file : {"/model.safetensors", "/optimizer.safetensors"})
    worst = std::max(worst, weight_difference(a_dir + file, b_dir + file));
  return worst;
}

}  // namespace kiln::testing

// The fused feature transform on the GPU: one kernel launch per batch reads the batch's
// columns (device memory, the loader's columnar layout) once and writes the row-major float
// matrix [rows, width] and the int64 index matrix [rows, categorical_width]. CUDA-free: the
// stream is passed as a void* (a cudaStream_t). Built only with CUDA (KILN_WITH_CUDA).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/transform_math.h"

namespace kiln::kernels {

// A compiled plan in device memory. Not thread-safe; one per stream.
class DevicePlan {
 public:
  // How the kernel tiles the batch (docs/TRANSFORMS.md, "The GPU kernel"): kNarrow, 32-row
  // tiles with 4-byte accesses; kWide, 128-row tiles with 16-byte accesses, used when every
  // column pointer is 16-byte aligned (else kNarrow). Both compute the same bits.
  enum class Tiling { kNarrow, kWide };
  static constexpr Tiling kDefaultTiling = Tiling::kNarrow;

  explicit DevicePlan(const CompiledPlan& plan,
                      Tiling tiling = kDefaultTiling);  // uploads, synchronously
  ~DevicePlan();
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;

  int64_t width() const { return width_; }
  int64_t categorical_width() const { return categorical_width_; }

  // The device pointers of a batch's columns, in schema order (synchronous copy). Set once
  // per set of batch buffers: apply() reads them from device memory, so a captured CUDA
  // graph stays valid while the buffers do.
  void set_columns(const std::vector<const void*>& device_columns);

  // Enqueues the kernel on `stream` (nullptr: the default stream). `features` and
  // `categorical` are device memory of rows * width and rows * categorical_width.
  // InternalError naming the CUDA error when the launch fails.
  void apply(int64_t rows, float* features, int64_t* categorical, void* stream = nullptr) const;

 private:
  void release();
  int64_t width_ = 0;
  int64_t categorical_width_ = 0;
  std::size_t column_count_ = 0;
  Tiling tiling_;
  bool aligned_ = false;          // every column pointer 16-byte aligned
  int resident_blocks_ = 1;       // of the narrow kernel, on the whole GPU at once
  int resident_wide_blocks_ = 1;  // of the wide kernel
  FeatureProgram* features_ = nullptr;
  CategoricalProgram* categoricals_ = nullptr;
  int32_t* tables_ = nullptr;
  float* edges_ = nullptr;
  const void** columns_ = nullptr;
};

}  // namespace kiln::kernels

// The fused feature transform on the GPU: one kernel launch per batch reads the batch's
// columns (device memory, the loader's columnar layout) once and writes the row-major float
// matrix [rows, width] and the int64 index matrix [rows, categorical_width]; the rows may be
// gathered through an index (RowMap) on the way. CUDA-free: the
// stream is passed as a void* (a cudaStream_t). Built only with CUDA (KILN_WITH_CUDA).
#pragma once

#include <cstdint>
#include <vector>

#include "data/row_map.h"
#include "kernels/transform_math.h"

namespace kiln::kernels {

// Row r of a batch read at map(r) of its columns (data/row_map.h).
using data::RowMap;

// A compiled plan in device memory. Not thread-safe; one per stream.
class DevicePlan {
 public:
  explicit DevicePlan(const CompiledPlan& plan);  // uploads, synchronously
  ~DevicePlan();
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;

  int64_t width() const { return width_; }
  int64_t categorical_width() const { return categorical_width_; }

  // The device pointers of a batch's columns, in schema order (synchronous copy). Set once
  // per set of batch buffers: apply() reads them from device memory, so a captured CUDA
  // graph stays valid while the buffers do.
  void set_columns(const std::vector<const void*>& device_columns);

  // Enqueues the kernel on `stream` (nullptr: the default stream), reading row r of the
  // batch at row map(r) of the columns. `features` and `categorical` are device memory of
  // rows * width and rows * categorical_width. InternalError naming the CUDA error when the
  // launch fails.
  void apply(int64_t rows, float* features, int64_t* categorical, void* stream = nullptr,
             const RowMap& map = {}) const;

 private:
  void release();
  int64_t width_ = 0;
  int64_t categorical_width_ = 0;
  std::size_t column_count_ = 0;
  int resident_blocks_ = 1;  // of the kernel, on the whole GPU at once
  FeatureProgram* features_ = nullptr;
  CategoricalProgram* categoricals_ = nullptr;
  int32_t* tables_ = nullptr;
  float* edges_ = nullptr;
  const void** columns_ = nullptr;
};

// out[r] = column[map(r)] for r < rows, on `stream` (device memory): a batch's label or
// weight in gather mode. InternalError naming the CUDA error when the launch fails.
void gather_rows(const float* column, const RowMap& map, int64_t rows, float* out, void* stream);

}  // namespace kiln::kernels

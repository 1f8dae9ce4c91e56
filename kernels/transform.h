// The fused feature transform of a batch: a compiled plan (kernels/transform_math.h)
// applied to the batch's columns, which writes the row-major float matrix [rows, width] and
// the int64 index matrix [rows, categorical_width]. Two implementations of one function:
// apply_cpu (transform_cpu.cpp), the reference, and DevicePlan (transform_cuda.cu), one
// kernel launch per batch that reads each input column once, and may gather the rows
// through an index (RowMap) on the way, from columns or from a row-major matrix. The
// semantics are in docs/TRANSFORMS.md. CUDA-free: streams are void* (cudaStream_t);
// DevicePlan is built only with CUDA (KILN_WITH_CUDA).
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/row_map.h"
#include "kernels/transform_math.h"

namespace kiln::kernels {

// The CPU reference: columns[c] is the batch's column c (float32, or int32 codes; the
// columns a plan reads by their index); writes features[rows * width] and
// categorical[rows * categorical_width], row-major. Runs on `pool` when given.
void apply_cpu(const CompiledPlan& plan, const void* const* columns, int64_t rows, float* features,
               int64_t* categorical, core::ThreadPool* pool = nullptr);

// A float32 column of the batch (by schema index) that apply() copies, gathered through its
// RowMap, into out [rows] (device memory) in the same launch: a batch's label or weight.
struct ColumnCopy {
  int32_t column = 0;
  float* out = nullptr;
  bool operator==(const ColumnCopy&) const = default;
};
constexpr int kMaxColumnCopies = 4;  // per apply()

// A compiled plan in device memory. Not thread-safe; one per stream.
class DevicePlan {
 public:
  // How the kernel divides the work (docs/TRANSFORMS.md, "The GPU kernel"). kColumnTiles: a
  // block owns 32 output columns and walks tiles of 32 rows (4-byte loads into registers).
  // kRowTiles: a block owns whole output rows, 64 at a time; every input column the plan reads
  // is staged once per tile in shared memory by 16-byte asynchronous copies (two tiles in
  // flight), and the outputs are written as contiguous rows. kRowTiles needs every column
  // pointer 16-byte aligned, a row stride of 1, no RowMap, and the staged columns within the
  // shared memory of a block; apply() uses kColumnTiles where it cannot. Both compute the
  // same bits.
  enum class Tiling { kColumnTiles, kRowTiles };
  static constexpr Tiling kDefaultTiling = Tiling::kRowTiles;

  explicit DevicePlan(const CompiledPlan& plan,
                      Tiling tiling = kDefaultTiling);  // uploads, synchronously
  ~DevicePlan();
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;

  int64_t width() const { return width_; }
  int64_t categorical_width() const { return categorical_width_; }

  // The device pointers of a batch's columns, in schema order (synchronous copy), and the
  // 4-byte cells from one row of a column to the next: 1 for columns of their own, the row
  // width for the columns of a row-major matrix (then a gathered row is read as whole
  // sectors, not one 32-byte sector per cell). Set once per set of batch buffers: apply()
  // reads them from device memory, so a captured CUDA graph stays valid while the buffers do.
  void set_columns(const std::vector<const void*>& device_columns, int64_t row_stride = 1);

  // Enqueues the kernel on `stream` (nullptr: the default stream), reading row r of the
  // batch at row map(r) of the columns. `features` and `categorical` are device memory of
  // rows * width and rows * categorical_width. `copies` (at most kMaxColumnCopies, only
  // where the column tiling runs: with a RowMap) are done by the same launch. InternalError
  // naming the CUDA error when the launch fails.
  void apply(int64_t rows, float* features, int64_t* categorical, void* stream = nullptr,
             const RowMap& map = {}, const std::vector<ColumnCopy>& copies = {}) const;

  // The tiling apply() runs with the columns set and this map: the one asked for, or
  // kColumnTiles where the row tiling cannot run.
  Tiling tiling(const RowMap& map = {}) const;

 private:
  void release();
  int64_t width_ = 0;
  int64_t categorical_width_ = 0;
  std::size_t column_count_ = 0;
  Tiling tiling_;
  bool aligned_ = false;              // every column pointer 16-byte aligned
  int64_t row_stride_ = 1;            // cells from one row of a column to the next
  int resident_blocks_ = 1;           // of the kColumnTiles kernel, on the whole GPU at once
  int resident_row_blocks_ = 0;       // of the row tiling's kernel (0: it does not fit)
  int32_t staged_ = 0;                // input columns the plan reads, each staged once
  std::size_t row_tile_shared_ = 0;   // bytes of dynamic shared memory per row-tiling block
  int32_t* staged_inputs_ = nullptr;  // the schema column of each staged column
  int32_t* slots_ = nullptr;          // the staged column of each output, float then categorical
  FeatureProgram* features_ = nullptr;
  CategoricalProgram* categoricals_ = nullptr;
  int32_t* tables_ = nullptr;
  float* edges_ = nullptr;
  const void** columns_ = nullptr;
};

}  // namespace kiln::kernels

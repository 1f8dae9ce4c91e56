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
  // How the kernel divides the work (docs/TRANSFORMS.md, "The GPU kernel"). kColumnTiles: a
  // block owns 32 output columns and walks tiles of 32 rows (4-byte loads into registers).
  // kRowTiles: a block owns whole output rows, 64 at a time; every input column the plan reads
  // is staged once per tile in shared memory by 16-byte asynchronous copies (two tiles in
  // flight), and the outputs are written as contiguous rows. kRowTiles needs every column
  // pointer 16-byte aligned, no RowMap, and the staged columns within the shared memory of a
  // block; apply() uses kColumnTiles where it cannot. kRowTilesOwned: the same row tiles, each
  // thread owning one output column (its program in registers) for the whole launch; needs
  // what kRowTiles needs and at most 512 output columns, else apply() runs kRowTiles. All
  // compute the same bits.
  enum class Tiling { kColumnTiles, kRowTiles, kRowTilesOwned };
  static constexpr Tiling kDefaultTiling = Tiling::kRowTiles;

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

  // Enqueues the kernel on `stream` (nullptr: the default stream), reading row r of the
  // batch at row map(r) of the columns. `features` and `categorical` are device memory of
  // rows * width and rows * categorical_width. InternalError naming the CUDA error when the
  // launch fails.
  void apply(int64_t rows, float* features, int64_t* categorical, void* stream = nullptr,
             const RowMap& map = {}) const;

  // The tiling apply() runs with the columns set and this map: the one asked for, or the
  // one it falls back to (above).
  Tiling tiling(const RowMap& map = {}) const;

 private:
  void release();
  int64_t width_ = 0;
  int64_t categorical_width_ = 0;
  std::size_t column_count_ = 0;
  Tiling tiling_;
  bool aligned_ = false;             // every column pointer 16-byte aligned
  int resident_blocks_ = 1;          // of the kColumnTiles kernel, on the whole GPU at once
  int resident_row_blocks_ = 0;      // of the kRowTiles kernel (0: it does not fit)
  int resident_owned_blocks_ = 0;    // of the kRowTilesOwned kernel (0: not asked for, or too wide)
  int owned_threads_ = 0;            // per kRowTilesOwned block
  int32_t owners_ = 0;               // kRowTilesOwned threads per output column
  int32_t staged_ = 0;               // input columns the plan reads, each staged once
  std::size_t row_tile_shared_ = 0;  // bytes of dynamic shared memory per kRowTiles block
  int32_t* staged_inputs_ = nullptr;  // the schema column of each staged column
  int32_t* slots_ = nullptr;          // the staged column of each output, float then categorical
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

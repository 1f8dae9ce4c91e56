// The fused transform kernel: a tiled transpose. A block owns one tile of 32 output columns
// and walks row tiles of 32 rows (grid-stride, so each block loads its 32 column programs
// once): its threads load their input cells coalesced along rows (each output column is one
// input column), transform them with transform_math.h's functions, stage the tile in shared
// memory and write it out along the output rows (coalesced). The next tile's cells are
// loaded before the current one is transformed, so loads stay in flight while it is
// written. Blocks are numbered with the column tiles of one walker next to each other (float
// tiles first, then the int64 tiles): the blocks that read the same input column (a feature
// and its missing indicator) go through the rows together, so the second read is from L2.
// Gathering rows through a RowMap (a second instantiation) makes the loads scattered: each
// cell costs a 32-byte sector instead of 4 bytes.
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <string>

#include "core/errors.h"
#include "kernels/cuda_check.h"
#include "kernels/transform_cuda.h"

namespace kiln::kernels {
namespace {

constexpr int kTile = 32;      // rows and output columns per tile
constexpr int kPasses = 4;     // blockDim.y: each thread handles kTile / kPasses cells per tile
constexpr int kMinBlocks = 8;  // resident per multiprocessor (caps the registers)
constexpr int64_t kTilesPerWalker = 16;  // at most, where the rows give several waves

template <class T>
T* upload(const std::vector<T>& host, const char* what) {
  if (host.empty()) return nullptr;
  void* device = nullptr;
  cuda_check(cudaMalloc(&device, host.size() * sizeof(T)), what);
  cuda_check(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
             what);
  return static_cast<T*>(device);
}

constexpr int kPerThread = kTile / kPasses;

// The row tiles walker, walker + walkers, ... of one column tile [col0, col0 + 32) of an
// output matrix `out` [rows, width]. `transform(program, cell)` maps one input cell, given as
// its 4 raw bytes, to an output value. With kGather, row r is read at row map(r) of the input
// columns: the same 32 rows of every column of the tile, so each thread looks its row up once
// per tile.
template <bool kGather, class Program, class Out, class Transform>
__device__ __forceinline__ void transform_tiles(const Program* __restrict__ all_programs,
                                                int32_t width, int32_t col0,
                                                const void* const* __restrict__ columns,
                                                int64_t rows, const RowMap& map, int64_t walker,
                                                int64_t walkers, Out* __restrict__ out,
                                                int64_t* tile_memory, Transform transform) {
  __shared__ Program programs[kTile];
  __shared__ const uint32_t* inputs[kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  if (ty == 0 && col0 + tx < width) {
    programs[tx] = all_programs[col0 + tx];
    inputs[tx] = static_cast<const uint32_t*>(columns[programs[tx].input]);
  }
  __syncthreads();
  auto load = [&](int64_t row0, uint32_t(&cells)[kPerThread]) {
    int64_t source = row0 + tx;
    if constexpr (kGather) source = source < rows ? map(source) : 0;
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int j = ty + k * kPasses;
      cells[k] = col0 + j < width && row0 + tx < rows ? inputs[j][source] : 0u;
    }
  };
  auto tile = reinterpret_cast<Out(*)[kTile + 1]>(tile_memory);  // +1: no bank conflicts
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  uint32_t next[kPerThread];
  if (walker < row_tiles) load(walker * kTile, next);
  for (int64_t t = walker; t < row_tiles; t += walkers) {
    const int64_t row0 = t * kTile;
    uint32_t cells[kPerThread];
#pragma unroll
    for (int k = 0; k < kPerThread; ++k)
      cells[k] = next[k];
    if (t + walkers < row_tiles) load((t + walkers) * kTile, next);
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int j = ty + k * kPasses;
      if (col0 + j < width && row0 + tx < rows) tile[j][tx] = transform(programs[j], cells[k]);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int j = ty + k * kPasses;
      if (col0 + tx < width && row0 + j < rows) out[(row0 + j) * width + col0 + tx] = tile[tx][j];
    }
    __syncthreads();  // the tile is free again
  }
}

template <bool kGather>
__global__ void __launch_bounds__(kTile* kPasses, kMinBlocks)
    fused_transform(const FeatureProgram* __restrict__ features, int32_t width,
                    const CategoricalProgram* __restrict__ categoricals, int32_t categorical_width,
                    const void* const* __restrict__ columns, const int32_t* __restrict__ tables,
                    const float* __restrict__ edges, int64_t rows, RowMap map,
                    int32_t feature_tiles, int32_t column_tiles, float* __restrict__ out,
                    int64_t* __restrict__ categorical_out) {
  __shared__ int64_t tile_memory[kTile * (kTile + 1)];
  const auto column_tile = static_cast<int32_t>(blockIdx.x % column_tiles);
  const int64_t walker = blockIdx.x / column_tiles, walkers = gridDim.x / column_tiles;
  if (column_tile < feature_tiles) {
    transform_tiles<kGather>(features, width, column_tile * kTile, columns, rows, map, walker,
                             walkers, out, tile_memory, [](const FeatureProgram& p, uint32_t cell) {
                               return transform_feature(p, __uint_as_float(cell));
                             });
  } else {
    transform_tiles<kGather>(categoricals, categorical_width, (column_tile - feature_tiles) * kTile,
                             columns, rows, map, walker, walkers, categorical_out, tile_memory,
                             [=](const CategoricalProgram& p, uint32_t cell) {
                               return transform_categorical(p, cell, tables, edges);
                             });
  }
}

__global__ void gather_floats(const float* __restrict__ column, RowMap map, int64_t rows,
                              float* __restrict__ out) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r < rows) out[r] = column[map(r)];
}

int64_t tiles(int64_t n) {
  return (n + kTile - 1) / kTile;
}

}  // namespace

DevicePlan::DevicePlan(const CompiledPlan& plan)
    : width_(plan.width()), categorical_width_(plan.categorical_width()) {
  KILN_CHECK(width_ + categorical_width_ <= std::numeric_limits<int32_t>::max() / 2, DataError,
             "transform plan too wide for the GPU kernel: ", width_, " + ", categorical_width_,
             " output columns");
  int device = 0, processors = 0, per_processor = 0, gathering = 0;
  cuda_check(cudaGetDevice(&device), "finding the current GPU");
  cuda_check(cudaDeviceGetAttribute(&processors, cudaDevAttrMultiProcessorCount, device),
             "reading the GPU's multiprocessor count");
  cuda_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_processor, fused_transform<false>,
                                                           kTile * kPasses, 0),
             "reading the transform kernel's occupancy");
  cuda_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&gathering, fused_transform<true>,
                                                           kTile * kPasses, 0),
             "reading the transform kernel's occupancy");
  resident_blocks_ = std::max(1, processors * std::min(per_processor, gathering));
  try {
    features_ = upload(plan.features, "uploading the transform plan");
    categoricals_ = upload(plan.categoricals, "uploading the transform plan");
    tables_ = upload(plan.tables, "uploading vocabularies");
    edges_ = upload(plan.edges, "uploading bucket edges");
  } catch (...) {
    release();
    throw;
  }
}

DevicePlan::~DevicePlan() {
  release();
}

void DevicePlan::release() {
  cudaFree(features_);
  cudaFree(categoricals_);
  cudaFree(tables_);
  cudaFree(edges_);
  cudaFree(columns_);
  features_ = nullptr;
  categoricals_ = nullptr;
  tables_ = nullptr;
  edges_ = nullptr;
  columns_ = nullptr;
}

void DevicePlan::set_columns(const std::vector<const void*>& device_columns) {
  if (device_columns.size() != column_count_) {
    cudaFree(columns_);
    columns_ = nullptr;
    column_count_ = 0;
    columns_ = upload(device_columns, "uploading column pointers");
    column_count_ = device_columns.size();
    return;
  }
  cuda_check(cudaMemcpy(columns_, device_columns.data(), device_columns.size() * sizeof(void*),
                        cudaMemcpyHostToDevice),
             "uploading column pointers");
}

void DevicePlan::apply(int64_t rows, float* features, int64_t* categorical, void* stream,
                       const RowMap& map) const {
  KILN_ASSERT(columns_ != nullptr || (width_ == 0 && categorical_width_ == 0),
              "DevicePlan::apply before set_columns");
  if (rows == 0 || width_ + categorical_width_ == 0) return;
  // Whole walkers of every column tile: at least one wave of resident blocks where the rows
  // allow, else at most kTilesPerWalker row tiles each, so that blocks that finish early
  // (narrow column tiles) leave room for others.
  const auto column_tiles = static_cast<int32_t>(tiles(width_) + tiles(categorical_width_));
  const int64_t row_tiles = tiles(rows);
  const int64_t one_wave = std::max<int64_t>(1, resident_blocks_ / column_tiles);
  const int64_t walkers =
      std::min(row_tiles, std::max(one_wave, (row_tiles + kTilesPerWalker - 1) / kTilesPerWalker));
  KILN_CHECK(walkers <= std::numeric_limits<int32_t>::max() / column_tiles, DataError, "batch of ",
             rows, " rows is too large for one launch");
  const auto blocks = static_cast<unsigned>(walkers * column_tiles);
  auto kernel = map.order != nullptr ? fused_transform<true> : fused_transform<false>;
  kernel<<<blocks, dim3(kTile, kPasses), 0, static_cast<cudaStream_t>(stream)>>>(
      features_, static_cast<int32_t>(width_), categoricals_,
      static_cast<int32_t>(categorical_width_), columns_, tables_, edges_, rows, map,
      static_cast<int32_t>(tiles(width_)), column_tiles, features, categorical);
  cuda_check(cudaGetLastError(), "launching the fused transform");
}

void gather_rows(const float* column, const RowMap& map, int64_t rows, float* out, void* stream) {
  if (rows == 0) return;
  constexpr int kThreads = 256;
  gather_floats<<<static_cast<unsigned>((rows + kThreads - 1) / kThreads), kThreads, 0,
                  static_cast<cudaStream_t>(stream)>>>(column, map, rows, out);
  cuda_check(cudaGetLastError(), "launching a row gather");
}

}  // namespace kiln::kernels

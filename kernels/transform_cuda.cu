// The fused transform kernel: a tiled transpose. Each block takes 32 rows x 32 output
// columns: its threads read the input columns along rows (coalesced, each output column is
// one input column), transform each value with transform_math.h's functions, stage the
// tile in shared memory, and write it out along the output row (coalesced). Blocks with
// blockIdx.y past the float tiles do the same for the int64 index matrix.
#include <cuda_runtime.h>

#include <limits>
#include <string>

#include "core/errors.h"
#include "kernels/transform_cuda.h"

namespace kiln::kernels {
namespace {

constexpr int kTile = 32;   // rows and output columns per block
constexpr int kPasses = 8;  // blockDim.y: each thread handles kTile / kPasses values

void check(cudaError_t status, const char* doing) {
  KILN_CHECK(status == cudaSuccess, InternalError, "CUDA error while ", doing, ": ",
             cudaGetErrorString(status));
}

template <class T>
T* upload(const std::vector<T>& host, const char* what) {
  if (host.empty()) return nullptr;
  void* device = nullptr;
  check(cudaMalloc(&device, host.size() * sizeof(T)), what);
  check(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), what);
  return static_cast<T*>(device);
}

__global__ void __launch_bounds__(kTile* kPasses)
    fused_transform(const FeatureProgram* __restrict__ features, int32_t width,
                    const CategoricalProgram* __restrict__ categoricals, int32_t categorical_width,
                    const void* const* __restrict__ columns, const int32_t* __restrict__ tables,
                    const float* __restrict__ edges, int64_t rows, int32_t feature_tiles,
                    float* __restrict__ out, int64_t* __restrict__ categorical_out) {
  __shared__ int64_t tile_memory[kTile * (kTile + 1)];  // +1: no bank conflicts on the way out
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTile;
  if (static_cast<int32_t>(blockIdx.y) < feature_tiles) {
    __shared__ FeatureProgram programs[kTile];
    __shared__ const float* inputs[kTile];
    const int32_t col0 = static_cast<int32_t>(blockIdx.y) * kTile;
    if (ty == 0 && col0 + tx < width) {
      programs[tx] = features[col0 + tx];
      inputs[tx] = static_cast<const float*>(columns[programs[tx].input]);
    }
    __syncthreads();
    auto tile = reinterpret_cast<float(*)[kTile + 1]>(tile_memory);
    const int64_t row = row0 + tx;
    for (int j = ty; j < kTile; j += kPasses) {
      if (col0 + j < width && row < rows)
        tile[j][tx] = transform_feature(programs[j], inputs[j][row]);
    }
    __syncthreads();
    for (int j = ty; j < kTile; j += kPasses) {
      if (col0 + tx < width && row0 + j < rows) out[(row0 + j) * width + col0 + tx] = tile[tx][j];
    }
  } else {
    __shared__ CategoricalProgram programs[kTile];
    __shared__ const void* inputs[kTile];
    const int32_t col0 = (static_cast<int32_t>(blockIdx.y) - feature_tiles) * kTile;
    if (ty == 0 && col0 + tx < categorical_width) {
      programs[tx] = categoricals[col0 + tx];
      inputs[tx] = columns[programs[tx].input];
    }
    __syncthreads();
    auto tile = reinterpret_cast<int64_t(*)[kTile + 1]>(tile_memory);
    const int64_t row = row0 + tx;
    for (int j = ty; j < kTile; j += kPasses) {
      if (col0 + j < categorical_width && row < rows)
        tile[j][tx] = transform_categorical(programs[j], inputs[j], row, tables, edges);
    }
    __syncthreads();
    for (int j = ty; j < kTile; j += kPasses) {
      if (col0 + tx < categorical_width && row0 + j < rows)
        categorical_out[(row0 + j) * categorical_width + col0 + tx] = tile[tx][j];
    }
  }
}

int32_t tiles(int64_t n) {
  return static_cast<int32_t>((n + kTile - 1) / kTile);
}

}  // namespace

DevicePlan::DevicePlan(const CompiledPlan& plan)
    : width_(plan.width()), categorical_width_(plan.categorical_width()) {
  KILN_CHECK(tiles(width_) + tiles(categorical_width_) <= 65535, DataError,
             "transform plan too wide for the GPU kernel: ", width_, " + ", categorical_width_,
             " output columns");
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
  check(cudaMemcpy(columns_, device_columns.data(), device_columns.size() * sizeof(void*),
                   cudaMemcpyHostToDevice),
        "uploading column pointers");
}

void DevicePlan::apply(int64_t rows, float* features, int64_t* categorical, void* stream) const {
  KILN_ASSERT(columns_ != nullptr || (width_ == 0 && categorical_width_ == 0),
              "DevicePlan::apply before set_columns");
  if (rows == 0 || width_ + categorical_width_ == 0) return;
  KILN_CHECK(rows <= int64_t{std::numeric_limits<int32_t>::max()} * kTile, DataError, "batch of ",
             rows, " rows is too large for one launch");
  dim3 grid(static_cast<unsigned>(tiles(rows)),
            static_cast<unsigned>(tiles(width_) + tiles(categorical_width_)));
  dim3 block(kTile, kPasses);
  fused_transform<<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(
      features_, static_cast<int32_t>(width_), categoricals_,
      static_cast<int32_t>(categorical_width_), columns_, tables_, edges_, rows, tiles(width_),
      features, categorical);
  check(cudaGetLastError(), "launching the fused transform");
}

}  // namespace kiln::kernels

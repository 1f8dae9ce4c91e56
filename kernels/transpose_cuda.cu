// columns_to_rows: a transpose through a shared-memory tile of 32 x 32 cells, so that the
// reads (along the columns) and the writes (along the rows) both coalesce.
#include <cuda_runtime.h>

#include "kernels/cuda_check.h"
#include "kernels/transpose.h"

namespace kiln::kernels {
namespace {

constexpr int kTile = 32;   // rows and columns per tile
constexpr int kPasses = 4;  // blockDim.y: each thread moves kTile / kPasses cells of a tile

__global__ void columns_to_rows_kernel(const uint32_t* __restrict__ columns, int64_t height,
                                       int32_t width, int64_t first, int64_t rows,
                                       uint32_t* __restrict__ out) {
  __shared__ uint32_t tile[kTile][kTile + 1];  // +1: no bank conflicts
  const int64_t row0 = first + blockIdx.x * static_cast<int64_t>(kTile);
  const int32_t col0 = static_cast<int32_t>(blockIdx.y) * kTile;
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int j = ty; j < kTile; j += kPasses)
    if (row0 + tx < first + rows && col0 + j < width)
      tile[j][tx] = columns[(col0 + j) * height + row0 + tx];
  __syncthreads();
  for (int j = ty; j < kTile; j += kPasses)
    if (row0 + j < first + rows && col0 + tx < width)
      out[(row0 + j) * width + col0 + tx] = tile[tx][j];
}

int64_t tiles(int64_t n) {
  return (n + kTile - 1) / kTile;
}

}  // namespace

void columns_to_rows(const uint32_t* columns, int64_t height, int32_t width, int64_t first,
                     int64_t rows, uint32_t* out, void* stream) {
  if (rows == 0 || width == 0) return;
  const dim3 grid(static_cast<unsigned>(tiles(rows)), static_cast<unsigned>(tiles(width)));
  columns_to_rows_kernel<<<grid, dim3(kTile, kPasses), 0, static_cast<cudaStream_t>(stream)>>>(
      columns, height, width, first, rows, out);
  cuda_check(cudaGetLastError(), "launching a transpose into rows");
}

}  // namespace kiln::kernels

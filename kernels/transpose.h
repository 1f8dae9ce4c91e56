// Columns into rows on the GPU: the row-major copy of a block of 4-byte columns that the
// fused transform gathers rows from (feed/'s device shuffle reads each gathered row as whole
// sectors instead of one 32-byte sector per cell). CUDA-free: the stream is a void*
// (cudaStream_t). Built only with CUDA (KILN_WITH_CUDA); DeviceBatchesGpu checks it against
// the batches the CPU copies.
#pragma once

#include <cstdint>

namespace kiln::kernels {

// Rows [first, first + rows) of `width` columns of `height` 4-byte cells each (column c at
// columns + c * height) into the same rows of the row-major matrix out [height, width], on
// `stream` (device memory; one launch, a tiled transpose). InternalError naming the CUDA
// error when the launch fails.
void columns_to_rows(const uint32_t* columns, int64_t height, int32_t width, int64_t first,
                     int64_t rows, uint32_t* out, void* stream);

}  // namespace kiln::kernels

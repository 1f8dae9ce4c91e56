// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length
// N, N bytes of a JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {string: string}}, then the tensors' raw little-endian bytes. Python's
// `safetensors` package reads what this writes and the other way round; no pickle anywhere.
// The reader treats files as untrusted (see read_safetensors).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::core {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

std::string_view dtype_name(DType dtype);  // "F32", ...
std::size_t dtype_size(DType dtype);       // bytes per element

struct Tensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // little-endian, row-major; size = elements * dtype_size
};

struct TensorFile {
  std::map<std::string, std::string> metadata;
  std::vector<Tensor> tensors;  // names unique
};

// A tensor to write, whose bytes stay where they are (a model's parameters).
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // little-endian, row-major; `bytes` = elements * dtype_size
  std::size_t bytes = 0;
};

// The file's bytes: tensors laid out in name order, the header padded with spaces to a
// multiple of 8 bytes (as the Python writer does); each tensor's bytes are copied once.
// InternalError for a tensor whose data size does not match its shape or a repeated name.
std::string to_safetensors(const std::map<std::string, std::string>& metadata,
                           std::vector<TensorView> tensors);
std::string to_safetensors(const TensorFile& file);

// Writes atomically (core/files.h). OutputError on failure.
void write_safetensors(const std::string& path, const TensorFile& file);

// Reads and checks everything before trusting it: the header length against the file size
// and `max_header` (100 MB by default, as the Python package), JSON that is an object,
// known dtypes, non-negative shapes, data offsets in range, begin <= end, elements x dtype
// size = bytes (overflow-checked), and the tensors covering the data exactly: no overlap,
// no gap, nothing after. DataError naming the file and the tensor; InputError when the file
// cannot be read.
TensorFile read_safetensors(const std::string& path, std::size_t max_header = 100000000);

// The same checks, reading only the header and the file's size (the tensors' bytes are
// not read: a checksum covers them).
void check_safetensors_file(const std::string& path, std::size_t max_header = 100000000);

// The same checks on bytes in memory; `where` names them in messages.
TensorFile parse_safetensors(std::string_view bytes, const std::string& where,
                             std::size_t max_header = 100000000);

}  // namespace kiln::core

#include "core/safetensors.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "core/files.h"

namespace kiln::core {
namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};

constexpr DTypeInfo kDTypes[] = {{DType::kF64, "F64", 8}, {DType::kF32, "F32", 4},
                                 {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
                                 {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
                                 {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},
                                 {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1}};

const DTypeInfo& info(DType dtype) {
  for (const auto& i : kDTypes)
    if (i.dtype == dtype) return i;
  throw InternalError("unknown dtype");
}

// elements x size, or -1 on overflow or a negative dimension.
int64_t byte_count(const std::vector<int64_t>& shape, std::size_t size) {
  int64_t total = static_cast<int64_t>(size);
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && total > std::numeric_limits<int64_t>::max() / d) return -1;
    total *= d;
  }
  return total;
}

}  // namespace

std::string_view dtype_name(DType dtype) {
  return info(dtype).name;
}

std::size_t dtype_size(DType dtype) {
  return info(dtype).size;
}

std::string to_safetensors(const std::map<std::string, std::string>& metadata,
                           std::vector<TensorView> tensors) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorView& t = tensors[i];
    KILN_ASSERT(i == 0 || tensors[i - 1].name != t.name, "repeated tensor name '", t.name, "'");
    KILN_ASSERT(t.name != "__metadata__", "a tensor may not be called __metadata__");
    KILN_ASSERT(byte_count(t.shape, dtype_size(t.dtype)) == static_cast<int64_t>(t.bytes),
                "tensor '", t.name, "': ", t.bytes, " bytes do not match its shape");
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  out.resize(8);
  const uint64_t n = text.size();
  for (int b = 0; b < 8; ++b)
    out[static_cast<std::size_t>(b)] = static_cast<char>((n >> (8 * b)) & 0xff);
  out += text;
  for (const TensorView& t : tensors)
    out.append(static_cast<const char*>(t.data), t.bytes);
  return out;
}

std::string to_safetensors(const TensorFile& file) {
  std::vector<TensorView> views;
  for (const Tensor& t : file.tensors)
    views.push_back({t.name, t.dtype, t.shape, t.data.data(), t.data.size()});
  return to_safetensors(file.metadata, std::move(views));
}

void write_safetensors(const std::string& path, const TensorFile& file) {
  atomic_write(path, to_safetensors(file));
}

namespace {

// A file's header checked against the file's size: the tensors without their bytes, and
// each one's [begin, end) in the data, which starts at `data_start`. `prefix` holds the
// file's first bytes: at least the 8-byte length and the header it gives, where that fits
// the limits (else the checks throw before reading past the length).
struct Layout {
  TensorFile file;
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // of file.tensors[i]
  uint64_t data_start = 0;
};

// The header length, the file's first 8 bytes (little-endian).
uint64_t header_length(std::string_view prefix) {
  uint64_t n = 0;
  for (int b = 7; b >= 0; --b)
    n = (n << 8) | static_cast<uint8_t>(prefix[static_cast<std::size_t>(b)]);
  return n;
}

Layout parse_layout(std::string_view prefix, uint64_t file_size, const std::string& where,
                    std::size_t max_header) {
  KILN_CHECK(file_size >= 8 && prefix.size() >= 8, DataError, where, ": ", file_size,
             " bytes is too short for a safetensors file (an 8-byte header length first)");
  const uint64_t n = header_length(prefix);
  KILN_CHECK(n <= max_header, DataError, where, ": header of ", n, " bytes is over the limit of ",
             max_header);
  KILN_CHECK(n <= file_size - 8, DataError, where, ": header of ", n,
             " bytes runs past the end of the file (", file_size, " bytes)");
  KILN_ASSERT(prefix.size() >= 8 + n, where, ": the header was not read whole");
  std::string_view text = prefix.substr(8, n);
  KILN_CHECK(!text.empty() && text.front() == '{', DataError, where,
             ": the header is not a JSON object");
  nlohmann::json header = nlohmann::json::parse(text, nullptr, false);
  KILN_CHECK(!header.is_discarded() && header.is_object(), DataError, where,
             ": the header is not valid JSON");
  Layout out;
  out.data_start = 8 + n;
  const uint64_t data_size = file_size - out.data_start;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      KILN_CHECK(entry.is_object(), DataError, where, ": __metadata__ must be an object");
      for (const auto& [k, v] : entry.items()) {
        KILN_CHECK(v.is_string(), DataError, where, ": __metadata__ value of '", k,
                   "' must be a string");
        out.file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string w = where + ": tensor '" + name + "'";
    KILN_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                   entry.contains("data_offsets"),
               DataError, w, ": needs dtype, shape and data_offsets");
    Tensor t;
    t.name = name;
    const auto& dtype = entry["dtype"];
    bool known = false;
    for (const auto& i : kDTypes) {
      if (dtype.is_string() && dtype.get<std::string>() == i.name) {
        t.dtype = i.dtype;
        known = true;
      }
    }
    KILN_CHECK(known, DataError, w, ": unknown dtype ", dtype.dump());
    KILN_CHECK(entry["shape"].is_array() && entry["shape"].size() <= 64, DataError, w,
               ": shape must be a list of at most 64 dimensions");
    for (const auto& d : entry["shape"]) {
      KILN_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                 DataError, w, ": shape has ", d.dump(), "; dimensions must be integers >= 0");
      KILN_CHECK(d.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                 DataError, w, ": dimension ", d.dump(), " is too large");
      t.shape.push_back(d.get<int64_t>());
    }
    const auto& offsets = entry["data_offsets"];
    KILN_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                   offsets[1].is_number_unsigned(),
               DataError, w, ": data_offsets must be two non-negative integers");
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    KILN_CHECK(begin <= end && end <= data_size, DataError, w, ": data_offsets [", begin, ", ", end,
               "] are outside the ", data_size, " bytes of data");
    const int64_t expected = byte_count(t.shape, dtype_size(t.dtype));
    KILN_CHECK(expected >= 0 && static_cast<uint64_t>(expected) == end - begin, DataError, w, ": ",
               end - begin, " bytes of data, but dtype ", dtype_name(t.dtype), " x shape ",
               entry["shape"].dump(), " needs ", expected);
    out.spans.push_back({begin, end});
    out.file.tensors.push_back(std::move(t));
  }
  // The tensors must tile the data exactly.
  std::vector<std::pair<uint64_t, uint64_t>> spans = out.spans;
  std::sort(spans.begin(), spans.end());
  uint64_t covered = 0;
  for (const auto& [begin, end] : spans) {
    KILN_CHECK(begin == covered, DataError, where, ": tensor data ",
               begin < covered ? "overlaps" : "leaves a gap", " at byte ",
               std::min(begin, covered));
    covered = end;
  }
  KILN_CHECK(covered == data_size, DataError, where, ": ", data_size - covered,
             " bytes after the last tensor");
  return out;
}

}  // namespace

TensorFile parse_safetensors(std::string_view bytes, const std::string& where,
                             std::size_t max_header) {
  Layout layout = parse_layout(bytes, bytes.size(), where, max_header);
  const char* data = bytes.data() + layout.data_start;
  for (std::size_t i = 0; i < layout.spans.size(); ++i) {
    const auto [begin, end] = layout.spans[i];
    layout.file.tensors[i].data.assign(reinterpret_cast<const uint8_t*>(data + begin),
                                       reinterpret_cast<const uint8_t*>(data + end));
  }
  return std::move(layout.file);
}

TensorFile read_safetensors(const std::string& path, std::size_t max_header) {
  return parse_safetensors(read_file(path), path, max_header);
}

void check_safetensors_file(const std::string& path, std::size_t max_header) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  KILN_CHECK(in.good(), InputError, "cannot read '", path, "'");
  const auto file_size = static_cast<uint64_t>(in.tellg());
  std::string prefix(std::min<uint64_t>(file_size, 8), '\0');
  in.seekg(0);
  in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  if (prefix.size() == 8) {  // the header, where it fits the limits (else parse_layout says why)
    const uint64_t n = header_length(prefix);
    if (n <= max_header && n <= file_size - 8) {
      prefix.resize(8 + n);
      in.read(prefix.data() + 8, static_cast<std::streamsize>(n));
    }
  }
  KILN_CHECK(static_cast<bool>(in), InputError, "cannot read '", path, "'");
  parse_layout(prefix, file_size, path, max_header);
}

}  // namespace kiln::core

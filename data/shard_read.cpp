// Reading a shard's rows (data/shard.h): whole-chunk reads that go around HDF5 (pread, then
// unshuffle and inflate in Kiln's threads) for the columns that qualify, H5Dread for the
// others and for the matrix layout, and the check of every value read.
#include <unistd.h>
#include <zlib.h>
#ifdef KILN_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "data/shard.h"

namespace kiln::data {

void ShardFile::read(int64_t start, int64_t count, const std::vector<void*>& out,
                     core::ThreadPool* pool) const {
  read_all({{this, start, count, out}}, pool);
}

void ShardFile::read_all(const std::vector<Read>& reads, core::ThreadPool* pool) {
  // One task per fast-path chunk, one per other column, one per read of the matrix layout's
  // columns (kMatrix); then one check per column of each read.
  constexpr int64_t kWhole = -1, kMatrix = -2;
  struct Task {
    std::size_t read, column;
    int64_t chunk;  // or kWhole: the whole range through H5Dread
  };
  std::vector<Task> tasks, checks;
  for (std::size_t i = 0; i < reads.size(); ++i) {
    const Read& r = reads[i];
    const ShardFile& f = *r.shard;
    KILN_ASSERT(r.start >= 0 && r.count >= 0 && r.start + r.count <= f.rows_,
                "read outside the shard");
    KILN_ASSERT(r.out.size() == f.schema_.columns.size(), "one output per column");
    if (r.count == 0) continue;
    std::size_t first = 0;
    if (f.matrix_) {
      first = static_cast<std::size_t>(f.matrix_width_);
      if (std::any_of(r.out.begin(), r.out.begin() + f.matrix_width_,
                      [](const void* p) { return p != nullptr; }))
        tasks.push_back({i, 0, kMatrix});
    }
    for (std::size_t c = first; c < f.schema_.columns.size(); ++c) {
      if (r.out[c] == nullptr) continue;  // not wanted
      const FastColumn& fast = f.fast_[c];
      if (!fast.enabled) {
        tasks.push_back({i, c, kWhole});
        continue;
      }
      for (int64_t k = r.start / fast.chunk_rows; k * fast.chunk_rows < r.start + r.count; ++k)
        tasks.push_back({i, c, k});
    }
    for (std::size_t c = 0; c < f.schema_.columns.size(); ++c)
      if (r.out[c] != nullptr) checks.push_back({i, c, 0});
  }
  auto run = [&](int64_t t) {
    const Task& task = tasks[static_cast<std::size_t>(t)];
    const Read& r = reads[task.read];
    if (task.chunk == kMatrix)
      r.shard->read_matrix(r.start, r.count, r.out);
    else if (task.chunk == kWhole)
      r.shard->read_column(task.column, r.start, r.count, r.out[task.column]);
    else
      r.shard->read_chunk(task.column, task.chunk, r.start, r.count, r.out[task.column]);
  };
  auto check = [&](int64_t t) {
    const Task& task = checks[static_cast<std::size_t>(t)];
    const Read& r = reads[task.read];
    r.shard->check_values(task.column, r.start, r.count, r.out[task.column]);
  };
  if (pool != nullptr) {
    pool->parallel_for(static_cast<int64_t>(tasks.size()), run);
    pool->parallel_for(static_cast<int64_t>(checks.size()), check);
  } else {
    for (std::size_t t = 0; t < tasks.size(); ++t)
      run(static_cast<int64_t>(t));
    for (std::size_t t = 0; t < checks.size(); ++t)
      check(static_cast<int64_t>(t));
  }
}

namespace {

void pread_all(int fd, char* buffer, uint64_t size, uint64_t offset, const std::string& where) {
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buffer + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    KILN_CHECK(n > 0, DataError, where, ": reading ", size, " bytes at offset ", offset,
               " failed: ", n < 0 ? errno_text(errno) : "end of file (truncated?)");
    done += static_cast<uint64_t>(n);
  }
}

// HDF5's shuffle filter, undone: byte j of element i was stored at j * n + i; trailing
// bytes that do not fill an element were stored as they were.
void unshuffle(const char* in, char* out, std::size_t bytes, std::size_t element) {
  std::size_t n = bytes / element;
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  if (element == 4) {  // the common case, written so the compiler vectorizes it
    for (std::size_t i = 0; i < n; ++i) {
      uint32_t v = static_cast<uint32_t>(p[i]) | static_cast<uint32_t>(p[n + i]) << 8 |
                   static_cast<uint32_t>(p[2 * n + i]) << 16 |
                   static_cast<uint32_t>(p[3 * n + i]) << 24;
      std::memcpy(out + 4 * i, &v, 4);
    }
  } else {
    for (std::size_t j = 0; j < element; ++j) {
      for (std::size_t i = 0; i < n; ++i)
        out[i * element + j] = static_cast<char>(p[j * n + i]);
    }
  }
  std::memcpy(out + n * element, in + n * element, bytes - n * element);
}

// Inflates one zlib stream (HDF5's deflate filter) into exactly `capacity` bytes, checking
// its Adler-32. libdeflate, where the build found it, is about twice as fast as zlib.
std::size_t inflate_chunk(const char* in, std::size_t size, char* out, std::size_t capacity,
                          const std::string& where) {
#ifdef KILN_HAVE_LIBDEFLATE
  thread_local std::unique_ptr<libdeflate_decompressor, decltype(&libdeflate_free_decompressor)>
      decompressor(libdeflate_alloc_decompressor(), &libdeflate_free_decompressor);
  std::size_t produced = 0;
  libdeflate_result rc =
      libdeflate_zlib_decompress(decompressor.get(), in, size, out, capacity, &produced);
  KILN_CHECK(rc == LIBDEFLATE_SUCCESS && produced == capacity, DataError, where,
             ": gzip data is corrupt (libdeflate result ", static_cast<int>(rc), ")");
#else
  uLongf produced = capacity;
  int rc = ::uncompress(reinterpret_cast<Bytef*>(out), &produced,
                        reinterpret_cast<const Bytef*>(in), size);
  KILN_CHECK(rc == Z_OK && produced == capacity, DataError, where,
             ": gzip data is corrupt (zlib: ", rc == Z_OK ? "wrong size" : zError(rc), ")");
#endif
  return produced;
}

}  // namespace

void ShardFile::read_chunk(std::size_t c, int64_t chunk, int64_t start, int64_t count,
                           void* out) const {
  const FastColumn& fast = fast_[c];
  const ChunkRef& ref = fast.chunks[static_cast<std::size_t>(chunk)];
  const std::size_t element = mem_size(schema_.columns[c].role);
  const std::size_t chunk_bytes = static_cast<std::size_t>(fast.chunk_rows) * element;
  const int64_t chunk_first = chunk * fast.chunk_rows;
  const int64_t from = std::max(start, chunk_first);
  const int64_t to = std::min({start + count, chunk_first + fast.chunk_rows, rows_});
  char* dst = static_cast<char*>(out) + (from - start) * static_cast<int64_t>(element);
  const std::string where =
      path_ + ": " + objects_[c] + ": chunk at row " + std::to_string(chunk_first);
  bool filtered = false;
  for (std::size_t i = 0; i < fast.filters.size(); ++i)
    filtered = filtered || !(ref.filter_mask & (1u << i));
  if (!filtered && ref.size == chunk_bytes) {  // the rows wanted, straight into the output
    pread_all(fd_, dst, static_cast<std::size_t>(to - from) * element,
              ref.address + static_cast<uint64_t>(from - chunk_first) * element, where);
    return;
  }
  thread_local std::vector<char> raw, work;
  raw.resize(ref.size);
  pread_all(fd_, raw.data(), ref.size, ref.address, where);
  std::size_t size = ref.size;
  for (std::size_t i = fast.filters.size(); i-- > 0;) {  // undo the pipeline, last filter first
    if (ref.filter_mask & (1u << i)) continue;
    work.resize(chunk_bytes);
    if (fast.filters[i] == H5Z_FILTER_DEFLATE) {
      size = inflate_chunk(raw.data(), size, work.data(), chunk_bytes, where);
    } else {
      KILN_CHECK(size == chunk_bytes, DataError, where, ": shuffled chunk of ", size,
                 " bytes, expected ", chunk_bytes);
      unshuffle(raw.data(), work.data(), size, element);
    }
    raw.swap(work);
  }
  KILN_CHECK(size == chunk_bytes, DataError, where, ": chunk holds ", size, " bytes, expected ",
             chunk_bytes);
  std::memcpy(dst, raw.data() + (from - chunk_first) * static_cast<int64_t>(element),
              static_cast<std::size_t>(to - from) * element);
}

void ShardFile::read_column(std::size_t c, int64_t start, int64_t count, void* out) const {
  h5::H5Lock lock;
  open_hdf5();
  h5::Where w{path_, objects_[c]};
  const Column& column = schema_.columns[c];
  hid_t dataset = datasets_[c].get();
  hsize_t offset[1] = {static_cast<hsize_t>(start)};
  hsize_t size[1] = {static_cast<hsize_t>(count)};
  h5::Id file_space(h5::check(H5Dget_space(dataset), w, "reading the dataspace"));
  h5::check_status(
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, size, nullptr), w,
      "selecting rows");
  h5::Id mem_space(H5Screate_simple(1, size, nullptr));
  bool wide_codes = column.role == Role::kCategorical && storage_[c].element_size == 8;
  if (wide_codes) {
    // int64 codes must fit int32: read wide, check, narrow (HDF5 would clip silently).
    std::vector<int64_t> wide(static_cast<std::size_t>(count));
    h5::check_status(H5Dread(dataset, H5T_NATIVE_INT64, mem_space.get(), file_space.get(),
                             H5P_DEFAULT, wide.data()),
                     w, "reading rows");
    auto* codes = static_cast<int32_t*>(out);
    for (int64_t i = 0; i < count; ++i) {
      int64_t v = wide[static_cast<std::size_t>(i)];
      KILN_CHECK(v >= -1 && v <= INT32_MAX, DataError, w.text(), ": row ", start + i, " has code ",
                 v, ", which does not fit int32");
      codes[i] = static_cast<int32_t>(v);
    }
    return;
  }
  const hid_t type = matrix_ && column.role == Role::kLabel ? H5T_NATIVE_FLOAT
                                                            : h5_mem_type(mem_type(column.role));
  h5::check_status(H5Dread(dataset, type, mem_space.get(), file_space.get(), H5P_DEFAULT, out), w,
                   "reading rows (corrupt or truncated data?)");
}

void ShardFile::read_matrix(int64_t start, int64_t count, const std::vector<void*>& out) const {
  std::vector<float> rows(static_cast<std::size_t>(count * matrix_width_));
  {
    h5::H5Lock lock;
    open_hdf5();
    h5::Where w{path_, objects_.empty() ? "" : objects_[0]};
    hid_t dataset = matrix_dataset_.get();
    hsize_t offset[2] = {static_cast<hsize_t>(start), 0};
    hsize_t size[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(matrix_width_)};
    h5::Id file_space(h5::check(H5Dget_space(dataset), w, "reading the dataspace"));
    h5::check_status(
        H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, size, nullptr), w,
        "selecting rows");
    h5::Id mem_space(H5Screate_simple(2, size, nullptr));
    h5::check_status(H5Dread(dataset, H5T_NATIVE_FLOAT, mem_space.get(), file_space.get(),
                             H5P_DEFAULT, rows.data()),
                     w, "reading rows (corrupt or truncated data?)");
  }
  // Row-major to one buffer per column, a tile of rows at a time for cache locality.
  constexpr int64_t kTile = 256;
  for (int64_t r0 = 0; r0 < count; r0 += kTile) {
    int64_t r1 = std::min(count, r0 + kTile);
    for (int64_t c = 0; c < matrix_width_; ++c) {
      float* dst = static_cast<float*>(out[static_cast<std::size_t>(c)]);
      if (dst == nullptr) continue;  // not wanted
      for (int64_t r = r0; r < r1; ++r)
        dst[r] = rows[static_cast<std::size_t>(r * matrix_width_ + c)];
    }
  }
}

void ShardFile::check_values(std::size_t c, int64_t start, int64_t count, const void* data) const {
  const Column& column = schema_.columns[c];
  auto fail_at = [&](int64_t i, const std::string& what) {
    throw DataError(detail::concat(path_, ": ", objects_[c], ": row ", start + i, " ", what));
  };
  if (column.role == Role::kLabel || column.role == Role::kWeight) {
    const float* v = static_cast<const float*>(data);
    for (int64_t i = 0; i < count; ++i) {
      if (!std::isfinite(v[i])) {
        fail_at(i, detail::concat("is ", v[i], "; ", role_name(column.role), "s must be finite"));
      }
      if (column.role == Role::kWeight && v[i] < 0)
        fail_at(i, detail::concat("is ", v[i], "; weights must be >= 0"));
    }
  } else if (column.role == Role::kCategorical) {
    const int32_t* v = static_cast<const int32_t*>(data);
    for (int64_t i = 0; i < count; ++i) {
      if (v[i] < -1 || (column.cardinality > 0 && v[i] >= column.cardinality)) {
        fail_at(i, detail::concat("has code ", v[i], ", expected -1 (missing) or 0..",
                                  column.cardinality - 1));
      }
    }
  }
}

}  // namespace kiln::data

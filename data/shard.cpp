#include "data/shard.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include <sys/stat.h>

#include "core/errors.h"
#include "core/files.h"
#include "core/sha256.h"
#include "core/thread_pool.h"
#include "data/proving.h"

namespace kiln::data {
namespace {

constexpr const char* kFormat = "kiln.shard";
constexpr int64_t kVersion = 1;
constexpr int64_t kMaxChunkElements = int64_t{1} << 24;
constexpr int64_t kMaxMatrixColumns = int64_t{1} << 20;

bool dtype_allowed(Role role, const h5::DatasetInfo& info) {
  switch (role) {
    case Role::kNumeric:
    case Role::kLabel:
    case Role::kWeight:
      return info.kind == h5::ScalarKind::kFloat &&
             (info.element_size == 4 || info.element_size == 8);
    case Role::kCategorical:
      return info.kind == h5::ScalarKind::kSignedInt &&
             (info.element_size == 4 || info.element_size == 8);
    case Role::kId:
    case Role::kTime:
      return info.kind == h5::ScalarKind::kSignedInt && info.element_size == 8;
  }
  return false;
}

const char* allowed_dtypes(Role role) {
  switch (role) {
    case Role::kCategorical:
      return "int32 (or int64)";
    case Role::kId:
    case Role::kTime:
      return "int64";
    default:
      return "float32 (or float64)";
  }
}

// No raw-data chunk cache: readers read whole chunks (blocks are chunk-aligned), which HDF5
// then decompresses straight into the caller's buffer. A cache per dataset would cost
// memory per shard and column, growing with the dataset instead of the loader's options.
// The dataset `name` relative to `location` (the file, or the columns' group: a name there
// is found without walking the path from the root again).
h5::Id open_dataset(hid_t location, const std::string& name, const h5::Where& where) {
  static const hid_t access = [] {  // no chunk cache: reads go around HDF5 (read_chunk)
    const hid_t plist = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(plist, 0, 0, 1.0);
    return plist;
  }();
  const hid_t dataset = H5Dopen2(location, name.c_str(), access);
  if (dataset >= 0) return h5::Id(dataset);
  std::optional<DataError> failed;  // HDF5's reason, before another call clears it
  try {
    h5::check(dataset, where, "opening the dataset");
  } catch (const DataError& e) {
    failed = e;
  }
  KILN_CHECK(h5::exists(location, name), DataError, where.file, ": dataset '", where.object,
             "' is missing");
  throw *failed;
}

std::vector<std::string> column_names_in_order(hid_t group, const h5::Where& where) {
  // Kiln's writer tracks creation order; other writers may not, then names sort.
  h5::Id gcpl(h5::check(H5Gget_create_plist(group), where, "reading the group"));
  unsigned flags = 0;
  H5Pget_link_creation_order(gcpl.get(), &flags);
  H5_index_t index = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  H5G_info_t info;
  h5::check_status(H5Gget_info(group, &info), where, "listing the columns");
  KILN_CHECK(info.nlinks <= 100000, DataError, where.text(), ": implausibly many columns (",
             info.nlinks, ")");
  // One walk of the links (a name looked up by its index twice, its length and then its
  // bytes, walked the index for each).
  std::vector<std::string> names;
  names.reserve(info.nlinks);
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  h5::check_status(H5Literate(group, index, H5_ITER_INC, nullptr, collect, &names), where,
                   "listing the columns");
  return names;
}

}  // namespace

ColumnBuffers::ColumnBuffers(const Schema& schema, int64_t rows, std::vector<void*> into)
    : into_(std::move(into)) {
  for (const Column& c : schema.columns)
    sizes_.push_back(mem_size(c.role));
  data_.resize(sizes_.size());
  into_.resize(sizes_.size(), nullptr);
  pointers_.resize(sizes_.size());
  resize(rows);
}

void ColumnBuffers::resize(int64_t rows) {
  rows_ = rows;
  for (std::size_t c = 0; c < sizes_.size(); ++c) {
    if (into_[c] == nullptr) data_[c].resize(bytes(c));
    pointers_[c] = into_[c] != nullptr ? into_[c] : data_[c].data();
  }
}

namespace {

// Every value of a dataset must have been written. HDF5 reads unwritten chunks (and
// unallocated contiguous storage) as fill values, so a half-written file would read as
// zeros, and a file of a few hundred bytes that declares 2^40 rows would be read for hours.
void check_written(hid_t dataset, const h5::DatasetInfo& info, const h5::Where& where) {
  auto times = [](uint64_t a, uint64_t b) {  // saturating
    return b != 0 && a > std::numeric_limits<uint64_t>::max() / b
               ? std::numeric_limits<uint64_t>::max()
               : a * b;
  };
  uint64_t expected = info.chunked ? 1 : info.element_size;  // chunks, or bytes
  for (std::size_t d = 0; d < info.dims.size(); ++d) {
    expected =
        times(expected, info.chunked ? (info.dims[d] + info.chunk_dims[d] - 1) / info.chunk_dims[d]
                                     : info.dims[d]);
  }
  if (info.chunked) {
    hsize_t written = 0;
    h5::Id space(h5::check(H5Dget_space(dataset), where, "reading the dataset's shape"));
    h5::check_status(H5Dget_num_chunks(dataset, space.get(), &written), where,
                     "counting the dataset's chunks");
    KILN_CHECK(written >= expected, DataError, where.text(), ": only ", written, " of ", expected,
               " chunks are written (the rest would read as fill values): the file is "
               "incomplete");
  } else {
    const uint64_t allocated = H5Dget_storage_size(dataset);
    KILN_CHECK(allocated >= expected, DataError, where.text(), ": only ", allocated, " of ",
               expected,
               " bytes are written (the rest would read as fill values): the file is "
               "incomplete");
  }
}

}  // namespace

void check_storage(hid_t dataset, const h5::DatasetInfo& info, const h5::Where& where) {
  for (const auto& [id, name] : info.filters) {
    KILN_CHECK(id == H5Z_FILTER_DEFLATE || id == H5Z_FILTER_SHUFFLE || id == H5Z_FILTER_FLETCHER32,
               DataError, where.text(), ": filter ", id, " ('", name,
               "') is not allowed (allowed: gzip/deflate, shuffle, fletcher32)");
  }
  if (info.chunked) {
    int64_t elements = 1;
    for (hsize_t d : info.chunk_dims) {
      KILN_CHECK(d >= 1, DataError, where.text(), ": a chunk dimension is 0");
      elements *= static_cast<int64_t>(std::min<hsize_t>(d, kMaxChunkElements + 1));
      KILN_CHECK(elements <= kMaxChunkElements, DataError, where.text(),
                 ": chunks of more than 2^24 elements are refused");
    }
  }
  check_written(dataset, info, where);
}

std::unique_ptr<ShardFile> ShardFile::open(const std::string& path, const Schema* expected,
                                           const MatrixLayout& matrix) {
  return std::move(open_all({path}, expected, matrix).front());
}

std::vector<std::unique_ptr<ShardFile>> ShardFile::open_all(const std::vector<std::string>& paths,
                                                            const Schema* expected,
                                                            const MatrixLayout& matrix) {
  std::vector<std::unique_ptr<ShardFile>> shards;
  if (!sandbox_enabled()) {
    for (const std::string& path : paths) {
      shards.push_back(open_unchecked(path,
                                      expected         ? expected
                                      : shards.empty() ? nullptr
                                                       : &shards.front()->schema(),
                                      matrix));
    }
    return shards;
  }
  // With the dataset's schema given, the files are independent: a child per core (up to 8)
  // proves them, each taking the next one. Without it the first file's schema is expected of
  // the others: one child proves them in order.
  const std::size_t children =
      expected ? static_cast<std::size_t>(std::min(core::usable_cores(), 8)) : 1;
  Proofs proofs(
      paths,
      [&, first = Schema()](std::size_t i) mutable {
        auto shard = open_unchecked(paths[i],
                                    expected ? expected
                                    : i > 0  ? &first
                                             : nullptr,
                                    matrix);
        if (i == 0) first = shard->schema();
        return shard->proof();
      },
      children);
  for (const std::string& path : paths)
    shards.push_back(from_proof(path, proofs.next()));
  return shards;
}

std::unique_ptr<ShardFile> ShardFile::open_unchecked(const std::string& path,
                                                     const Schema* expected,
                                                     const MatrixLayout& matrix) {
  std::unique_ptr<ShardFile> shard(new ShardFile());
  shard->path_ = path;
  shard->file_ = h5::open_file(path);
  h5::H5Lock lock;
  hid_t file = shard->file_.get();
  shard->identity_ = hdf5_identity(file, path);
  h5::Where root{path, "/"};
  std::map<std::string, h5::Id> opened;  // the columns' datasets, by name
  auto format = h5::read_string_attribute(file, "kiln_format", root);
  if (!format && h5::exists(file, matrix.features)) {
    shard->matrix_ = true;
  } else {
    KILN_CHECK(format.has_value(), DataError, path,
               ": not a Kiln shard (no 'kiln_format' attribute on '/') and no matrix dataset '",
               matrix.features, "' (data.matrix.features) for the h5py-style layout");
    KILN_CHECK(*format == kFormat, DataError, path, ": attribute kiln_format is '", *format,
               "', expected '", kFormat, "'");
    auto version = h5::read_int_attribute(file, "kiln_format_version", root);
    KILN_CHECK(version.has_value(), DataError, path,
               ": missing attribute 'kiln_format_version' on '/' (expected ", kVersion, ")");
    KILN_CHECK(*version <= kVersion, DataError, path, ": kiln_format_version ", *version,
               " was written by a newer Kiln; this one reads version ", kVersion);
    KILN_CHECK(*version == kVersion, DataError, path, ": unknown kiln_format_version ", *version,
               ", expected ", kVersion);
  }

  if (shard->matrix_) {
    h5::Where w{path, matrix.features};
    shard->matrix_object_ = matrix.features;
    shard->matrix_dataset_ = open_dataset(file, matrix.features, w);
    h5::DatasetInfo info = h5::describe(shard->matrix_dataset_.get(), w);
    check_storage(shard->matrix_dataset_.get(), info, w);
    KILN_CHECK(info.dims.size() == 2, DataError, w.text(), ": expected a 2-D matrix, got ",
               info.dims.size(), "-D");
    KILN_CHECK(info.kind == h5::ScalarKind::kFloat, DataError, w.text(),
               ": expected float32 or float64 features, got ", info.dtype_name());
    KILN_CHECK(info.dims[1] <= static_cast<hsize_t>(kMaxMatrixColumns), DataError, w.text(), ": ",
               info.dims[1], " columns; Kiln reads at most ", kMaxMatrixColumns,
               " feature columns");
    shard->rows_ = static_cast<int64_t>(info.dims[0]);
    shard->matrix_width_ = static_cast<int64_t>(info.dims[1]);
    if (info.chunked) shard->chunk_rows_ = static_cast<int64_t>(info.chunk_dims[0]);
    std::vector<std::string> names = matrix.feature_names;
    if (names.empty()) {
      names = h5::read_string_list_attribute(shard->matrix_dataset_.get(), "feature_names", w)
                  .value_or(std::vector<std::string>{});
    }
    if (names.empty()) {
      for (int64_t i = 0; i < shard->matrix_width_; ++i)
        names.push_back("f" + std::to_string(i));
    }
    KILN_CHECK(static_cast<int64_t>(names.size()) == shard->matrix_width_, DataError, w.text(),
               ": ", names.size(), " feature names for ", shard->matrix_width_, " columns");
    for (const auto& n : names) {
      shard->schema_.columns.push_back({n, Role::kNumeric, 0});
      shard->storage_.push_back(info);
    }
    // Without its label dataset the file is rows to score (kiln data transform of such rows).
    if (h5::exists(file, matrix.label))
      shard->schema_.columns.push_back({matrix.label, Role::kLabel, 0});
    if (!matrix.weight.empty()) shard->schema_.columns.push_back({matrix.weight, Role::kWeight, 0});
  } else {
    auto rows = h5::read_int_attribute(file, "rows", root);
    KILN_CHECK(rows.has_value(), DataError, path, ": missing attribute 'rows' on '/'");
    KILN_CHECK(*rows >= 1, DataError, path, ": the shard is empty (rows = ", *rows,
               "); Kiln never writes empty shards");
    shard->rows_ = *rows;
    KILN_CHECK(h5::exists(file, "columns"), DataError, path, ": missing group '/columns'");
    h5::Id group(
        h5::check(H5Gopen2(file, "columns", H5P_DEFAULT), {path, "/columns"}, "opening the group"));
    for (const std::string& name : column_names_in_order(group.get(), {path, "/columns"})) {
      h5::Where w{path, "/columns/" + name};
      h5::Id& dataset = opened[name] = open_dataset(group.get(), name, w);
      auto role = h5::read_string_attribute(dataset.get(), "role", w);
      KILN_CHECK(role.has_value(), DataError, w.text(), ": missing attribute 'role'");
      Column column{name, parse_role(*role, w.text()), 0};
      column.cardinality = h5::read_int_attribute(dataset.get(), "cardinality", w).value_or(0);
      shard->schema_.columns.push_back(column);
    }
  }

  if (expected != nullptr) {
    // The file must hold every column of the dataset's schema, with the same role.
    Schema ordered;
    for (const Column& want : expected->columns) {
      int at = shard->schema_.find(want.name);
      KILN_CHECK(at >= 0, DataError, path, ": column '", want.name, "' (", role_name(want.role),
                 ") of the dataset's schema is missing");
      const Column& have = shard->schema_.columns[static_cast<std::size_t>(at)];
      KILN_CHECK(have.role == want.role, DataError, path, ": column '", want.name, "' has role '",
                 role_name(have.role), "', the dataset's schema says '", role_name(want.role), "'");
      ordered.columns.push_back(want);
    }
    if (!shard->matrix_) shard->schema_ = ordered;
  }
  shard->schema_.validate(path);

  if (!shard->matrix_) {
    for (const Column& column : shard->schema_.columns) {
      h5::Where w{path, "/columns/" + column.name};
      h5::Id dataset = std::move(opened.at(column.name));  // every column was opened above
      h5::DatasetInfo info = h5::describe(dataset.get(), w);
      check_storage(dataset.get(), info, w);
      KILN_CHECK(info.dims.size() == 1, DataError, w.text(), ": expected a 1-D dataset, got ",
                 info.dims.size(), "-D");
      KILN_CHECK(static_cast<int64_t>(info.dims[0]) == shard->rows_, DataError, w.text(), ": has ",
                 info.dims[0], " rows, the shard has ", shard->rows_,
                 " (columns with different row counts)");
      KILN_CHECK(dtype_allowed(column.role, info), DataError, w.text(), ": dtype ",
                 info.dtype_name(), " is not allowed for role '", role_name(column.role),
                 "' (expected ", allowed_dtypes(column.role), ")");
      if (info.chunked) {
        shard->chunk_rows_ = std::max(shard->chunk_rows_, static_cast<int64_t>(info.chunk_dims[0]));
      }
      shard->fast_.emplace_back();
      shard->index_chunks(shard->fast_.size() - 1, dataset.get(), info);
      shard->datasets_.push_back(std::move(dataset));
      shard->objects_.push_back(w.object);
      shard->storage_.push_back(info);
    }
  } else {
    shard->datasets_.resize(shard->schema_.columns.size());
    shard->objects_.resize(shard->schema_.columns.size(), matrix.features);
    for (std::size_t c = static_cast<std::size_t>(shard->matrix_width_);
         c < shard->schema_.columns.size(); ++c) {
      const Column& column = shard->schema_.columns[c];
      h5::Where w{path, column.name};
      h5::Id dataset = open_dataset(file, column.name, w);
      h5::DatasetInfo info = h5::describe(dataset.get(), w);
      check_storage(dataset.get(), info, w);
      KILN_CHECK(info.dims.size() == 1, DataError, w.text(), ": expected a 1-D ",
                 role_name(column.role), ", got ", info.dims.size(), "-D");
      KILN_CHECK(static_cast<int64_t>(info.dims[0]) == shard->rows_, DataError, w.text(), ": has ",
                 info.dims[0], " rows, the matrix '", matrix.features, "' has ", shard->rows_);
      bool numeric =
          info.kind == h5::ScalarKind::kFloat ||
          ((info.kind == h5::ScalarKind::kSignedInt || info.kind == h5::ScalarKind::kUnsignedInt) &&
           column.role == Role::kLabel);
      KILN_CHECK(numeric, DataError, w.text(), ": dtype ", info.dtype_name(),
                 " is not allowed for the ", role_name(column.role), " (expected a number)");
      shard->datasets_[c] = std::move(dataset);
      shard->objects_[c] = column.name;
      shard->storage_.push_back(info);
    }
    KILN_CHECK(shard->rows_ >= 1, DataError, path, ": the matrix '", matrix.features,
               "' has no rows");
  }
  shard->fast_.resize(shard->schema_.columns.size());
  shard->open_descriptor();
  return shard;
}

void ShardFile::open_descriptor() {
  if (std::none_of(fast_.begin(), fast_.end(), [](const FastColumn& f) { return f.enabled; }))
    return;
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  KILN_CHECK(fd_ >= 0, InputError, "cannot open '", path_, "': ", errno_text(errno));
}

void ShardFile::index_chunks(std::size_t c, hid_t dataset, const h5::DatasetInfo& info) {
  // Walks the whole chunk index (so a damaged one is met when the file is proved, not in the
  // middle of training) and keeps it for the fast path when the column qualifies.
  FastColumn& fast = fast_[c];
  if (!info.chunked || info.dims.size() != 1) return;
  bool eligible = true;
  for (const auto& [id, name] : info.filters) {
    eligible =
        eligible && (id == H5Z_FILTER_DEFLATE || id == H5Z_FILTER_SHUFFLE);  // not Fletcher32
    fast.filters.push_back(id);
  }
  h5::Id type(H5Dget_type(dataset));
  eligible = eligible && type.get() >= 0 &&
             H5Tequal(type.get(), h5_mem_type(mem_type(schema_.columns[c].role))) > 0;
  const uint64_t file_size = identity_.size;  // the file proven
  fast.chunk_rows = static_cast<int64_t>(info.chunk_dims[0]);
  const uint64_t chunk_bytes =
      static_cast<uint64_t>(fast.chunk_rows) * mem_size(schema_.columns[c].role);
  for (int64_t first = 0; first < rows_; first += fast.chunk_rows) {
    hsize_t offset[1] = {static_cast<hsize_t>(first)};
    ChunkRef ref;
    haddr_t address = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info_by_coord(dataset, offset, &ref.filter_mask, &address, &size) < 0 ||
        address == HADDR_UNDEF) {
      H5Eclear2(H5E_DEFAULT);
      fast.chunks.clear();
      return;  // an index this call cannot query: leave it to H5Dread (every chunk is written)
    }
    ref.address = address;
    ref.size = size;
    // Untrusted: the chunk must lie inside the file and be of a plausible size.
    KILN_CHECK(ref.size >= 1 && ref.address <= file_size && ref.size <= file_size - ref.address &&
                   ref.size <= chunk_bytes + chunk_bytes / 2 + 4096,
               DataError, path_, ": /columns/", schema_.columns[c].name, ": the chunk at row ",
               first, " has an implausible address or size (", ref.address, ", ", ref.size,
               " bytes) for a file of ", file_size, " bytes");
    fast.chunks.push_back(ref);
  }
  fast.enabled = eligible;
  if (!eligible) fast.chunks.clear();
}

ShardFile::Identity ShardFile::identity_of(const struct stat& info) {
  return {static_cast<uint64_t>(info.st_dev), static_cast<uint64_t>(info.st_ino),
          static_cast<uint64_t>(info.st_size),
          int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec};
}

ShardFile::Identity ShardFile::identity_of(int fd, const std::string& path) {
  struct stat info {};
  KILN_CHECK(::fstat(fd, &info) == 0, InputError, "cannot read '", path, "': ", errno_text(errno));
  return identity_of(info);
}

ShardFile::Identity ShardFile::identity_of(const std::string& path) {
  struct stat info {};
  KILN_CHECK(::stat(path.c_str(), &info) == 0, InputError, "cannot read '", path,
             "': ", errno_text(errno));
  return identity_of(info);
}

ShardFile::Identity ShardFile::hdf5_identity(hid_t file, const std::string& path) {
  const h5::Where where{path, ""};
  const h5::Id access(h5::check(H5Fget_access_plist(file), where, "reading the file's driver"));
  if (H5Pget_driver(access.get()) != H5FD_SEC2) return identity_of(path);  // no descriptor
  void* handle = nullptr;  // the sec2 driver's: its file descriptor
  h5::check_status(H5Fget_vfd_handle(file, H5P_DEFAULT, &handle), where,
                   "reading the file's descriptor");
  return identity_of(*static_cast<int*>(handle), path);
}

namespace {

// A proof's record: 8-byte numbers (native order: the child is this program, forked), a
// string as its length and bytes, a list as its length and items. JSON took a tenth of a
// proving child's time to write and 3 ms of this process's to read for 8 shards of 100
// columns.
class ProofWriter {
 public:
  ProofWriter& num(uint64_t v) {
    text_.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  ProofWriter& str(const std::string& v) {
    num(v.size());
    text_ += v;
    return *this;
  }
  template <class T>
  ProofWriter& nums(const std::vector<T>& v) {
    num(v.size());
    for (const T& x : v)
      num(static_cast<uint64_t>(x));
    return *this;
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

class ProofReader {
 public:
  ProofReader(const std::string& path, const std::string& text) : path_(path), text_(text) {}
  uint64_t num() {
    need(sizeof(uint64_t));
    uint64_t v = 0;
    std::memcpy(&v, text_.data() + at_, sizeof v);
    at_ += sizeof v;
    return v;
  }
  int64_t integer() { return static_cast<int64_t>(num()); }
  std::string str() {
    const uint64_t n = num();
    need(n);
    std::string v = text_.substr(at_, n);
    at_ += n;
    return v;
  }
  template <class T>
  std::vector<T> nums() {
    std::vector<T> v(count());
    for (T& x : v)
      x = static_cast<T>(num());
    return v;
  }
  // A list's length, at most the items its bytes can hold.
  std::size_t count() {
    const uint64_t n = num();
    KILN_CHECK(n <= (text_.size() - at_) / sizeof(uint64_t), InternalError, path_,
               ": the proof of the file is unreadable: it ends early");
    return n;
  }
  void end() const {
    KILN_CHECK(at_ == text_.size(), InternalError, path_,
               ": the proof of the file is unreadable: bytes after its end");
  }

 private:
  void need(uint64_t n) const {
    KILN_CHECK(n <= text_.size() - at_, InternalError, path_,
               ": the proof of the file is unreadable: it ends early");
  }
  const std::string& path_;
  const std::string& text_;
  std::size_t at_ = 0;
};

}  // namespace

std::string ShardFile::proof() const {
  ProofWriter w;
  w.num(matrix_ ? 1 : 0).num(static_cast<uint64_t>(rows_)).num(static_cast<uint64_t>(chunk_rows_));
  w.str(matrix_object_).num(static_cast<uint64_t>(matrix_width_));
  w.num(identity_.device).num(identity_.inode).num(identity_.size);
  w.num(static_cast<uint64_t>(identity_.modified_ns));
  w.num(schema_.columns.size());
  for (std::size_t c = 0; c < schema_.columns.size(); ++c) {
    const Column& column = schema_.columns[c];
    const h5::DatasetInfo& s = storage_[c];
    const FastColumn& f = fast_[c];
    w.str(column.name).num(static_cast<uint64_t>(column.role));
    w.num(static_cast<uint64_t>(column.cardinality)).str(objects_[c]);
    w.nums(s.dims).num(static_cast<uint64_t>(s.kind)).num(s.element_size).num(s.chunked ? 1 : 0);
    w.nums(s.chunk_dims).num(s.filters.size());
    for (const auto& [id, name] : s.filters)
      w.num(static_cast<uint64_t>(id)).str(name);
    w.num(f.enabled ? 1 : 0).num(static_cast<uint64_t>(f.chunk_rows)).nums(f.filters);
    w.num(f.chunks.size());
    for (const ChunkRef& r : f.chunks)
      w.num(r.address).num(r.size).num(r.filter_mask);
  }
  return w.take();
}

std::unique_ptr<ShardFile> ShardFile::from_proof(const std::string& path,
                                                 const std::string& proof) {
  std::unique_ptr<ShardFile> shard(new ShardFile());
  shard->path_ = path;
  ProofReader r(path, proof);  // written by this program's own child: a failure here is Kiln's
  shard->matrix_ = r.num() != 0;
  shard->rows_ = r.integer();
  shard->chunk_rows_ = r.integer();
  shard->matrix_object_ = r.str();
  shard->matrix_width_ = r.integer();
  shard->identity_.device = r.num();
  shard->identity_.inode = r.num();
  shard->identity_.size = r.num();
  shard->identity_.modified_ns = r.integer();
  for (std::size_t c = 0, n = r.count(); c < n; ++c) {
    Column column;
    column.name = r.str();
    column.role = static_cast<Role>(r.num());
    column.cardinality = r.integer();
    shard->schema_.columns.push_back(std::move(column));
    shard->objects_.push_back(r.str());
    h5::DatasetInfo s;
    s.dims = r.nums<hsize_t>();
    s.kind = static_cast<h5::ScalarKind>(r.num());
    s.element_size = r.num();
    s.chunked = r.num() != 0;
    s.chunk_dims = r.nums<hsize_t>();
    for (std::size_t i = 0, filters = r.count(); i < filters; ++i) {
      const auto id = static_cast<int>(r.num());
      s.filters.emplace_back(id, r.str());
    }
    shard->storage_.push_back(std::move(s));
    FastColumn f;
    f.enabled = r.num() != 0;
    f.chunk_rows = r.integer();
    f.filters = r.nums<int>();
    for (std::size_t i = 0, chunks = r.count(); i < chunks; ++i) {
      ChunkRef ref;
      ref.address = r.num();
      ref.size = r.num();
      ref.filter_mask = static_cast<unsigned>(r.num());
      f.chunks.push_back(ref);
    }
    shard->fast_.push_back(std::move(f));
  }
  r.end();
  // The file read from here on must be the one proven (the descriptor's, when there is one;
  // closed with the shard, also when the check throws).
  shard->open_descriptor();
  KILN_CHECK(
      (shard->fd_ >= 0 ? identity_of(shard->fd_, path) : identity_of(path)) == shard->identity_,
      DataError, path,
      ": the file changed while it was being opened (replaced or rewritten since it was "
      "proven)");
  return shard;
}

void ShardFile::open_hdf5() const {
  if (file_) return;
  h5::Id file = h5::open_file(path_);
  KILN_CHECK(hdf5_identity(file.get(), path_) == identity_, DataError, path_,
             ": the file changed after it was opened (replaced or rewritten since it was "
             "proven)");
  h5::Id matrix;
  if (matrix_) matrix = open_dataset(file.get(), matrix_object_, {path_, matrix_object_});
  std::vector<h5::Id> datasets(schema_.columns.size());
  for (std::size_t c = matrix_ ? static_cast<std::size_t>(matrix_width_) : 0; c < datasets.size();
       ++c)
    datasets[c] = open_dataset(file.get(), objects_[c], {path_, objects_[c]});
  matrix_dataset_ = std::move(matrix);
  datasets_ = std::move(datasets);
  file_ = std::move(file);
}

ShardFile::~ShardFile() {
  if (fd_ >= 0) ::close(fd_);
  h5::H5Lock lock;
  datasets_.clear();
  matrix_dataset_.reset();
  file_.reset();
}

namespace {

std::vector<MatrixWriter::Array> column_arrays(const Schema& schema) {
  std::vector<MatrixWriter::Array> arrays;
  for (const Column& column : schema.columns)
    arrays.push_back({column.name, mem_type(column.role), 0});
  return arrays;
}

}  // namespace

ShardWriter::ShardWriter(std::string path, Schema schema, ShardWriteOptions options)
    : schema_(std::move(schema)),
      writer_(std::move(path), column_arrays(schema_), options, "columns") {
  h5::H5Lock lock;
  h5::write_string_attribute(writer_.file(), "kiln_format", kFormat, writer_.root());
  h5::write_int_attribute(writer_.file(), "kiln_format_version", kVersion, writer_.root());
  for (std::size_t c = 0; c < schema_.columns.size(); ++c) {
    const Column& column = schema_.columns[c];
    h5::write_string_attribute(writer_.array(c), "role", std::string(role_name(column.role)),
                               writer_.where(c));
    if (column.role == Role::kCategorical) {
      h5::write_int_attribute(writer_.array(c), "cardinality", column.cardinality,
                              writer_.where(c));
    }
  }
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::append(int64_t count, const std::vector<const void*>& columns) {
  KILN_ASSERT(columns.size() == schema_.columns.size(), "ShardWriter::append: wrong column count");
  writer_.append(count, columns);
}

std::string ShardWriter::finish() {
  KILN_CHECK(writer_.rows() > 0, OutputError, "refusing to write an empty shard '", writer_.path(),
             "'");
  h5::write_int_attribute(writer_.file(), "rows", writer_.rows(), writer_.root());
  writer_.finish();
  return core::sha256_file(writer_.path());
}

}  // namespace kiln::data

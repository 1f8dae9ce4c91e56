#include "data/shard.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "core/sha256.h"

namespace kiln::data {
namespace {

constexpr const char* kFormat = "kiln.shard";
constexpr int64_t kVersion = 1;
constexpr int64_t kMaxChunkElements = int64_t{1} << 24;

std::string where_text(const h5::Where& w) { return w.file + ": " + w.object; }

bool dtype_allowed(Role role, const h5::DatasetInfo& info) {
  switch (role) {
    case Role::kNumeric:
    case Role::kLabel:
    case Role::kWeight:
      return info.kind == h5::ScalarKind::kFloat && (info.element_size == 4 || info.element_size == 8);
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
    case Role::kCategorical: return "int32 (or int64)";
    case Role::kId:
    case Role::kTime: return "int64";
    default: return "float32 (or float64)";
  }
}

hid_t mem_h5_type(Role role) {
  switch (mem_type(role)) {
    case MemType::kFloat32: return H5T_NATIVE_FLOAT;
    case MemType::kInt32: return H5T_NATIVE_INT32;
    case MemType::kInt64: return H5T_NATIVE_INT64;
  }
  return H5T_NATIVE_FLOAT;
}

hid_t file_h5_type(Role role) {
  switch (mem_type(role)) {
    case MemType::kFloat32: return H5T_IEEE_F32LE;
    case MemType::kInt32: return H5T_STD_I32LE;
    case MemType::kInt64: return H5T_STD_I64LE;
  }
  return H5T_IEEE_F32LE;
}

// No raw-data chunk cache: readers read whole chunks (blocks are chunk-aligned), which HDF5
// then decompresses straight into the caller's buffer. A cache per dataset would cost
// memory per shard and column, growing with the dataset instead of the loader's options.
h5::Id open_dataset(hid_t file, const std::string& name, const h5::Where& where) {
  KILN_CHECK(h5::exists(file, name), DataError, where.file, ": dataset '", name,
             "' is missing");
  h5::Id plist(H5Pcreate(H5P_DATASET_ACCESS));
  H5Pset_chunk_cache(plist.get(), 0, 0, 1.0);
  return h5::Id(h5::check(H5Dopen2(file, name.c_str(), plist.get()), where, "opening the dataset"));
}

std::vector<std::string> column_names_in_order(hid_t group, const h5::Where& where) {
  // Kiln's writer tracks creation order; other writers may not, then names sort.
  h5::Id gcpl(h5::check(H5Gget_create_plist(group), where, "reading the group"));
  unsigned flags = 0;
  H5Pget_link_creation_order(gcpl.get(), &flags);
  H5_index_t index = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  H5G_info_t info;
  h5::check_status(H5Gget_info(group, &info), where, "listing the columns");
  KILN_CHECK(info.nlinks <= 100000, DataError, where_text(where), ": implausibly many columns (",
             info.nlinks, ")");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t size = H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    h5::check(size, where, "reading a column name");
    std::string name(static_cast<std::size_t>(size) + 1, '\0');
    H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(size));
    names.push_back(name);
  }
  return names;
}

}  // namespace

void check_storage(const h5::DatasetInfo& info, const h5::Where& where) {
  for (const auto& [id, name] : info.filters) {
    KILN_CHECK(id == H5Z_FILTER_DEFLATE || id == H5Z_FILTER_SHUFFLE || id == H5Z_FILTER_FLETCHER32,
               DataError, where_text(where), ": filter ", id, " ('", name,
               "') is not allowed (allowed: gzip/deflate, shuffle, fletcher32)");
  }
  if (info.chunked) {
    int64_t elements = 1;
    for (hsize_t d : info.chunk_dims) {
      KILN_CHECK(d >= 1, DataError, where_text(where), ": a chunk dimension is 0");
      elements *= static_cast<int64_t>(std::min<hsize_t>(d, kMaxChunkElements + 1));
      KILN_CHECK(elements <= kMaxChunkElements, DataError, where_text(where),
                 ": chunks of more than 2^24 elements are refused");
    }
  }
}

std::unique_ptr<ShardFile> ShardFile::open(const std::string& path, const Schema* expected,
                                           const MatrixLayout& matrix) {
  std::unique_ptr<ShardFile> shard(new ShardFile());
  shard->path_ = path;
  shard->file_ = h5::open_file(path);
  h5::H5Lock lock;
  hid_t file = shard->file_.get();
  h5::Where root{path, "/"};
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
    shard->matrix_dataset_ = open_dataset(file, matrix.features, w);
    h5::DatasetInfo info = h5::describe(shard->matrix_dataset_.get(), w);
    check_storage(info, w);
    KILN_CHECK(info.dims.size() == 2, DataError, where_text(w), ": expected a 2-D matrix, got ",
               info.dims.size(), "-D");
    KILN_CHECK(info.kind == h5::ScalarKind::kFloat, DataError, where_text(w),
               ": expected float32 or float64 features, got ", info.dtype_name());
    shard->rows_ = static_cast<int64_t>(info.dims[0]);
    shard->matrix_width_ = static_cast<int64_t>(info.dims[1]);
    if (info.chunked) shard->chunk_rows_ = static_cast<int64_t>(info.chunk_dims[0]);
    std::vector<std::string> names = matrix.feature_names;
    if (names.empty()) {
      names = h5::read_string_list_attribute(shard->matrix_dataset_.get(), "feature_names", w)
                  .value_or(std::vector<std::string>{});
    }
    if (names.empty()) {
      for (int64_t i = 0; i < shard->matrix_width_; ++i) names.push_back("f" + std::to_string(i));
    }
    KILN_CHECK(static_cast<int64_t>(names.size()) == shard->matrix_width_, DataError,
               where_text(w), ": ", names.size(), " feature names for ", shard->matrix_width_,
               " columns");
    for (const auto& n : names) {
      shard->schema_.columns.push_back({n, Role::kNumeric, 0});
      shard->storage_.push_back(info);
    }
    shard->schema_.columns.push_back({matrix.label, Role::kLabel, 0});
    if (!matrix.weight.empty()) shard->schema_.columns.push_back({matrix.weight, Role::kWeight, 0});
  } else {
    auto rows = h5::read_int_attribute(file, "rows", root);
    KILN_CHECK(rows.has_value(), DataError, path, ": missing attribute 'rows' on '/'");
    KILN_CHECK(*rows >= 1, DataError, path, ": the shard is empty (rows = ", *rows,
               "); Kiln never writes empty shards");
    shard->rows_ = *rows;
    KILN_CHECK(h5::exists(file, "columns"), DataError, path, ": missing group '/columns'");
    h5::Id group(h5::check(H5Gopen2(file, "columns", H5P_DEFAULT), {path, "/columns"},
                           "opening the group"));
    for (const std::string& name : column_names_in_order(group.get(), {path, "/columns"})) {
      h5::Where w{path, "/columns/" + name};
      h5::Id dataset = open_dataset(file, "/columns/" + name, w);
      auto role = h5::read_string_attribute(dataset.get(), "role", w);
      KILN_CHECK(role.has_value(), DataError, where_text(w), ": missing attribute 'role'");
      Column column{name, parse_role(*role, where_text(w)), 0};
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
      h5::Id dataset = open_dataset(file, "/columns/" + column.name, w);
      h5::DatasetInfo info = h5::describe(dataset.get(), w);
      check_storage(info, w);
      KILN_CHECK(info.dims.size() == 1, DataError, where_text(w), ": expected a 1-D dataset, got ",
                 info.dims.size(), "-D");
      KILN_CHECK(static_cast<int64_t>(info.dims[0]) == shard->rows_, DataError, where_text(w),
                 ": has ", info.dims[0], " rows, the shard has ", shard->rows_,
                 " (columns with different row counts)");
      KILN_CHECK(dtype_allowed(column.role, info), DataError, where_text(w), ": dtype ",
                 info.dtype_name(), " is not allowed for role '", role_name(column.role),
                 "' (expected ", allowed_dtypes(column.role), ")");
      if (info.chunked) {
        shard->chunk_rows_ = std::max(shard->chunk_rows_, static_cast<int64_t>(info.chunk_dims[0]));
      }
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
      check_storage(info, w);
      KILN_CHECK(info.dims.size() == 1, DataError, where_text(w), ": expected a 1-D ",
                 role_name(column.role), ", got ", info.dims.size(), "-D");
      KILN_CHECK(static_cast<int64_t>(info.dims[0]) == shard->rows_, DataError, where_text(w),
                 ": has ", info.dims[0], " rows, the matrix '", matrix.features, "' has ",
                 shard->rows_);
      bool numeric = info.kind == h5::ScalarKind::kFloat ||
                     ((info.kind == h5::ScalarKind::kSignedInt ||
                       info.kind == h5::ScalarKind::kUnsignedInt) &&
                      column.role == Role::kLabel);
      KILN_CHECK(numeric, DataError, where_text(w), ": dtype ", info.dtype_name(),
                 " is not allowed for the ", role_name(column.role), " (expected a number)");
      shard->datasets_[c] = std::move(dataset);
      shard->objects_[c] = column.name;
      shard->storage_.push_back(info);
    }
    KILN_CHECK(shard->rows_ >= 1, DataError, path, ": the matrix '", matrix.features, "' has no rows");
  }
  return shard;
}

ShardFile::~ShardFile() {
  h5::H5Lock lock;
  datasets_.clear();
  matrix_dataset_.reset();
  file_.reset();
}

void ShardFile::read(int64_t start, int64_t count, const std::vector<void*>& out) const {
  KILN_ASSERT(start >= 0 && count >= 0 && start + count <= rows_, "read outside the shard");
  KILN_ASSERT(out.size() == schema_.columns.size(), "one output per column");
  if (count == 0) return;
  std::size_t first = 0;
  if (matrix_) {
    read_matrix(start, count, out);
    first = static_cast<std::size_t>(matrix_width_);
  }
  for (std::size_t c = first; c < schema_.columns.size(); ++c) {
    read_column(c, start, count, out[c]);
    check_values(c, start, count, out[c]);
  }
}

void ShardFile::read_column(std::size_t c, int64_t start, int64_t count, void* out) const {
  h5::H5Lock lock;
  h5::Where w{path_, objects_[c]};
  const Column& column = schema_.columns[c];
  hid_t dataset = datasets_[c].get();
  hsize_t offset[1] = {static_cast<hsize_t>(start)};
  hsize_t size[1] = {static_cast<hsize_t>(count)};
  h5::Id file_space(h5::check(H5Dget_space(dataset), w, "reading the dataspace"));
  h5::check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, size, nullptr),
                   w, "selecting rows");
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
      KILN_CHECK(v >= -1 && v <= INT32_MAX, DataError, where_text(w), ": row ", start + i,
                 " has code ", v, ", which does not fit int32");
      codes[i] = static_cast<int32_t>(v);
    }
    return;
  }
  hid_t mem_type = matrix_ && column.role == Role::kLabel ? H5T_NATIVE_FLOAT : mem_h5_type(column.role);
  h5::check_status(H5Dread(dataset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out),
                   w, "reading rows (corrupt or truncated data?)");
}

void ShardFile::read_matrix(int64_t start, int64_t count, const std::vector<void*>& out) const {
  std::vector<float> rows(static_cast<std::size_t>(count * matrix_width_));
  {
    h5::H5Lock lock;
    h5::Where w{path_, objects_.empty() ? "" : objects_[0]};
    hid_t dataset = matrix_dataset_.get();
    hsize_t offset[2] = {static_cast<hsize_t>(start), 0};
    hsize_t size[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(matrix_width_)};
    h5::Id file_space(h5::check(H5Dget_space(dataset), w, "reading the dataspace"));
    h5::check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, size, nullptr),
                     w, "selecting rows");
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
      for (int64_t r = r0; r < r1; ++r) dst[r] = rows[static_cast<std::size_t>(r * matrix_width_ + c)];
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
      if (column.role == Role::kWeight && v[i] < 0) fail_at(i, detail::concat("is ", v[i], "; weights must be >= 0"));
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

ShardWriter::ShardWriter(std::string path, Schema schema, ShardWriteOptions options)
    : path_(std::move(path)),
      temp_(path_ + ".tmp." + std::to_string(::getpid())),
      schema_(std::move(schema)) {
  KILN_ASSERT(options.chunk_rows >= 1 && options.gzip_level >= 0 && options.gzip_level <= 9,
              "bad ShardWriteOptions");
  file_ = h5::create_file(temp_);
  h5::H5Lock lock;
  h5::Where root{temp_, "/"};
  h5::write_string_attribute(file_.get(), "kiln_format", kFormat, root);
  h5::write_int_attribute(file_.get(), "kiln_format_version", kVersion, root);
  h5::Id gcpl(H5Pcreate(H5P_GROUP_CREATE));
  H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  h5::Id group(h5::check(H5Gcreate2(file_.get(), "columns", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                         root, "creating /columns"));
  for (const Column& column : schema_.columns) {
    h5::Where w{temp_, "/columns/" + column.name};
    hsize_t dims[1] = {0}, max_dims[1] = {H5S_UNLIMITED};
    hsize_t chunk[1] = {static_cast<hsize_t>(options.chunk_rows)};
    h5::Id space(H5Screate_simple(1, dims, max_dims));
    h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl.get(), 1, chunk);
    if (options.fletcher32) H5Pset_fletcher32(dcpl.get());
    if (options.shuffle) H5Pset_shuffle(dcpl.get());
    if (options.gzip_level > 0) H5Pset_deflate(dcpl.get(), static_cast<unsigned>(options.gzip_level));
    h5::Id dataset(h5::check(H5Dcreate2(group.get(), column.name.c_str(), file_h5_type(column.role),
                                        space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                             w, "creating the column"));
    h5::write_string_attribute(dataset.get(), "role", std::string(role_name(column.role)), w);
    if (column.role == Role::kCategorical) {
      h5::write_int_attribute(dataset.get(), "cardinality", column.cardinality, w);
    }
    datasets_.push_back(std::move(dataset));
  }
}

ShardWriter::~ShardWriter() {
  if (finished_) return;
  {
    h5::H5Lock lock;
    datasets_.clear();
    file_.reset();
  }
  ::unlink(temp_.c_str());
}

void ShardWriter::append(int64_t count, const std::vector<const void*>& columns) {
  KILN_ASSERT(!finished_ && columns.size() == schema_.columns.size(), "append after finish");
  if (count == 0) return;
  h5::H5Lock lock;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    h5::Where w{temp_, "/columns/" + schema_.columns[c].name};
    hid_t dataset = datasets_[c].get();
    hsize_t new_size[1] = {static_cast<hsize_t>(rows_ + count)};
    h5::check_status(H5Dset_extent(dataset, new_size), w, "extending the column");
    h5::Id file_space(H5Dget_space(dataset));
    hsize_t offset[1] = {static_cast<hsize_t>(rows_)}, size[1] = {static_cast<hsize_t>(count)};
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, size, nullptr);
    h5::Id mem_space(H5Screate_simple(1, size, nullptr));
    herr_t rc = H5Dwrite(dataset, mem_h5_type(schema_.columns[c].role), mem_space.get(),
                         file_space.get(), H5P_DEFAULT, columns[c]);
    if (rc < 0) {
      std::string detail = h5::last_error();
      H5Eclear2(H5E_DEFAULT);
      throw OutputError(detail::concat("cannot write ", where_text(w), ": ", detail));
    }
  }
  rows_ += count;
}

std::string ShardWriter::finish() {
  KILN_ASSERT(!finished_, "finish called twice");
  KILN_CHECK(rows_ > 0, OutputError, "refusing to write an empty shard '", path_, "'");
  {
    h5::H5Lock lock;
    h5::write_int_attribute(file_.get(), "rows", rows_, {temp_, "/"});
    datasets_.clear();
    herr_t rc = H5Fclose(file_.release());  // explicit close: its failure must be seen
    if (rc < 0) {
      std::string detail = h5::last_error();
      H5Eclear2(H5E_DEFAULT);
      throw OutputError(detail::concat("cannot close '", temp_, "': ", detail));
    }
  }
  int fd = ::open(temp_.c_str(), O_RDONLY | O_CLOEXEC);
  KILN_CHECK(fd >= 0 && ::fsync(fd) == 0, OutputError, "cannot fsync '", temp_, "': ",
             errno_text(errno));
  ::close(fd);
  std::string sha = core::sha256_file(temp_);
  KILN_CHECK(::rename(temp_.c_str(), path_.c_str()) == 0, OutputError, "cannot rename '", temp_,
             "' to '", path_, "': ", errno_text(errno));
  std::string parent = std::filesystem::path(path_).parent_path().string();
  core::fsync_directory(parent.empty() ? "." : parent);
  finished_ = true;
  return sha;
}

}  // namespace kiln::data

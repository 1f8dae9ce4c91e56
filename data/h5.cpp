#include "data/h5.h"

#include <H5PLpublic.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>

#include "core/errors.h"
#include "core/files.h"
#include "core/process.h"
#include "data/csv.h"

namespace kiln::data::h5 {
namespace {

std::recursive_mutex& mutex() {
  static std::recursive_mutex m;
  return m;
}

void init_library() {
  H5dont_atexit();  // no teardown at exit: Kiln closes what it opens; the exit frees the rest
  H5open();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions, not prints
  H5PLset_loading_state(0);                     // never load filter plugins
}

herr_t innermost(unsigned, const H5E_error2_t* error, void* out) {
  // The walk goes from the innermost frame outward; keep the first description.
  auto* text = static_cast<std::string*>(out);
  if (text->empty() && error->desc != nullptr) *text = error->desc;
  return 0;
}

}  // namespace

std::string Where::text() const {
  return object.empty() ? file : file + ": " + object;
}

void reset_lock_after_fork() {
  new (&mutex()) std::recursive_mutex();
}

H5Lock::H5Lock() : lock_(mutex()) {
  static std::once_flag once;
  std::call_once(once, init_library);
}

void Id::reset() {
  if (id_ >= 0) {
    H5Lock lock;
    H5Idec_ref(id_);
  }
  id_ = H5I_INVALID_HID;
}

std::string last_error() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, &text);
  return text;
}

hid_t check(hid_t result, const Where& where, const char* doing) {
  if (result < 0) {
    std::string detail = last_error();
    H5Eclear2(H5E_DEFAULT);
    throw DataError(
        detail::concat(where.text(), ": ", doing, " failed", detail.empty() ? "" : ": ", detail));
  }
  return result;
}

herr_t check_status(herr_t result, const Where& where, const char* doing) {
  return static_cast<herr_t>(check(result, where, doing));
}

namespace {

// What to do with a CSV file given where a dataset belongs; "" for other files.
std::string csv_hint(const std::string& path) {
  if (!csv_file_name(path)) return "";
  return "; a CSV file is imported into a dataset first: kiln data import --csv " +
         core::shell_word(path) + " --out DIR --label COLUMN";
}

}  // namespace

Id open_file(const std::string& path) {
  std::error_code ec;
  KILN_CHECK(std::filesystem::exists(path, ec), InputError, "'", path, "' does not exist");
  KILN_CHECK(!std::filesystem::is_directory(path, ec), InputError, "'", path,
             "' is a directory, expected an HDF5 file");
  KILN_CHECK(::access(path.c_str(), R_OK) == 0, InputError, "'", path,
             "' cannot be read: ", errno_text(errno));
  H5Lock lock;
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  H5Eclear2(H5E_DEFAULT);
  KILN_CHECK(is_hdf5 > 0, DataError, "'", path, "' is not an HDF5 file (no HDF5 signature)",
             csv_hint(path));
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  return Id(check(file, {path, ""}, "opening the HDF5 file (damaged or truncated?)"));
}

Id create_file(const std::string& path) {
  H5Lock lock;
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) {
    std::string detail = last_error();
    H5Eclear2(H5E_DEFAULT);
    throw OutputError(detail::concat("cannot create HDF5 file '", path, "': ", detail));
  }
  return Id(file);
}

bool exists(hid_t loc, const std::string& path) {
  H5Lock lock;
  // Check each prefix: H5Lexists fails (rather than saying no) when a parent is missing.
  std::size_t start = path.starts_with('/') ? 1 : 0;
  while (true) {
    std::size_t slash = path.find('/', start);
    std::string prefix = path.substr(0, slash);
    htri_t found = H5Lexists(loc, prefix.c_str(), H5P_DEFAULT);
    if (found <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

namespace {

struct Attribute {
  Id attr;
  Id type;
  hssize_t points = 0;
};

// The attribute `name` of `object` when it exists; DataError unless it is of class `cls`.
std::optional<Attribute> open_attribute(hid_t object, const char* name, const Where& where,
                                        H5T_class_t cls, const char* expected) {
  if (H5Aexists(object, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return std::nullopt;
  }
  Attribute a;
  a.attr = Id(check(H5Aopen(object, name, H5P_DEFAULT), where, "opening an attribute"));
  a.type = Id(check(H5Aget_type(a.attr.get()), where, "reading an attribute's type"));
  KILN_CHECK(H5Tget_class(a.type.get()) == cls, DataError, where.text(), ": attribute '", name,
             "' should be ", expected);
  Id space(check(H5Aget_space(a.attr.get()), where, "reading an attribute's shape"));
  a.points = H5Sget_simple_extent_npoints(space.get());
  KILN_CHECK(a.points >= 0 && a.points <= (1 << 24), DataError, where.text(), ": attribute '", name,
             "' has an implausible length ", a.points);
  return a;
}

}  // namespace

std::optional<std::vector<std::string>> read_string_list_attribute(hid_t object, const char* name,
                                                                   const Where& where) {
  H5Lock lock;
  auto a = open_attribute(object, name, where, H5T_STRING, "strings");
  if (!a) return std::nullopt;
  const std::size_t n = static_cast<std::size_t>(a->points);
  Id space(H5Aget_space(a->attr.get()));
  Id memtype(H5Tcopy(H5T_C_S1));
  H5Tset_cset(memtype.get(), H5Tget_cset(a->type.get()));
  std::vector<std::string> out;
  if (H5Tis_variable_str(a->type.get()) > 0) {
    H5Tset_size(memtype.get(), H5T_VARIABLE);
    std::vector<char*> values(n, nullptr);
    check_status(H5Aread(a->attr.get(), memtype.get(), values.data()), where,
                 "reading an attribute");
    for (char* v : values)
      out.emplace_back(v ? v : "");
    H5Dvlen_reclaim(memtype.get(), space.get(), H5P_DEFAULT, values.data());
  } else {
    std::size_t size = H5Tget_size(a->type.get());
    KILN_CHECK(size > 0 && size <= (1u << 16), DataError, where.text(), ": attribute '", name,
               "' has an implausible string size ", size);
    H5Tset_size(memtype.get(), size);
    std::vector<char> buffer(size * n);
    check_status(H5Aread(a->attr.get(), memtype.get(), buffer.data()), where,
                 "reading an attribute");
    for (std::size_t i = 0; i < n; ++i)
      out.emplace_back(buffer.data() + i * size, strnlen(buffer.data() + i * size, size));
  }
  return out;
}

std::optional<std::string> read_string_attribute(hid_t object, const char* name,
                                                 const Where& where) {
  auto values = read_string_list_attribute(object, name, where);
  if (!values) return std::nullopt;
  KILN_CHECK(values->size() == 1, DataError, where.text(), ": attribute '", name,
             "' should be a single string");
  return values->front();
}

std::optional<int64_t> read_int_attribute(hid_t object, const char* name, const Where& where) {
  H5Lock lock;
  auto a = open_attribute(object, name, where, H5T_INTEGER, "an integer");
  if (!a) return std::nullopt;
  KILN_CHECK(a->points == 1, DataError, where.text(), ": attribute '", name,
             "' should be a single integer");
  int64_t value = 0;
  check_status(H5Aread(a->attr.get(), H5T_NATIVE_INT64, &value), where, "reading an attribute");
  return value;
}

void write_string_attribute(hid_t object, const char* name, const std::string& value,
                            const Where& where) {
  H5Lock lock;
  Id type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), std::max<std::size_t>(value.size(), 1));
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Id space(H5Screate(H5S_SCALAR));
  Id attr(check(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), where,
                "creating an attribute"));
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  check_status(H5Awrite(attr.get(), type.get(), padded.data()), where, "writing an attribute");
}

void write_int_attribute(hid_t object, const char* name, int64_t value, const Where& where) {
  H5Lock lock;
  Id space(H5Screate(H5S_SCALAR));
  Id attr(check(H5Acreate2(object, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                where, "creating an attribute"));
  check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), where, "writing an attribute");
}

void write_string_list_attribute(hid_t object, const char* name,
                                 const std::vector<std::string>& values, const Where& where) {
  H5Lock lock;
  std::size_t size = 1;
  for (const auto& v : values)
    size = std::max(size, v.size());
  Id type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), size);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  hsize_t dims[1] = {values.size()};
  Id space(H5Screate_simple(1, dims, nullptr));
  Id attr(check(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), where,
                "creating an attribute"));
  std::vector<char> buffer(size * std::max<std::size_t>(values.size(), 1), '\0');
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i].copy(buffer.data() + i * size, values[i].size());
  check_status(H5Awrite(attr.get(), type.get(), buffer.data()), where, "writing an attribute");
}

void write_int_list_attribute(hid_t object, const char* name, const std::vector<int64_t>& values,
                              const Where& where) {
  H5Lock lock;
  hsize_t dims[1] = {values.size()};
  Id space(H5Screate_simple(1, dims, nullptr));
  Id attr(check(H5Acreate2(object, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                where, "creating an attribute"));
  check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, values.data()), where,
               "writing an attribute");
}

void commit_file(Id& file, const std::string& temp, const std::string& path) {
  {
    H5Lock lock;
    herr_t rc = H5Fclose(file.release());  // explicit close: its failure must be seen
    if (rc < 0) {
      std::string detail = last_error();
      H5Eclear2(H5E_DEFAULT);
      throw OutputError(detail::concat("cannot close '", temp, "': ", detail));
    }
  }
  int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  bool synced = fd >= 0 && ::fsync(fd) == 0;
  int err = errno;
  if (fd >= 0) ::close(fd);
  KILN_CHECK(synced, OutputError, "cannot fsync '", temp, "': ", errno_text(err));
  KILN_CHECK(::rename(temp.c_str(), path.c_str()) == 0, OutputError, "cannot rename '", temp,
             "' to '", path, "': ", errno_text(errno));
  std::string parent = std::filesystem::path(path).parent_path().string();
  core::fsync_directory(parent.empty() ? "." : parent);
}

std::string DatasetInfo::dtype_name() const {
  switch (kind) {
    case ScalarKind::kFloat:
      return "float" + std::to_string(element_size * 8);
    case ScalarKind::kSignedInt:
      return "int" + std::to_string(element_size * 8);
    case ScalarKind::kUnsignedInt:
      return "uint" + std::to_string(element_size * 8);
    case ScalarKind::kString:
      return "string";
    default:
      return "unsupported type";
  }
}

DatasetInfo describe(hid_t dataset, const Where& where) {
  H5Lock lock;
  DatasetInfo info;
  Id space(check(H5Dget_space(dataset), where, "reading the dataset's shape"));
  int rank = H5Sget_simple_extent_ndims(space.get());
  KILN_CHECK(rank >= 0 && rank <= 8, DataError, where.text(), ": implausible rank ", rank);
  info.dims.resize(static_cast<std::size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), info.dims.data(), nullptr);

  Id type(check(H5Dget_type(dataset), where, "reading the dataset's type"));
  info.element_size = H5Tget_size(type.get());
  switch (H5Tget_class(type.get())) {
    case H5T_FLOAT:
      info.kind = ScalarKind::kFloat;
      break;
    case H5T_INTEGER:
      info.kind = H5Tget_sign(type.get()) == H5T_SGN_NONE ? ScalarKind::kUnsignedInt
                                                          : ScalarKind::kSignedInt;
      break;
    case H5T_STRING:
      info.kind = ScalarKind::kString;
      break;
    default:
      info.kind = ScalarKind::kOther;
  }

  Id plist(check(H5Dget_create_plist(dataset), where, "reading the dataset's storage"));
  if (H5Pget_layout(plist.get()) == H5D_CHUNKED) {
    info.chunked = true;
    info.chunk_dims.resize(static_cast<std::size_t>(std::max(rank, 1)));
    int chunk_rank =
        H5Pget_chunk(plist.get(), static_cast<int>(info.chunk_dims.size()), info.chunk_dims.data());
    KILN_CHECK(chunk_rank == rank, DataError, where.text(),
               ": chunk rank does not match the dataset's rank");
  }
  int nfilters = H5Pget_nfilters(plist.get());
  KILN_CHECK(nfilters >= 0 && nfilters <= 32, DataError, where.text(),
             ": implausible filter count ", nfilters);
  for (int i = 0; i < nfilters; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t nvalues = 8;
    unsigned values[8];
    char name[128] = {0};
    H5Z_filter_t id = H5Pget_filter2(plist.get(), static_cast<unsigned>(i), &flags, &nvalues,
                                     values, sizeof name, name, &config);
    check(id, where, "reading the filter pipeline");
    info.filters.emplace_back(static_cast<int>(id), name);
  }
  H5Eclear2(H5E_DEFAULT);
  return info;
}

template <>
hid_t memory_type<float>() {
  return H5T_NATIVE_FLOAT;
}
template <>
hid_t memory_type<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
hid_t memory_type<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
hid_t memory_type<int64_t>() {
  return H5T_NATIVE_INT64;
}

}  // namespace kiln::data::h5

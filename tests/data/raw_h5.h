// Writes HDF5 files with the C API directly, to build valid and deliberately broken shards
// that Kiln's own writer would never produce.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::data::testing {

struct RawColumn {
  std::string name;
  std::string role;  // written as the "role" attribute; "" for none
  hid_t file_type = H5T_IEEE_F32LE;
  std::vector<double> values;  // converted to file_type
  int64_t cardinality = 0;
  bool chunked = true;
  hsize_t chunk = 1024;
  bool gzip = false;
  bool shuffle = false;
  bool fletcher32 = false;
  bool scaleoffset = false;  // a filter Kiln refuses
  bool written = true;       // false: the dataset is created, its values never written
};

struct RawShard {
  std::optional<std::string> format = "kiln.shard";
  std::optional<int64_t> version = 1;
  std::optional<int64_t> rows;  // default: rows of the first column
  std::vector<RawColumn> columns;
};

inline void write_raw_shard(const std::string& path, const RawShard& shard) {
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  auto string_attr = [](hid_t obj, const char* name, const std::string& value) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, value.size());
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, type, value.data());
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
  };
  auto int_attr = [](hid_t obj, const char* name, int64_t value) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, H5T_NATIVE_INT64, &value);
    H5Aclose(attr);
    H5Sclose(space);
  };
  if (shard.format) string_attr(file, "kiln_format", *shard.format);
  if (shard.version) int_attr(file, "kiln_format_version", *shard.version);
  int64_t rows =
      shard.rows
          ? *shard.rows
          : (shard.columns.empty() ? 0 : static_cast<int64_t>(shard.columns[0].values.size()));
  int_attr(file, "rows", rows);
  hid_t group = H5Gcreate2(file, "columns", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  for (const RawColumn& c : shard.columns) {
    hsize_t dims[1] = {c.values.size()};
    hid_t space = H5Screate_simple(1, dims, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (c.chunked && !c.values.empty()) {
      hsize_t chunk[1] = {std::min<hsize_t>(c.chunk, c.values.size())};
      H5Pset_chunk(dcpl, 1, chunk);
      if (c.fletcher32) H5Pset_fletcher32(dcpl);
      if (c.shuffle) H5Pset_shuffle(dcpl);
      if (c.gzip) H5Pset_deflate(dcpl, 4);
      if (c.scaleoffset) H5Pset_scaleoffset(dcpl, H5Z_SO_FLOAT_DSCALE, 2);
    }
    hid_t dataset =
        H5Dcreate2(group, c.name.c_str(), c.file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (!c.values.empty() && c.written)
      H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.values.data());
    if (!c.role.empty()) string_attr(dataset, "role", c.role);
    if (c.cardinality > 0) int_attr(dataset, "cardinality", c.cardinality);
    H5Dclose(dataset);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  H5Gclose(group);
  H5Fclose(file);
}

// An h5py-style matrix file: X (rows x width, float64, chunked by 100 rows) and y, with
// X[i][j] = i * width + j and y[i] = i % 2. Only the first `written_rows` rows of X are
// written when given (as by a writer that was stopped).
inline void write_matrix_file(const std::string& path, int64_t rows, int64_t width,
                              std::optional<int64_t> written_rows = std::nullopt) {
  std::vector<double> x(static_cast<std::size_t>(rows * width)), y(static_cast<std::size_t>(rows));
  for (int64_t i = 0; i < rows * width; ++i)
    x[static_cast<std::size_t>(i)] = static_cast<double>(i);
  for (int64_t i = 0; i < rows; ++i)
    y[static_cast<std::size_t>(i)] = static_cast<double>(i % 2);
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(width)},
          chunk[2] = {100, dims[1]};
  hid_t space = H5Screate_simple(2, dims, nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  hid_t dx = H5Dcreate2(file, "X", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (written_rows) {
    hsize_t start[2] = {0, 0}, count[2] = {static_cast<hsize_t>(*written_rows), dims[1]};
    hid_t memory = H5Screate_simple(2, count, nullptr);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    H5Dwrite(dx, H5T_NATIVE_DOUBLE, memory, space, H5P_DEFAULT, x.data());
    H5Sclose(memory);
  } else {
    H5Dwrite(dx, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data());
  }
  hid_t yspace = H5Screate_simple(1, dims, nullptr);
  hid_t dy = H5Dcreate2(file, "y", H5T_IEEE_F32LE, yspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(dy, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, y.data());
  H5Dclose(dy);
  H5Sclose(yspace);
  H5Dclose(dx);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(file);
}

// An h5py-style float32 matrix file: X [rows, width] in chunks of chunk_rows x chunk_width
// and y [rows] in chunks of chunk_rows rows, written from `x` (rows * width values; y all 0)
// or, without `x`, declared and never written.
inline void write_float_matrix(const std::string& path, hsize_t rows, hsize_t width,
                               hsize_t chunk_rows, hsize_t chunk_width, const float* x = nullptr) {
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[2] = {rows, width}, chunk[2] = {chunk_rows, chunk_width};
  hid_t space = H5Screate_simple(2, dims, nullptr), yspace = H5Screate_simple(1, dims, nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), ydcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  H5Pset_chunk(ydcpl, 1, chunk);
  hid_t dx = H5Dcreate2(file, "X", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  hid_t dy = H5Dcreate2(file, "y", H5T_IEEE_F32LE, yspace, H5P_DEFAULT, ydcpl, H5P_DEFAULT);
  if (x != nullptr) {
    std::vector<float> y(rows, 0.0f);
    H5Dwrite(dx, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dwrite(dy, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, y.data());
  }
  H5Dclose(dy);
  H5Dclose(dx);
  H5Pclose(ydcpl);
  H5Pclose(dcpl);
  H5Sclose(yspace);
  H5Sclose(space);
  H5Fclose(file);
}

// A small valid shard: x (numeric), cat (categorical), label.
inline RawShard valid_raw_shard(int64_t rows = 3000) {
  RawShard s;
  RawColumn x, cat, label;
  x.name = "x";
  x.role = "numeric";
  cat.name = "cat";
  cat.role = "categorical";
  cat.file_type = H5T_STD_I32LE;
  cat.cardinality = 10;
  label.name = "label";
  label.role = "label";
  for (int64_t i = 0; i < rows; ++i) {
    x.values.push_back(0.5 * static_cast<double>(i));
    cat.values.push_back(static_cast<double>(i % 10));
    label.values.push_back(i % 7 == 0 ? 1.0 : 0.0);
  }
  s.columns = {x, cat, label};
  return s;
}

}  // namespace kiln::data::testing

#include "data/matrix_writer.h"

#include <unistd.h>

#include <algorithm>

#include "core/errors.h"

namespace kiln::data {
namespace {

hid_t mem_h5_type(MemType type) {
  switch (type) {
    case MemType::kFloat32:
      return H5T_NATIVE_FLOAT;
    case MemType::kInt32:
      return H5T_NATIVE_INT32;
    case MemType::kInt64:
      return H5T_NATIVE_INT64;
  }
  return H5T_NATIVE_FLOAT;
}

hid_t file_h5_type(MemType type) {
  switch (type) {
    case MemType::kFloat32:
      return H5T_IEEE_F32LE;
    case MemType::kInt32:
      return H5T_STD_I32LE;
    case MemType::kInt64:
      return H5T_STD_I64LE;
  }
  return H5T_IEEE_F32LE;
}

}  // namespace

MatrixWriter::MatrixWriter(std::string path, std::vector<Array> arrays, int64_t chunk_rows)
    : path_(std::move(path)),
      temp_(path_ + ".tmp." + std::to_string(::getpid())),
      arrays_(std::move(arrays)) {
  KILN_ASSERT(chunk_rows >= 1, "bad chunk_rows");
  file_ = h5::create_file(temp_);
  h5::H5Lock lock;
  for (const Array& a : arrays_) {
    h5::Where w{temp_, "/" + a.name};
    int rank = a.width > 0 ? 2 : 1;
    // Chunks of about 1 MiB whatever the width, whole rows each.
    hsize_t row_bytes = static_cast<hsize_t>(std::max<int64_t>(a.width, 1)) * 8;
    hsize_t chunk_height = std::clamp<hsize_t>((1u << 20) / row_bytes, 1, static_cast<hsize_t>(chunk_rows));
    hsize_t dims[2] = {0, static_cast<hsize_t>(a.width)};
    hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(a.width)};
    hsize_t chunk[2] = {chunk_height, static_cast<hsize_t>(std::max<int64_t>(a.width, 1))};
    h5::Id space(H5Screate_simple(rank, dims, max_dims));
    h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_obj_track_times(dcpl.get(), false);
    H5Pset_chunk(dcpl.get(), rank, chunk);
    h5::Id dataset(h5::check(H5Dcreate2(file_.get(), a.name.c_str(), file_h5_type(a.type),
                                        space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                             w, "creating the array"));
    if (!a.names.empty()) h5::write_string_list_attribute(dataset.get(), "feature_names", a.names, w);
    if (!a.cardinality.empty())
      h5::write_int_list_attribute(dataset.get(), "cardinality", a.cardinality, w);
    datasets_.push_back(std::move(dataset));
  }
}

MatrixWriter::~MatrixWriter() {
  if (finished_) return;
  {
    h5::H5Lock lock;
    datasets_.clear();
    file_.reset();
  }
  ::unlink(temp_.c_str());
}

void MatrixWriter::append(int64_t rows, const std::vector<const void*>& data) {
  KILN_ASSERT(!finished_ && data.size() == arrays_.size(), "MatrixWriter::append");
  if (rows == 0) return;
  h5::H5Lock lock;
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    const Array& a = arrays_[i];
    h5::Where w{temp_, "/" + a.name};
    int rank = a.width > 0 ? 2 : 1;
    hid_t dataset = datasets_[i].get();
    hsize_t new_size[2] = {static_cast<hsize_t>(rows_ + rows), static_cast<hsize_t>(a.width)};
    h5::check_status(H5Dset_extent(dataset, new_size), w, "extending the array");
    h5::Id file_space(H5Dget_space(dataset));
    hsize_t offset[2] = {static_cast<hsize_t>(rows_), 0};
    hsize_t size[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(a.width)};
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, size, nullptr);
    h5::Id mem_space(H5Screate_simple(rank, size, nullptr));
    herr_t rc = H5Dwrite(dataset, mem_h5_type(a.type), mem_space.get(), file_space.get(),
                         H5P_DEFAULT, data[i]);
    if (rc < 0) {
      std::string detail = h5::last_error();
      H5Eclear2(H5E_DEFAULT);
      throw OutputError(detail::concat("cannot write ", temp_, ": /", a.name, ": ", detail));
    }
  }
  rows_ += rows;
}

void MatrixWriter::set_attribute(const char* name, const std::string& value) {
  h5::write_string_attribute(file_.get(), name, value, {temp_, "/"});
}

void MatrixWriter::finish() {
  KILN_ASSERT(!finished_, "finish called twice");
  {
    h5::H5Lock lock;
    datasets_.clear();
  }
  h5::commit_file(file_, temp_, path_);
  finished_ = true;
}

}  // namespace kiln::data

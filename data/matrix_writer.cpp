#include "data/matrix_writer.h"

#include <unistd.h>

#include <algorithm>

#include "core/errors.h"

namespace kiln::data {
hid_t h5_mem_type(MemType type) {
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

namespace {

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

MatrixWriter::MatrixWriter(std::string path, std::vector<Array> arrays, ShardWriteOptions storage,
                           const std::string& group)
    : path_(std::move(path)),
      temp_(path_ + ".tmp." + std::to_string(::getpid())),
      arrays_(std::move(arrays)),
      prefix_(group.empty() ? "/" : "/" + group + "/") {
  KILN_ASSERT(storage.chunk_rows >= 1 && storage.gzip_level >= 0 && storage.gzip_level <= 9,
              "bad ShardWriteOptions");
  file_ = h5::create_file(temp_);
  h5::H5Lock lock;
  h5::Id parent;
  hid_t location = file_.get();
  if (!group.empty()) {
    h5::Id gcpl(H5Pcreate(H5P_GROUP_CREATE));
    H5Pset_obj_track_times(gcpl.get(), false);
    H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    parent = h5::Id(
        h5::check(H5Gcreate2(file_.get(), group.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                  root(), "creating a group"));
    location = parent.get();
  }
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    const Array& a = arrays_[i];
    int rank = a.width > 0 ? 2 : 1;
    hsize_t height = static_cast<hsize_t>(storage.chunk_rows);
    if (a.width > 0) {  // whole rows, about 1 MiB a chunk at most
      hsize_t row_bytes = static_cast<hsize_t>(a.width) * 8;
      height = std::clamp<hsize_t>((hsize_t{1} << 20) / row_bytes, 1, height);
    }
    hsize_t dims[2] = {0, static_cast<hsize_t>(a.width)};
    hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(a.width)};
    hsize_t chunk[2] = {height, static_cast<hsize_t>(a.width)};
    h5::Id space(H5Screate_simple(rank, dims, max_dims));
    h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_obj_track_times(dcpl.get(), false);
    H5Pset_chunk(dcpl.get(), rank, chunk);
    if (storage.fletcher32) H5Pset_fletcher32(dcpl.get());
    if (storage.shuffle) H5Pset_shuffle(dcpl.get());
    if (storage.gzip_level > 0)
      H5Pset_deflate(dcpl.get(), static_cast<unsigned>(storage.gzip_level));
    datasets_.emplace_back(h5::check(H5Dcreate2(location, a.name.c_str(), file_h5_type(a.type),
                                                space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                     where(i), "creating the array"));
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
  KILN_ASSERT(!finished_ && data.size() == arrays_.size(), "MatrixWriter::append after finish");
  if (rows == 0) return;
  h5::H5Lock lock;
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    const Array& a = arrays_[i];
    int rank = a.width > 0 ? 2 : 1;
    hid_t dataset = datasets_[i].get();
    hsize_t new_size[2] = {static_cast<hsize_t>(rows_ + rows), static_cast<hsize_t>(a.width)};
    h5::check_status(H5Dset_extent(dataset, new_size), where(i), "extending the array");
    h5::Id file_space(H5Dget_space(dataset));
    hsize_t offset[2] = {static_cast<hsize_t>(rows_), 0};
    hsize_t size[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(a.width)};
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, size, nullptr);
    h5::Id mem_space(H5Screate_simple(rank, size, nullptr));
    herr_t rc = H5Dwrite(dataset, h5_mem_type(a.type), mem_space.get(), file_space.get(),
                         H5P_DEFAULT, data[i]);
    if (rc < 0) {
      std::string detail = h5::last_error();
      H5Eclear2(H5E_DEFAULT);
      throw OutputError(
          detail::concat("cannot write '", temp_, "': ", prefix_, a.name, ": ", detail));
    }
  }
  rows_ += rows;
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

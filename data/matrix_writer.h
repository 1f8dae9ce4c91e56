// An HDF5 file of 1-D and 2-D (rows x width) arrays, appended in blocks of rows and
// committed atomically (temporary file, fsync, rename). ShardWriter writes shards with it
// (1-D columns under /columns); `kiln data transform` writes its output (X, categorical,
// y), which h5py reads as it is and Kiln reads as the matrix layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/h5.h"
#include "data/schema.h"

namespace kiln::data {

// Storage of written arrays.
struct ShardWriteOptions {
  int64_t chunk_rows = 65536;  // rows per chunk: 256 KiB of float32 fits HDF5's chunk cache
  int gzip_level = 0;          // 0: no compression; 1-9: deflate level
  bool shuffle = false;        // byte shuffle before deflate
  bool fletcher32 = false;     // a checksum per chunk, verified on read
};

// The HDF5 in-memory type of a MemType (H5T_NATIVE_FLOAT, ...).
hid_t h5_mem_type(MemType type);

class MatrixWriter {
 public:
  struct Array {
    std::string name;
    MemType type = MemType::kFloat32;
    int64_t width = 0;  // 0: a 1-D array; else rows x width (chunks of at most ~1 MiB)
  };

  // Arrays go into `group` ("": the root group; otherwise a new group that lists its
  // arrays in creation order). No object timestamps: the same rows give the same bytes.
  MatrixWriter(std::string path, std::vector<Array> arrays, ShardWriteOptions storage = {},
               const std::string& group = "");
  ~MatrixWriter();  // without finish(): removes the temporary file
  MatrixWriter(const MatrixWriter&) = delete;
  MatrixWriter& operator=(const MatrixWriter&) = delete;

  // For attributes: the file (root group) and array i, with where they are for messages.
  hid_t file() const { return file_.get(); }
  hid_t array(std::size_t i) const { return datasets_[i].get(); }
  h5::Where where(std::size_t i) const { return {temp_, prefix_ + arrays_[i].name}; }
  h5::Where root() const { return {temp_, "/"}; }

  // Appends `rows` rows: data[i] holds rows * max(width, 1) values of array i, row-major.
  void append(int64_t rows, const std::vector<const void*>& data);
  int64_t rows() const { return rows_; }
  const std::string& path() const { return path_; }
  void finish();

 private:
  std::string path_;
  std::string temp_;
  std::vector<Array> arrays_;
  std::string prefix_;  // "/" or "/group/"
  h5::Id file_;
  std::vector<h5::Id> datasets_;
  int64_t rows_ = 0;
  bool finished_ = false;
};

}  // namespace kiln::data

// An HDF5 file of 2-D (rows x width) and 1-D arrays, appended in blocks of rows and
// committed atomically (temporary file, fsync, rename): what `kiln data transform` writes.
// h5py reads it as it is, and so does Kiln's matrix layout when it holds X and y.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/h5.h"
#include "data/schema.h"

namespace kiln::data {

class MatrixWriter {
 public:
  struct Array {
    std::string name;
    MemType type = MemType::kFloat32;
    int64_t width = 0;                     // 0: a 1-D array
    std::vector<std::string> names;        // written as its `feature_names` attribute if any
    std::vector<int64_t> cardinality;      // written as its `cardinality` attribute if any
  };

  MatrixWriter(std::string path, std::vector<Array> arrays, int64_t chunk_rows = 16384);
  ~MatrixWriter();  // without finish(): removes the temporary file
  MatrixWriter(const MatrixWriter&) = delete;
  MatrixWriter& operator=(const MatrixWriter&) = delete;

  // Appends `rows` rows: data[i] holds rows * max(width, 1) values of array i, row-major.
  void append(int64_t rows, const std::vector<const void*>& data);
  // A string attribute on the file's root group.
  void set_attribute(const char* name, const std::string& value);
  int64_t rows() const { return rows_; }
  void finish();

 private:
  std::string path_;
  std::string temp_;
  std::vector<Array> arrays_;
  h5::Id file_;
  std::vector<h5::Id> datasets_;
  int64_t rows_ = 0;
  bool finished_ = false;
};

}  // namespace kiln::data

// Reading and writing one shard file (data/FORMAT.md), in either layout.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "data/h5.h"
#include "data/matrix_writer.h"
#include "data/schema.h"

namespace kiln::data {

// One contiguous buffer per column of a schema, each `rows` values of the column's mem type:
// what ShardFile::read fills. A column whose entry of `into` is not null is the caller's
// memory there (room for `rows` values, never grown) and gets no buffer of its own.
class ColumnBuffers {
 public:
  ColumnBuffers(const Schema& schema, int64_t rows, std::vector<void*> into = {});
  // Sets the row count (at most the first one where `into` is given); pointers stay valid
  // while it does not grow.
  void resize(int64_t rows);
  const std::vector<void*>& pointers() const { return pointers_; }
  template <class T>
  T* column(std::size_t c) const {
    return static_cast<T*>(pointers_[c]);
  }
  std::size_t bytes(std::size_t c) const { return sizes_[c] * static_cast<std::size_t>(rows_); }

 private:
  std::vector<std::size_t> sizes_;
  std::vector<std::vector<char>> data_;
  std::vector<void*> into_;
  std::vector<void*> pointers_;
  int64_t rows_ = 0;
};

// Names for the h5py-style matrix layout (FORMAT.md, "The matrix layout").
struct MatrixLayout {
  std::string features = "X";              // 2-D float dataset, rows x features
  std::string label = "y";                 // 1-D label dataset (absent: rows to score)
  std::string weight;                      // 1-D weight dataset; "" for none
  std::vector<std::string> feature_names;  // empty: the `feature_names` attribute, else f0..
};

// One shard, opened and proved before any data is read: format and version, the schema
// (names, roles), shapes and row counts, dtypes, chunking, filters and the chunk index.
// Throws DataError (65) naming the file, object and what was expected; InputError (66)
// when unreadable. The proof runs in a forked child process, because libhdf5 can crash on
// malformed files: a crash there is a DataError here. The child sends what it proved (the
// schema, the storage, the chunk index, the file's identity) and this process takes it
// without opening the file in HDF5 again; a read that needs HDF5 (the slow path, the matrix
// layout) opens it then, once, after checking that it is still the file proven
// (KILN_HDF5_SANDBOX=0 skips the child and opens here, for debugging).
// Reads go through the HDF5 lock, so one object may be shared by threads.
class ShardFile {
 public:
  // `expected`: the dataset's schema, which the file must match; nullptr: the file's own.
  static std::unique_ptr<ShardFile> open(const std::string& path, const Schema* expected,
                                         const MatrixLayout& matrix = {});
  // The files opened in order, as open() opens one, faster: one child proves them all, one
  // after the other, while this process opens each file proven. `expected` nullptr: the
  // first file's schema is expected of the others.
  static std::vector<std::unique_ptr<ShardFile>> open_all(const std::vector<std::string>& paths,
                                                          const Schema* expected,
                                                          const MatrixLayout& matrix = {});
  ~ShardFile();

  const std::string& path() const { return path_; }
  bool matrix_layout() const { return matrix_; }
  int64_t rows() const { return rows_; }
  const Schema& schema() const { return schema_; }
  // Rows per chunk (the largest over the columns), or 0 when every column is contiguous.
  int64_t chunk_rows() const { return chunk_rows_; }
  // Storage of each column (for the matrix layout, numeric columns share the matrix's).
  const std::vector<h5::DatasetInfo>& storage() const { return storage_; }

  // Reads rows [start, start + count) of every column: out[c] receives `count` contiguous
  // elements of mem_type(schema().columns[c].role); a column whose out[c] is null is not
  // read. Rejects a NaN/Inf label, a negative or non-finite weight and a categorical code
  // outside [-1, cardinality), naming the row.
  //
  // Columns stored in chunks of exactly their in-memory type, with no filters or only
  // gzip and shuffle, are read on the fast path: the chunk index is taken from HDF5 once at
  // open, and the chunks are read with pread and decompressed by Kiln (zlib) outside the
  // HDF5 lock, one task per chunk on `pool` when given. Every other column (Fletcher32,
  // conversions, contiguous storage, the matrix layout) is read by H5Dread under the lock.
  void read(int64_t start, int64_t count, const std::vector<void*>& out,
            core::ThreadPool* pool = nullptr) const;

  // One read() of several: rows [start, start + count) of `shard` into `out`.
  struct Read {
    const ShardFile* shard = nullptr;
    int64_t start = 0, count = 0;
    std::vector<void*> out;
  };
  // The same as each read() in turn, as one loop on `pool` over all their chunks (then one
  // over all their checks), so that the pool's threads stay busy across the reads' ends: a
  // read of 65 chunks on 16 threads leaves 15 idle for its last chunk.
  static void read_all(const std::vector<Read>& reads, core::ThreadPool* pool = nullptr);

 private:
  ShardFile() = default;
  static std::unique_ptr<ShardFile> open_unchecked(const std::string& path, const Schema* expected,
                                                   const MatrixLayout& matrix);
  // What a proof established, as the proving child sends it, and this process's ShardFile
  // made from it: everything but the HDF5 handles (open_hdf5 opens them when a read needs
  // them). DataError when the file is no longer the one proven.
  std::string proof() const;
  static std::unique_ptr<ShardFile> from_proof(const std::string& path, const std::string& proof);
  void open_hdf5() const;  // the caller holds the HDF5 lock
  struct Identity;
  static Identity identity_of(const struct stat& info);
  static Identity identity_of(int fd, const std::string& path);
  static Identity identity_of(const std::string& path);                // the path's file now
  static Identity hdf5_identity(hid_t file, const std::string& path);  // of HDF5's descriptor
  // Opens the descriptor the fast path reads through, when a column takes it.
  void open_descriptor();
  void read_column(std::size_t c, int64_t start, int64_t count, void* out) const;
  void read_chunk(std::size_t c, int64_t chunk, int64_t start, int64_t count, void* out) const;
  void index_chunks(std::size_t c, hid_t dataset, const h5::DatasetInfo& info);
  void read_matrix(int64_t start, int64_t count, const std::vector<void*>& out) const;
  void check_values(std::size_t c, int64_t start, int64_t count, const void* data) const;

  std::string path_;
  bool matrix_ = false;
  int64_t rows_ = 0;
  int64_t chunk_rows_ = 0;
  Schema schema_;
  // The HDF5 handles: opened with the file, or at the first read that needs them (a
  // ShardFile made from a proof), under the HDF5 lock.
  mutable h5::Id file_;
  mutable std::vector<h5::Id> datasets_;  // per column (matrix layout: numeric columns unused)
  mutable h5::Id matrix_dataset_;
  std::vector<std::string> objects_;  // per column, its dataset's name
  std::string matrix_object_;         // the matrix layout's features dataset
  std::vector<h5::DatasetInfo> storage_;
  int64_t matrix_width_ = 0;
  struct Identity {  // the file proven: a file replaced or rewritten since is another
    uint64_t device = 0, inode = 0, size = 0;
    int64_t modified_ns = 0;
    bool operator==(const Identity&) const = default;
  };
  Identity identity_;

  // The fast path (see read()): per column, its chunks' file addresses, sizes and masks.
  struct ChunkRef {
    uint64_t address = 0;
    uint64_t size = 0;
    unsigned filter_mask = 0;  // bit i set: filter i of the pipeline was skipped for it
  };
  struct FastColumn {
    bool enabled = false;
    int64_t chunk_rows = 0;
    std::vector<int> filters;  // pipeline order
    std::vector<ChunkRef> chunks;
  };
  std::vector<FastColumn> fast_;
  int fd_ = -1;  // our own descriptor for pread, independent of HDF5's
};

// Writes one shard into "<path>.tmp.<pid>" and renames it into place in finish(), so a
// reader never sees a partial shard. Not thread-safe.
class ShardWriter {
 public:
  ShardWriter(std::string path, Schema schema, ShardWriteOptions options);
  ~ShardWriter();  // without finish(): removes the temporary file
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends `count` rows; columns[c] points to `count` elements of column c's mem type.
  void append(int64_t count, const std::vector<const void*>& columns);
  int64_t rows() const { return writer_.rows(); }
  // Records the row count, closes, fsyncs, renames into place; returns the SHA-256.
  std::string finish();

 private:
  Schema schema_;
  MatrixWriter writer_;
};

// Checks that a dataset's filters are in the allowed list, its chunks are sane and every
// value is written (`info` is describe(dataset)).
void check_storage(hid_t dataset, const h5::DatasetInfo& info, const h5::Where& where);

}  // namespace kiln::data

// The streaming loader: fixed-size columnar batches from one or more datasets.
//
// An epoch is planned from metadata alone. The shards are cut into blocks of whole chunks
// (`block_rows` rounded up to the chunk size); with `shuffle` the blocks are permuted by
// (seed, epoch), dealt to the ranks round-robin, and grouped into windows of about
// `shuffle_window` rows whose rows are permuted by (seed, epoch, window). The permuted
// blocks form one stream of rows; rank r of W takes the r-th of W equal contiguous parts,
// so ranks read disjoint rows and get the same number of batches, and every row comes
// exactly once per epoch (with W ranks, up to W - 1 rows an epoch are left out, different
// ones each epoch). The position in the epoch (the
// cursor) is all that is needed to resume on the next row: no RNG state beyond the seed.
//
// A background thread reads windows (large chunk-aligned reads, decompressed in parallel on
// `threads` threads, see ShardFile::read), puts each window's rows in delivery order once
// (each batch takes its piece of the window's permutation in ascending row order; a column
// per task), and copies batches out of it into a ring of `prefetch` + `hold` batch buffers
// from the given allocator (the trainer's is pinned memory on a GPU), so reading overlaps
// the consumer's work. Memory is bounded by the options: two windows plus the ring,
// whatever the dataset's size.
//
// Thread safety: one consumer thread calls next()/seek(); the loader owns its producer.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"

namespace kiln::data {

// Host memory for batches; the trainer passes a pinned allocator when CUDA is present.
class HostAllocator {
 public:
  virtual ~HostAllocator() = default;
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* pointer) = 0;
};
// 64-byte aligned operator new.
HostAllocator& default_host_allocator();

struct LoaderOptions {
  int64_t batch_size = 4096;        // rows per batch
  bool shuffle = true;              // permute blocks and rows within windows each epoch
  int64_t shuffle_window = 262144;  // rows permuted together (memory: one window); 0: blocks only
  int64_t block_rows = 65536;       // rows per read, rounded up to whole chunks
  bool drop_last = false;           // drop the last partial batch of an epoch
  uint64_t seed = 0;                // with the epoch, fixes the order
  int rank = 0;                     // this process's rank
  int world_size = 1;               // ranks reading disjoint shares
  int prefetch = 4;                 // batches buffered ahead of the consumer
  int hold = 1;                     // the last `hold` batches next() returned stay valid
  int threads = 0;                  // reading, decompressing and gathering; 0: one per core
  HostAllocator* allocator = nullptr;  // nullptr: default_host_allocator()
};

// Where the loader is: the next batch next() will return.
struct LoaderCursor {
  int64_t epoch = 0;
  int64_t batch = 0;
  bool operator==(const LoaderCursor&) const = default;
};

// One batch: for each schema column a buffer of `rows` values of its mem type (float32
// numeric/label/weight, int32 categorical, int64 id/time), contiguous.
struct Batch {
  int64_t rows = 0;
  int64_t epoch = 0;
  int64_t index = 0;  // batch number within the epoch
  std::vector<void*> columns;
  template <class T>
  const T* column(std::size_t c) const {
    return static_cast<const T*>(columns[c]);
  }
};

class Loader {
 public:
  // Datasets must share one schema (names and roles, in order). Throws ConfigError for bad
  // options, DataError when the schemas differ.
  Loader(std::vector<std::shared_ptr<const Dataset>> datasets, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  const Schema& schema() const { return schema_; }
  const LoaderOptions& options() const { return options_; }
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  int64_t rows_per_epoch() const { return rows_per_epoch_; }  // this rank's

  // The next batch, or nullptr at the end of an epoch (the call after that starts the next
  // epoch). The batch stays valid until `hold` more batches have been returned, or seek()
  // (with the default hold of 1: until the next batch). Rethrows a
  // reading error (DataError naming file and row) from the background thread.
  const Batch* next();
  LoaderCursor cursor() const { return cursor_; }
  // Continues from `cursor` (e.g. restored from a checkpoint).
  void seek(LoaderCursor cursor);

  // Seconds next() spent waiting for the background thread, since construction.
  double wait_seconds() const { return wait_seconds_; }

  // The global row order this rank sees in `epoch`, as (shard index, row) pairs: the plan
  // without reading data, for tests and tools.
  std::vector<std::pair<int, int64_t>> epoch_order(int64_t epoch) const;

 private:
  struct Unit {
    int shard;
    int64_t start;
    int64_t rows;
  };
  struct Window {
    std::vector<Unit> units;
    int64_t rows = 0;
    uint64_t key = 0;  // seeds the row permutation
  };
  std::vector<Window> plan(int64_t epoch) const;
  std::vector<int64_t> permutation(const Window& window) const;  // keyed by window.key
  // Where each row of `window` (which starts at row `start` of this rank's epoch) is
  // delivered, counted from the window's start: each batch takes its piece of the window's
  // permutation in ascending row order. ConfigError for a window of 2^31 rows or more.
  std::vector<int32_t> places(const Window& window, int64_t start) const;
  void start_producer();
  void stop_producer();
  void produce(LoaderCursor from);

  std::vector<std::shared_ptr<const ShardFile>> shards_;
  std::vector<std::shared_ptr<const Dataset>> datasets_;
  std::unique_ptr<core::ThreadPool> pool_;
  LoaderOptions options_;
  Schema schema_;
  std::vector<Unit> units_;  // in dataset order
  int64_t rows_per_epoch_ = 0;
  int64_t batches_per_epoch_ = 0;
  std::size_t row_bytes_ = 0;

  // The ring: slots_[i % (prefetch + hold)]. produced_/consumed_ count batches of the current
  // run.
  std::vector<Batch> slots_;
  std::vector<void*> slot_memory_;
  HostAllocator* allocator_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int64_t produced_ = 0;
  int64_t consumed_ = 0;
  bool stop_ = false;
  bool epoch_done_ = false;
  std::exception_ptr error_;
  std::thread producer_;
  LoaderCursor cursor_;
  bool holding_ = false;  // the consumer holds slot (consumed_ - 1)
  double wait_seconds_ = 0;
};

}  // namespace kiln::data

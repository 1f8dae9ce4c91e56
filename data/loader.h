// The streaming loader: fixed-size columnar batches from one or more datasets.
//
// An epoch is planned from metadata alone. The shards are cut into blocks of whole chunks
// (`block_rows` rounded up to the chunk size); with `shuffle` the blocks are permuted by
// (seed, epoch) and grouped into windows of about `shuffle_window` rows whose rows are
// permuted by (seed, epoch, window): one stream of rows that depends on the seed alone. With
// W ranks, the stream is cut into global batches of W x batch_size rows and rank r takes the
// r-th of W near-equal parts of each (rows [G r / W, G (r + 1) / W) of a global batch of G
// rows), so the ranks' batches at step i together are exactly the batch one process with W
// times the batch size reads at step i; ranks get disjoint rows and the same number of
// batches, and every row comes once per epoch (with W ranks, a last global batch of fewer
// than W rows is left out). Each rank reads the windows that hold its rows, which for
// shuffled windows larger than a global batch is all of them. The position in the epoch
// (the cursor, the same on every rank) is all that is needed to resume on the next row: no
// RNG state beyond the seed.
//
// A background thread reads windows (large chunk-aligned reads, decompressed in parallel on
// `threads` threads, see ShardFile::read), puts each window's rows in delivery order once
// (each batch takes its piece of the window's permutation in ascending row order; a column
// per task), and copies batches out of it into a ring of `prefetch` + `hold` batch buffers
// from the given allocator (the trainer's is pinned memory on a GPU), so reading overlaps
// the consumer's work. Memory is bounded by the options: two windows plus the ring,
// whatever the dataset's size.
//
// Gather mode (LoaderOptions::gather, for a consumer that puts rows in order itself, such as
// the GPU path): nothing is permuted or copied on the CPU. The background thread reads whole
// windows, as far ahead as there is room, into one ring of rows (from the allocator) and
// writes beside them the order in which their rows are delivered; a batch is a range of that
// order (see Batch). The ring holds 3 windows + (hold + 2) batches of rows.
//
// Thread safety: one consumer thread calls next()/seek(); the loader owns its producer.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <future>
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
  int world_size = 1;               // ranks sharing each global batch of W x batch_size rows
  int prefetch = 4;                 // batches buffered ahead of the consumer
  int hold = 1;                     // the last `hold` batches next() returned stay valid
  int threads = 0;                  // reading, decompressing and gathering; 0: one per usable core
  bool gather = false;              // batches point into the ring of windows (see Batch)
  HostAllocator* allocator = nullptr;  // nullptr: default_host_allocator()
};

// Where the loader is: the next batch next() will return.
struct LoaderCursor {
  int64_t epoch = 0;
  int64_t batch = 0;
  bool operator==(const LoaderCursor&) const = default;
};

// Gather mode's ring: `rows` rows of every column, read a window at a time. The 4-byte
// columns (float32, int32) and then the order column lie one after another at `narrow`
// (narrow_columns x rows values), so one strided copy moves any range of rows of them all;
// the 8-byte columns follow.
struct Ring {
  int64_t rows = 0;
  const int32_t* order = nullptr;  // delivery position -> ring row
  const void* narrow = nullptr;
  int narrow_columns = 0;  // the order column included
};

// A window in the ring: rows [begin, begin + rows) modulo Ring::rows. `serial` counts the
// windows the loader has read, in order (never reused). Its rows were last held by windows
// with serials below `overwrites` (none when 0): a consumer that copies the ring elsewhere
// must have finished reading those windows' rows there before it copies this one.
struct RingWindow {
  int64_t begin = 0;
  int64_t rows = 0;
  uint64_t serial = 0;
  uint64_t overwrites = 0;
};

// Where each column of a copied batch lies in its one buffer of `batch_size` rows: byte
// offsets in schema order, each on a 64-byte boundary (so 8-byte columns are aligned, and a
// copy of the buffer gives 16-byte aligned columns to the GPU, whatever the batch size); the
// last entry is the buffer's size.
std::vector<std::size_t> batch_offsets(const Schema& schema, int64_t batch_size);

// One batch: for each schema column a buffer of `rows` values of its mem type (float32
// numeric/label/weight, int32 categorical, int64 id/time), at batch_offsets(). In gather mode
// `columns` point at the ring's columns instead, and row r of the batch is ring row row(r):
// ring->order[(start + r) % ring->rows].
struct Batch {
  int64_t rows = 0;
  int64_t epoch = 0;
  int64_t index = 0;        // batch number within the epoch
  int64_t global_rows = 0;  // rows of the global batch it is this rank's part of (all ranks')
  std::vector<void*> columns;
  template <class T>
  const T* column(std::size_t c) const {
    return static_cast<const T*>(columns[c]);
  }
  int64_t row(int64_t r) const {
    if (ring == nullptr) return r;
    const int64_t p = start + r;
    return ring->order[p < ring->rows ? p : p - ring->rows];
  }
  // Gather mode only.
  const Ring* ring = nullptr;
  int64_t start = 0;              // the delivery position of row 0 in the ring's order
  std::vector<RingWindow> fresh;  // windows read since the previous batch was returned
  uint64_t first_window = 0;      // the serial of the oldest window this batch reads
  uint64_t last_window = 0;       // the serial of the newest window this batch reads
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
  // (with the default hold of 1: until the next batch); in gather mode the same holds for the
  // ring rows of every window it reads (first_window to last_window), whole. Rethrows a
  // reading error (DataError naming file and row) from the background thread.
  const Batch* next();
  LoaderCursor cursor() const { return cursor_; }
  // Continues from `cursor` (e.g. restored from a checkpoint). In gather mode the consumer
  // must be done with the ring (copies of it finished): the rows are read again from row 0.
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
  // This rank's part of global batch `batch` of an epoch: its first row in the epoch's
  // stream and its row count.
  std::pair<int64_t, int64_t> part(int64_t batch) const;
  int64_t global_rows(int64_t batch) const;                      // of global batch `batch`
  std::vector<int32_t> permutation(const Window& window) const;  // keyed by window.key
  // Where each row of `window` (which starts at row `start` of the epoch) is delivered,
  // counted from the window's start: each global batch takes its piece of the window's
  // permutation in ascending row order. ConfigError for a window of 2^31 rows or more.
  std::vector<int32_t> places(const Window& window, int64_t start) const;
  // The window holding row `position` of an epoch of `windows`, and that window's first row.
  static std::pair<std::size_t, int64_t> locate(const std::vector<Window>& windows,
                                                int64_t position);
  // places(window, start) on a thread of its own, so that it runs while the window is read
  // (it needs no data); empty when rows are not shuffled (every row in its place).
  std::future<std::vector<int32_t>> places_meanwhile(const Window& window, int64_t start) const;
  // Reads `window`'s rows into rows [at, at + window.rows) modulo `capacity` of the column
  // buffers `bases`.
  void read_window(const Window& window, const std::vector<char*>& bases, int64_t at,
                   int64_t capacity) const;
  void allocate_ring();
  void start_producer();
  void stop_producer();
  void produce(LoaderCursor from);
  void produce_gathered(LoaderCursor from);
  // Under the lock, in gather mode: the batch of the epoch's rows [first, first + rows),
  // whose windows are read; releases the windows no held batch reads any more.
  Batch& hand_out_gathered(int64_t first, int64_t rows);
  bool rows_shuffled() const { return options_.shuffle && options_.shuffle_window > 0; }

  std::vector<std::shared_ptr<const ShardFile>> shards_;
  std::vector<std::shared_ptr<const Dataset>> datasets_;
  std::unique_ptr<core::ThreadPool> pool_;
  LoaderOptions options_;
  Schema schema_;
  std::vector<Unit> units_;     // in dataset order
  int64_t epoch_rows_ = 0;      // rows in the epoch's stream, all ranks'
  int64_t global_batch_ = 0;    // batch_size x world_size
  int64_t rows_per_epoch_ = 0;  // this rank's
  int64_t batches_per_epoch_ = 0;

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
  double wait_seconds_ = 0;

  // Gather mode. Ring positions here are unwrapped (they only grow from 0 at each start of
  // the producer): row p is ring row p % ring_.rows.
  struct ReadWindow {
    int64_t epoch;
    int64_t first;  // the epoch's row its rows are delivered from
    int64_t rows;
    int64_t begin;  // its ring position
    uint64_t serial;
    uint64_t overwrites;  // RingWindow::overwrites
    bool announced;       // in some batch's `fresh`
  };
  // The read window that delivers row `position` of `epoch`; nullptr if none (under the lock).
  const ReadWindow* find_read(int64_t epoch, int64_t position) const;
  Ring ring_;
  void* ring_memory_ = nullptr;
  std::vector<char*> ring_columns_;
  std::deque<ReadWindow> read_;     // read and not yet released
  std::vector<int64_t> held_from_;  // per slot: the ring position its batch's rows start at
  int64_t released_ = 0;            // ring positions before it may be read over
  uint64_t serial_ = 0;
};

}  // namespace kiln::data

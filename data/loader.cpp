#include "data/loader.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <limits>
#include <new>
#include <numeric>

#include "core/errors.h"
#include "data/random.h"

namespace kiln::data {
namespace {

class AlignedAllocator final : public HostAllocator {
 public:
  void* allocate(std::size_t bytes) override {
    return ::operator new (bytes, std::align_val_t{64});
  }
  void deallocate(void* p) override { ::operator delete (p, std::align_val_t{64}); }
};

}  // namespace

HostAllocator& default_host_allocator() {
  static AlignedAllocator allocator;
  return allocator;
}

Loader::Loader(std::vector<std::shared_ptr<const Dataset>> datasets, LoaderOptions options)
    : datasets_(std::move(datasets)), options_(options) {
  const LoaderOptions& o = options_;
  KILN_CHECK(!datasets_.empty(), ConfigError, "the loader needs at least one dataset");
  KILN_CHECK(o.batch_size >= 1, ConfigError, "batch size must be at least 1, got ", o.batch_size);
  KILN_CHECK(o.block_rows >= 1, ConfigError, "block_rows must be at least 1, got ", o.block_rows);
  KILN_CHECK(o.shuffle_window >= 0 && o.shuffle_window <= (int64_t{1} << 30), ConfigError,
             "shuffle_window must be 0 (shuffle blocks only) to 2^30 rows, got ", o.shuffle_window);
  KILN_CHECK(o.prefetch >= 1 && o.prefetch <= 1024, ConfigError, "prefetch must be 1..1024, got ",
             o.prefetch);
  KILN_CHECK(o.world_size >= 1 && o.rank >= 0 && o.rank < o.world_size, ConfigError, "rank ",
             o.rank, " is not in a world of ", o.world_size);
  allocator_ = o.allocator ? o.allocator : &default_host_allocator();
  KILN_CHECK(o.threads >= 0 && o.threads <= 256, ConfigError, "loader threads must be 0..256, got ",
             o.threads);
  pool_ = std::make_unique<core::ThreadPool>(o.threads);

  schema_ = datasets_[0]->schema();
  for (const auto& ds : datasets_) {
    KILN_CHECK(ds->schema().same_columns(schema_), DataError, ds->path(),
               ": its columns differ from those of ", datasets_[0]->path(),
               "; datasets read together must share one schema");
    for (const auto& shard : ds->shards()) {
      int index = static_cast<int>(shards_.size());
      shards_.push_back(shard);
      int64_t chunk = std::max<int64_t>(shard->chunk_rows(), 1);
      int64_t block = (o.block_rows + chunk - 1) / chunk * chunk;
      for (int64_t start = 0; start < shard->rows(); start += block) {
        units_.push_back({index, start, std::min(block, shard->rows() - start)});
      }
    }
  }

  // The permuted blocks form one stream of rows, cut into global batches of world_size x
  // batch_size rows; each rank takes its part of every one (part()). A last global batch of
  // fewer rows than ranks is left out, so that no rank's part is empty.
  for (const Unit& u : units_)
    epoch_rows_ += u.rows;
  global_batch_ = o.batch_size * o.world_size;
  batches_per_epoch_ =
      o.drop_last ? epoch_rows_ / global_batch_ : (epoch_rows_ + global_batch_ - 1) / global_batch_;
  if (batches_per_epoch_ > 0 &&
      epoch_rows_ - (batches_per_epoch_ - 1) * global_batch_ < o.world_size)
    --batches_per_epoch_;
  KILN_CHECK(batches_per_epoch_ >= 1, ConfigError, "an epoch of ", epoch_rows_, " rows has no ",
             o.drop_last ? "full " : "", "batch of ", global_batch_, " rows",
             o.world_size > 1 ? detail::concat(" for ", o.world_size, " ranks") : std::string(),
             o.drop_last ? " (drop_last is on)" : "");
  for (int64_t b = 0; b < batches_per_epoch_; ++b)
    rows_per_epoch_ += part(b).second;

  KILN_CHECK(o.hold >= 1 && o.hold <= 16, ConfigError, "hold must be 1..16, got ", o.hold);
  std::size_t slots = static_cast<std::size_t>(o.prefetch + o.hold);
  slots_.resize(slots);
  if (o.gather) {
    allocate_ring();
    return;
  }
  const std::vector<std::size_t> offsets = batch_offsets(schema_, o.batch_size);
  for (Batch& batch : slots_) {
    char* memory = static_cast<char*>(allocator_->allocate(offsets.back()));
    slot_memory_.push_back(memory);
    for (std::size_t c = 0; c < schema_.columns.size(); ++c)
      batch.columns.push_back(memory + offsets[c]);
  }
}

std::vector<std::size_t> batch_offsets(const Schema& schema, int64_t batch_size) {
  std::vector<std::size_t> offsets = {0};
  for (const Column& c : schema.columns) {
    const std::size_t bytes = mem_size(c.role) * static_cast<std::size_t>(batch_size);
    offsets.push_back(offsets.back() + (bytes + 63) / 64 * 64);
  }
  return offsets;
}

void Loader::allocate_ring() {
  // The largest window: whole blocks are added until it has shuffle_window rows.
  int64_t largest_unit = 0;
  for (const Unit& u : units_)
    largest_unit = std::max(largest_unit, u.rows);
  const int64_t window =
      std::min(epoch_rows_, std::max<int64_t>(options_.shuffle_window, 1) - 1 + largest_unit);
  // Two windows and hold + 2 global batches (the rows between this rank's parts are in the
  // ring too) are enough for the windows under the held batches and
  // the next batch, whatever their sizes, and the rows a drop_last epoch leaves out, so the
  // producer always gets room. A third window lets the producer read window w + 2 while
  // w + 1 crosses to the GPU and w is served: with two, a window's read and its copy (each
  // announced only when whole) come one after the other within one window's serving time.
  const int64_t rows = 3 * window + (options_.hold + 2) * global_batch_;
  KILN_CHECK(rows <= std::numeric_limits<int32_t>::max(), ConfigError, "the loader's ring of ",
             rows, " rows is too large; use a smaller shuffle_window, block_rows or batch size");
  std::size_t narrow = 1, wide = 0;  // the order column is narrow
  for (const Column& c : schema_.columns)
    (mem_size(c.role) == 4 ? narrow : wide) += 1;
  const auto n = static_cast<std::size_t>(rows);
  // The 8-byte columns start on a cache line: n * 4 * narrow bytes may be 4 mod 8.
  const std::size_t narrow_bytes = (n * 4 * narrow + 63) / 64 * 64;
  ring_memory_ = allocator_->allocate(narrow_bytes + n * 8 * wide);
  char* next_narrow = static_cast<char*>(ring_memory_);
  char* next_wide = next_narrow + narrow_bytes;
  for (const Column& c : schema_.columns) {
    char*& next = mem_size(c.role) == 4 ? next_narrow : next_wide;
    ring_columns_.push_back(next);
    next += n * mem_size(c.role);
  }
  ring_.rows = rows;
  ring_.order = reinterpret_cast<const int32_t*>(next_narrow);
  ring_.narrow = ring_memory_;
  ring_.narrow_columns = static_cast<int>(narrow);
  for (Batch& batch : slots_) {
    batch.columns.assign(ring_columns_.begin(), ring_columns_.end());
    batch.ring = &ring_;
  }
  held_from_.assign(slots_.size(), 0);
}

Loader::~Loader() {
  stop_producer();
  for (void* p : slot_memory_)
    allocator_->deallocate(p);
  if (ring_memory_ != nullptr) allocator_->deallocate(ring_memory_);
}

std::vector<Loader::Window> Loader::plan(int64_t epoch) const {
  const LoaderOptions& o = options_;
  std::vector<std::size_t> order(units_.size());
  std::iota(order.begin(), order.end(), 0);
  if (o.shuffle) {
    CounterRng rng(mix_keys(o.seed, static_cast<uint64_t>(epoch)));
    for (std::size_t i = order.size(); i > 1; --i)
      std::swap(order[i - 1], order[rng.below(i)]);
  }
  std::vector<Window> windows;
  Window current;
  for (std::size_t i = 0; i < order.size(); ++i) {
    current.units.push_back(units_[order[i]]);
    current.rows += current.units.back().rows;
    if (current.rows >= o.shuffle_window || i + 1 == order.size()) {
      current.key = mix_keys(mix_keys(o.seed, static_cast<uint64_t>(epoch)), windows.size() * 1024);
      windows.push_back(std::move(current));
      current = Window();
    }
  }
  return windows;
}

int64_t Loader::global_rows(int64_t batch) const {
  return std::min(global_batch_, epoch_rows_ - batch * global_batch_);
}

std::pair<int64_t, int64_t> Loader::part(int64_t batch) const {
  const int64_t first = batch * global_batch_;
  const int64_t rows = global_rows(batch);
  const int64_t r = options_.rank, w = options_.world_size;
  const int64_t begin = first + rows * r / w, end = first + rows * (r + 1) / w;
  return {begin, end - begin};
}

std::vector<int32_t> Loader::permutation(const Window& window) const {
  std::vector<int32_t> perm(static_cast<std::size_t>(window.rows));
  std::iota(perm.begin(), perm.end(), 0);
  if (rows_shuffled()) {
    CounterRng rng(window.key);
    for (std::size_t i = perm.size(); i > 1; --i)
      std::swap(perm[i - 1], perm[rng.below(i)]);
  }
  return perm;
}

std::vector<int32_t> Loader::places(const Window& window, int64_t start) const {
  KILN_CHECK(window.rows <= std::numeric_limits<int32_t>::max(), ConfigError, "a window of ",
             window.rows, " rows is too large; use a smaller shuffle_window or block_rows");
  const std::vector<int32_t> perm = permutation(window);
  // The pieces of the permutation the global batches take: one ends at every multiple of
  // global_batch_ rows from the epoch's start. Number every row with its piece, then hand out
  // places piece by piece in row order (a counting sort, linear time).
  std::vector<int64_t> next;  // the next free place of each piece
  for (int64_t i = 0; i < window.rows;) {
    next.push_back(i);
    const int64_t p = start + i;
    i += std::min(window.rows - i, (p / global_batch_ + 1) * global_batch_ - p);
  }
  next.push_back(window.rows);
  std::vector<int32_t> place(perm.size());
  for (std::size_t k = 0; k + 1 < next.size(); ++k) {
    for (auto i = static_cast<std::size_t>(next[k]); i < static_cast<std::size_t>(next[k + 1]); ++i)
      place[static_cast<std::size_t>(perm[i])] = static_cast<int32_t>(k);
  }
  for (int32_t& p : place)
    p = static_cast<int32_t>(next[static_cast<std::size_t>(p)]++);
  return place;
}

std::vector<std::pair<int, int64_t>> Loader::epoch_order(int64_t epoch) const {
  // What produce() delivers: every window's rows at their places.
  std::vector<std::pair<int, int64_t>> rows;
  int64_t position = 0;
  for (const Window& w : plan(epoch)) {
    std::vector<std::pair<int, int64_t>> in_window;
    for (const Unit& u : w.units) {
      for (int64_t r = 0; r < u.rows; ++r)
        in_window.emplace_back(u.shard, u.start + r);
    }
    const std::vector<int32_t> place = places(w, position);
    rows.resize(rows.size() + in_window.size());
    for (std::size_t r = 0; r < in_window.size(); ++r)
      rows[static_cast<std::size_t>(position + place[r])] = in_window[r];
    position += w.rows;
  }
  std::vector<std::pair<int, int64_t>> mine;  // this rank's parts
  for (int64_t b = 0; b < batches_per_epoch_; ++b) {
    const auto [first, count] = part(b);
    mine.insert(mine.end(), rows.begin() + first, rows.begin() + first + count);
  }
  return mine;
}

std::pair<std::size_t, int64_t> Loader::locate(const std::vector<Window>& windows,
                                               int64_t position) {
  std::size_t w = 0;
  int64_t start = 0;
  while (w < windows.size() && start + windows[w].rows <= position)
    start += windows[w++].rows;
  return {w, start};
}

void Loader::read_window(const Window& window, const std::vector<char*>& bases, int64_t at,
                         int64_t capacity) const {
  std::vector<ShardFile::Read> reads;
  for (const Unit& u : window.units) {
    // A unit that runs past the end of the buffers continues at their start.
    for (int64_t done = 0; done < u.rows;) {
      at %= capacity;
      const int64_t n = std::min(u.rows - done, capacity - at);
      ShardFile::Read& r = reads.emplace_back();
      r.shard = shards_[static_cast<std::size_t>(u.shard)].get();
      r.start = u.start + done;
      r.count = n;
      for (std::size_t c = 0; c < bases.size(); ++c)
        r.out.push_back(bases[c] + at * static_cast<int64_t>(mem_size(schema_.columns[c].role)));
      done += n;
      at += n;
    }
  }
  ShardFile::read_all(reads, pool_.get());  // the window's units in one loop
}

std::future<std::vector<int32_t>> Loader::places_meanwhile(const Window& window,
                                                           int64_t start) const {
  if (!rows_shuffled()) {
    std::promise<std::vector<int32_t>> none;
    none.set_value({});
    return none.get_future();
  }
  return std::async(std::launch::async, [this, &window, start] { return places(window, start); });
}

// Bytes a batch-copy task moves at least (whole columns).
constexpr std::size_t kCopyTaskBytes = 256 * 1024;
// Rows of a window's order a task writes.
constexpr int64_t kOrderTaskRows = 65536;

void Loader::produce(LoaderCursor from) {
  const std::size_t ncols = schema_.columns.size();
  // The window as read, and (with row shuffling) its rows in delivery order.
  ColumnBuffers window_data(schema_, 0), shuffled(schema_, 0);

  LoaderCursor at = from;
  while (true) {
    std::vector<Window> windows = plan(at.epoch);
    std::size_t w = 0, loaded = windows.size();  // the window at hand, the one read
    int64_t window_start = 0;                    // window w's first row in the epoch
    // Reads window `index`, which starts at row `start` of the epoch, and puts its rows at
    // their places(). The rows are permuted once per window, a column per task, so that each
    // column (about 1 MB) is read in cache; gathering batch by batch would read it from
    // memory once per batch.
    auto load = [&](std::size_t index, int64_t start) {
      const Window& window = windows[index];
      std::future<std::vector<int32_t>> placing = places_meanwhile(window, start);
      window_data.resize(window.rows);
      std::vector<char*> bases(ncols);
      for (std::size_t c = 0; c < ncols; ++c)
        bases[c] = window_data.column<char>(c);
      read_window(window, bases, 0, window.rows);
      if (!rows_shuffled()) return;
      const std::vector<int32_t> destination = placing.get();
      // A column per task: read in order, written in a few ascending streams (one per batch).
      shuffled.resize(window.rows);
      const int32_t* to = destination.data();
      pool_->parallel_for(static_cast<int64_t>(ncols), [&](int64_t column) {
        const std::size_t c = static_cast<std::size_t>(column);
        if (mem_size(schema_.columns[c].role) == 4) {
          auto* d = shuffled.column<uint32_t>(c);
          const auto* s = window_data.column<uint32_t>(c);
          for (int64_t i = 0; i < window.rows; ++i)
            d[to[i]] = s[i];
        } else {
          auto* d = shuffled.column<uint64_t>(c);
          const auto* s = window_data.column<uint64_t>(c);
          for (int64_t i = 0; i < window.rows; ++i)
            d[to[i]] = s[i];
        }
      });
      std::swap(window_data, shuffled);
    };

    for (; at.batch < batches_per_epoch_; ++at.batch) {
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || produced_ - consumed_ < options_.prefetch; });
        if (stop_) return;
      }
      Batch& batch = slots_[static_cast<std::size_t>(produced_) % slots_.size()];
      const auto [first, rows] = part(at.batch);
      int64_t done = 0;
      while (done < rows) {
        // The window of row first + done: windows that hold none of this rank's rows are
        // passed over unread.
        while (first + done >= window_start + windows[w].rows)
          window_start += windows[w++].rows;
        if (loaded != w) load(loaded = w, window_start);
        const int64_t offset = first + done - window_start;
        const int64_t n = std::min(rows - done, windows[w].rows - offset);
        // Slices of the delivery-ordered window, in tasks of whole columns of at least
        // kCopyTaskBytes: a small batch is a few tasks, not one per column.
        std::vector<std::size_t> group_end;
        for (std::size_t c = 0, bytes = 0; c < ncols; ++c) {
          bytes += mem_size(schema_.columns[c].role) * static_cast<std::size_t>(n);
          if (bytes >= kCopyTaskBytes || c + 1 == ncols) {
            group_end.push_back(c + 1);
            bytes = 0;
          }
        }
        pool_->parallel_for(static_cast<int64_t>(group_end.size()), [&](int64_t g) {
          const auto k = static_cast<std::size_t>(g);
          for (std::size_t c = k == 0 ? 0 : group_end[k - 1]; c < group_end[k]; ++c) {
            const auto size = static_cast<int64_t>(mem_size(schema_.columns[c].role));
            std::memcpy(static_cast<char*>(batch.columns[c]) + done * size,
                        window_data.column<char>(c) + offset * size,
                        static_cast<std::size_t>(n * size));
          }
        });
        done += n;
      }
      batch.rows = rows;
      batch.global_rows = global_rows(at.batch);
      batch.epoch = at.epoch;
      batch.index = at.batch;
      {
        std::lock_guard lock(mutex_);
        ++produced_;
      }
      changed_.notify_all();
    }
    at = {at.epoch + 1, 0};
  }
}

void Loader::produce_gathered(LoaderCursor from) {
  const int64_t capacity = ring_.rows;
  auto* order = const_cast<int32_t*>(ring_.order);
  int64_t at = 0;  // the ring position of the next window
  // The windows read since this start, (ring position, serial), from the newest one whose
  // rows the next window overwrites; those of earlier starts lay anywhere in the ring.
  std::deque<std::pair<int64_t, uint64_t>> placed;
  const uint64_t start_serial = serial_;
  for (int64_t epoch = from.epoch;; ++epoch) {
    const std::vector<Window> windows = plan(epoch);
    auto [w, first] = epoch == from.epoch ? locate(windows, part(from.batch).first)
                                          : std::pair<std::size_t, int64_t>{0, 0};
    // The places of windows w, w + 1, ...: computed ahead, two windows at once, so that with
    // many reading threads the (serial) places keep up with the reads.
    std::deque<std::future<std::vector<int32_t>>> placing;
    std::size_t ahead = w;
    int64_t ahead_first = first;
    for (; w < windows.size(); first += windows[w++].rows) {
      for (; ahead < windows.size() && placing.size() < 2; ahead_first += windows[ahead++].rows)
        placing.push_back(places_meanwhile(windows[ahead], ahead_first));
      const Window& window = windows[w];
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || at + window.rows - released_ <= capacity; });
        if (stop_) return;
      }
      read_window(window, ring_columns_, at, capacity);
      // The order: the ring rows of the window's rows, at their delivery positions.
      const std::vector<int32_t> place = placing.front().get();
      placing.pop_front();
      const int64_t base = at % capacity;
      auto wrap = [capacity](int64_t p) { return p < capacity ? p : p - capacity; };
      pool_->parallel_for((window.rows + kOrderTaskRows - 1) / kOrderTaskRows, [&](int64_t t) {
        const int64_t end = std::min(window.rows, (t + 1) * kOrderTaskRows);
        for (int64_t i = t * kOrderTaskRows; i < end; ++i) {
          const int64_t p = place.empty() ? i : place[static_cast<std::size_t>(i)];
          order[wrap(base + p)] = static_cast<int32_t>(wrap(base + i));
        }
      });
      const int64_t reused_below = at + window.rows - capacity;  // ring positions it reuses
      while (placed.size() > 1 && placed[1].first < reused_below)
        placed.pop_front();
      const uint64_t overwrites = !placed.empty() && placed.front().first < reused_below
                                      ? placed.front().second + 1
                                      : start_serial;
      placed.emplace_back(at, serial_);
      {
        std::lock_guard lock(mutex_);
        read_.push_back({epoch, first, window.rows, at, serial_++, overwrites, false});
      }
      changed_.notify_all();
      at += window.rows;
    }
  }
}

const Loader::ReadWindow* Loader::find_read(int64_t epoch, int64_t position) const {
  for (const ReadWindow& r : read_) {
    if (r.epoch == epoch && position >= r.first && position < r.first + r.rows) return &r;
  }
  return nullptr;
}

Batch& Loader::hand_out_gathered(int64_t first, int64_t rows) {
  const ReadWindow* head = find_read(cursor_.epoch, first);
  const std::size_t slot = static_cast<std::size_t>(consumed_) % slots_.size();
  Batch& batch = slots_[slot];
  batch.rows = rows;
  batch.global_rows = global_rows(cursor_.batch);
  batch.epoch = cursor_.epoch;
  batch.index = cursor_.batch;
  batch.start = (head->begin + first - head->first) % ring_.rows;
  batch.first_window = head->serial;
  batch.last_window = find_read(cursor_.epoch, first + rows - 1)->serial;
  batch.fresh.clear();
  for (ReadWindow& r : read_) {
    if (r.announced) continue;
    batch.fresh.push_back({r.begin % ring_.rows, r.rows, r.serial, r.overwrites});
    r.announced = true;
  }
  // Release the windows before the oldest batch still held (this one included).
  held_from_[slot] = head->begin;
  const int64_t oldest = std::max<int64_t>(0, consumed_ + 1 - options_.hold);
  released_ = held_from_[static_cast<std::size_t>(oldest) % slots_.size()];
  while (!read_.empty() && read_.front().begin + read_.front().rows <= released_)
    read_.pop_front();
  return batch;
}

void Loader::start_producer() {
  produced_ = consumed_ = 0;
  stop_ = false;
  error_ = nullptr;
  read_.clear();
  released_ = 0;
  LoaderCursor from = cursor_;
  producer_ = std::thread([this, from] {
    try {
      if (options_.gather)
        produce_gathered(from);
      else
        produce(from);
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
      changed_.notify_all();
    }
  });
}

void Loader::stop_producer() {
  if (!producer_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  producer_.join();
}

void Loader::seek(LoaderCursor cursor) {
  KILN_CHECK(cursor.epoch >= 0 && cursor.batch >= 0 && cursor.batch <= batches_per_epoch_,
             ConfigError, "loader cursor (epoch ", cursor.epoch, ", batch ", cursor.batch,
             ") is outside an epoch of ", batches_per_epoch_, " batches");
  stop_producer();
  cursor_ = cursor;
}

const Batch* Loader::next() {
  if (cursor_.batch == batches_per_epoch_) {
    // End of the epoch: the producer has already moved on to the next one.
    cursor_ = {cursor_.epoch + 1, 0};
    return nullptr;
  }
  if (!producer_.joinable()) start_producer();
  const std::pair<int64_t, int64_t> mine = part(cursor_.batch);
  const int64_t first = mine.first, rows = mine.second;  // (a lambda below reads them)
  // The batch is ready when the producer has made it (in gather mode: read the window that
  // delivers its last row).
  auto ready = [&] {
    return options_.gather ? find_read(cursor_.epoch, first + rows - 1) != nullptr
                           : produced_ > consumed_;
  };
  std::unique_lock lock(mutex_);
  auto start = std::chrono::steady_clock::now();
  changed_.wait(lock, [&] { return ready() || error_; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!ready()) std::rethrow_exception(error_);
  const Batch* batch = options_.gather
                           ? &hand_out_gathered(first, rows)
                           : &slots_[static_cast<std::size_t>(consumed_) % slots_.size()];
  ++consumed_;
  lock.unlock();
  changed_.notify_all();
  ++cursor_.batch;
  return batch;
}

}  // namespace kiln::data

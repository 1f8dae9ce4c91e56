#include "data/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "core/errors.h"
#include "raw_h5.h"
#include "tests/temp_dir.h"

namespace kiln::data {
namespace {

using kiln::testing::TempDir;

// A dataset whose id column numbers its rows 0..rows-1 and whose x column is 2 * id.
std::shared_ptr<const Dataset> make_dataset(const std::string& dir, int64_t rows, int64_t per_shard,
                                            ShardWriteOptions write = {4096, 0, false, false}) {
  Schema schema{{{"id", Role::kId, 0}, {"x", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
  {
    DatasetWriter writer(dir, schema, write, per_shard);
    std::vector<int64_t> id(rows);
    std::vector<float> x(rows), label(rows);
    for (int64_t i = 0; i < rows; ++i) {
      id[i] = i;
      x[i] = 2.0f * static_cast<float>(i);
      label[i] = static_cast<float>(i % 2);
    }
    writer.append(rows, {id.data(), x.data(), label.data()});
    writer.finish();
  }
  return Dataset::open(dir);
}

// The ids of one epoch, checking each batch's x against its id.
std::vector<int64_t> epoch_ids(Loader& loader) {
  std::vector<int64_t> ids;
  while (const Batch* b = loader.next()) {
    for (int64_t i = 0; i < b->rows; ++i) {
      int64_t id = b->column<int64_t>(0)[i];
      EXPECT_EQ(b->column<float>(1)[i], 2.0f * static_cast<float>(id));
      ids.push_back(id);
    }
  }
  return ids;
}

// An 8-byte column after a 4-byte one and an odd batch size: the int64 ids must still be
// aligned, in both modes (reading a misaligned one is undefined; UBSan reports it).
TEST(Loader, EightByteColumnsAreAlignedWhateverTheBatchSize) {
  TempDir dir;
  Schema schema{{{"x", Role::kNumeric, 0}, {"id", Role::kId, 0}, {"label", Role::kLabel, 0}}};
  const int64_t rows = 5001;
  {
    DatasetWriter writer(dir / "ds", schema, {4096, 0, false, false}, rows);
    std::vector<int64_t> id(rows);
    std::vector<float> x(rows), label(rows, 0.0f);
    for (int64_t i = 0; i < rows; ++i) {
      id[i] = i;
      x[i] = 2.0f * static_cast<float>(i);
    }
    writer.append(rows, {x.data(), id.data(), label.data()});
    writer.finish();
  }
  auto ds = Dataset::open(dir / "ds");
  for (bool gather : {false, true}) {
    SCOPED_TRACE(gather ? "gather mode" : "copied batches");
    LoaderOptions o;
    o.batch_size = 333;
    o.shuffle_window = 999;
    o.block_rows = 777;
    o.gather = gather;
    Loader loader({ds}, o);
    std::set<int64_t> seen;
    while (const Batch* b = loader.next()) {
      for (const void* column : b->columns)
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(column) % (gather ? 8 : 64), 0u);
      for (int64_t r = 0; r < b->rows; ++r) {
        const int64_t at = b->row(r), id = b->column<int64_t>(1)[at];
        ASSERT_EQ(b->column<float>(0)[at], 2.0f * static_cast<float>(id));
        seen.insert(id);
      }
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), rows);
  }
}

TEST(Loader, EveryRowExactlyOncePerEpochInFixedSizeBatches) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 50000, 12000);
  LoaderOptions o;
  o.batch_size = 1000;
  o.shuffle_window = 9000;
  o.block_rows = 3000;
  Loader loader({ds}, o);
  EXPECT_EQ(loader.batches_per_epoch(), 50);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> ids = epoch_ids(loader);
    ASSERT_EQ(ids.size(), 50000u);
    std::vector<int64_t> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 50000; ++i)
      ASSERT_EQ(sorted[i], i);
    EXPECT_FALSE(std::is_sorted(ids.begin(), ids.end()));
  }
  EXPECT_EQ(loader.cursor(), (LoaderCursor{2, 0}));
}

TEST(Loader, TheOrderIsAFunctionOfSeedAndEpoch) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 20000, 20000);
  LoaderOptions o;
  o.batch_size = 512;
  o.block_rows = 1024;
  o.shuffle_window = 4096;
  o.seed = 7;
  Loader a({ds}, o), b({ds}, o);
  std::vector<int64_t> a0 = epoch_ids(a), b0 = epoch_ids(b), a1 = epoch_ids(a);
  EXPECT_EQ(a0, b0);
  EXPECT_NE(a0, a1);
  o.seed = 8;
  Loader c({ds}, o);
  EXPECT_NE(epoch_ids(c), a0);
  // The plan that tools and tests read matches what the loader delivers.
  std::vector<int64_t> planned;
  for (auto [shard, row] : a.epoch_order(0))
    planned.push_back(row);
  EXPECT_EQ(planned, a0);
}

TEST(Loader, ShuffleOffReadsInOrder) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 9999, 4000);
  LoaderOptions o;
  o.shuffle = false;
  o.batch_size = 1000;
  Loader loader({ds}, o);
  std::vector<int64_t> ids = epoch_ids(loader);
  ASSERT_EQ(ids.size(), 9999u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
}

TEST(Loader, DropLastDropsOnlyThePartialBatch) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 10500, 10500);
  LoaderOptions o;
  o.batch_size = 1000;
  o.drop_last = true;
  Loader loader({ds}, o);
  EXPECT_EQ(loader.batches_per_epoch(), 10);
  int batches = 0;
  while (const Batch* b = loader.next()) {
    EXPECT_EQ(b->rows, 1000);
    ++batches;
  }
  EXPECT_EQ(batches, 10);
  o.drop_last = false;
  Loader keep({ds}, o);
  EXPECT_EQ(keep.batches_per_epoch(), 11);
}

TEST(Loader, ResumesOnTheNextRowAfterCursorRestore) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 30000, 7000);
  LoaderOptions o;
  o.batch_size = 700;
  o.block_rows = 2000;
  o.shuffle_window = 5000;
  o.seed = 3;
  o.prefetch = 3;
  Loader straight({ds}, o);
  std::vector<int64_t> expected = epoch_ids(straight);
  std::vector<int64_t> expected_next = epoch_ids(straight);

  Loader interrupted({ds}, o);
  std::vector<int64_t> got;
  for (int i = 0; i < 17; ++i) {
    const Batch* b = interrupted.next();
    got.insert(got.end(), b->column<int64_t>(0), b->column<int64_t>(0) + b->rows);
  }
  LoaderCursor saved = interrupted.cursor();
  EXPECT_EQ(saved, (LoaderCursor{0, 17}));
  Loader resumed({ds}, o);
  resumed.seek(saved);
  std::vector<int64_t> rest = epoch_ids(resumed);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(epoch_ids(resumed), expected_next);
}

TEST(Loader, RanksReadDisjointRowsAndTheSameNumberOfBatches) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 40003, 9000);
  std::set<int64_t> seen;
  int64_t batches = -1;
  for (int rank = 0; rank < 3; ++rank) {
    LoaderOptions o;
    o.batch_size = 256;
    o.block_rows = 1000;
    o.rank = rank;
    o.world_size = 3;
    o.seed = 11;
    Loader loader({ds}, o);
    if (batches < 0) batches = loader.batches_per_epoch();
    EXPECT_EQ(loader.batches_per_epoch(), batches);
    int64_t count = 0;
    std::vector<int64_t> ids = epoch_ids(loader);
    for (int64_t id : ids)
      EXPECT_TRUE(seen.insert(id).second) << "row " << id << " twice";
    count = static_cast<int64_t>(ids.size());
    EXPECT_EQ(count, loader.rows_per_epoch());
  }
  // All ranks together cover every row: the last global batch (67 rows) has a part for each.
  EXPECT_EQ(static_cast<int64_t>(seen.size()), 40003);
}

TEST(Loader, ReadsGzipShardsAndSeveralDatasetsTogether) {
  TempDir dir;
  auto a = make_dataset(dir / "a", 5000, 5000, {1024, 6, true, true});
  auto b = make_dataset(dir / "b", 3000, 1000);
  LoaderOptions o;
  o.batch_size = 999;
  Loader loader({a, b}, o);
  std::map<int64_t, int> counts;
  for (int64_t id : epoch_ids(loader))
    ++counts[id];
  EXPECT_EQ(loader.rows_per_epoch(), 8000);
  for (int64_t i = 0; i < 3000; ++i)
    EXPECT_EQ(counts[i], 2) << i;  // in both datasets
  for (int64_t i = 3000; i < 5000; ++i)
    EXPECT_EQ(counts[i], 1) << i;
}

TEST(Loader, ReadsTheMatrixLayoutOfADirectoryOfH5pyStyleFiles) {
  TempDir dir;
  std::filesystem::create_directories(dir / "m");
  testing::write_matrix_file(dir / "m/a.h5", 1234, 5);
  testing::write_matrix_file(dir / "m/b.h5", 766, 5);
  auto ds = Dataset::open(dir / "m");
  ASSERT_EQ(ds->rows(), 2000);
  ASSERT_EQ(ds->schema().columns.size(), 6u);  // f0..f4 and y
  LoaderOptions o;
  o.batch_size = 128;
  o.block_rows = 300;
  o.shuffle_window = 700;
  Loader loader({ds}, o);
  int64_t rows = 0;
  double label_sum = 0;
  while (const Batch* b = loader.next()) {
    for (int64_t i = 0; i < b->rows; ++i) {
      // Each row is intact after the transpose: X[r][j] = r * 5 + j, y = r % 2.
      float f0 = b->column<float>(0)[i];
      int64_t r = static_cast<int64_t>(f0) / 5;
      for (std::size_t j = 1; j < 5; ++j)
        ASSERT_EQ(b->column<float>(j)[i], f0 + static_cast<float>(j));
      ASSERT_EQ(b->column<float>(5)[i], static_cast<float>(r % 2));
      label_sum += b->column<float>(5)[i];
    }
    rows += b->rows;
  }
  EXPECT_EQ(rows, 2000);
  EXPECT_EQ(label_sum, 617 + 383);  // odd rows of each file
}

TEST(Loader, AReadErrorReachesTheConsumerNamingFileAndRow) {
  TempDir dir;
  testing::RawShard raw = testing::valid_raw_shard(5000);
  raw.columns[2].values[4321] = std::nan("");
  testing::write_raw_shard(dir / "bad.h5", raw);
  auto ds = Dataset::open(dir / "bad.h5");
  LoaderOptions o;
  o.batch_size = 100;
  for (bool gather : {false, true}) {
    o.gather = gather;
    Loader loader({ds}, o);
    try {
      while (loader.next()) {
      }
      ADD_FAILURE() << "no error, gather " << gather;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("bad.h5: /columns/label: row 4321"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Loader, WithHoldTwoTheBatchBeforeTheLastStaysIntact) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 20000, 20000);
  LoaderOptions o;
  o.batch_size = 500;
  o.prefetch = 1;
  o.hold = 2;
  o.shuffle_window = 4000;
  Loader loader({ds}, o);
  const Batch* previous = loader.next();
  std::vector<int64_t> copy(previous->column<int64_t>(0), previous->column<int64_t>(0) + 500);
  for (int i = 0; i < 30; ++i) {
    const Batch* b = loader.next();
    ASSERT_NE(b, nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the producer fills ahead
    ASSERT_EQ(
        std::vector<int64_t>(previous->column<int64_t>(0), previous->column<int64_t>(0) + 500),
        copy)
        << "batch " << i << " was overwritten while held";
    copy.assign(b->column<int64_t>(0), b->column<int64_t>(0) + 500);
    previous = b;
  }
  o.hold = 0;
  EXPECT_THROW(Loader({ds}, o), ConfigError);
}

using Row = std::tuple<int64_t, float, float>;  // id, x, label

// Row r of the columns `b` points at (the batch's buffer, or in gather mode the ring).
Row row_at(const Batch& b, int64_t r) {
  return {b.column<int64_t>(0)[r], b.column<float>(1)[r], b.column<float>(2)[r]};
}

// One batch's rows, through Batch::row in either mode.
std::vector<Row> batch_rows(const Batch& b) {
  std::vector<Row> rows;
  for (int64_t i = 0; i < b.rows; ++i)
    rows.push_back(row_at(b, b.row(i)));
  return rows;
}

// What makes data-parallel training equal to one process on the whole batch: at every step
// the ranks' batches, rank by rank, are the batch one loader with W times the batch size
// gives, in both modes, over epochs and from a resumed cursor.
TEST(Loader, RanksTogetherReadTheBatchOfOneLoaderWithTheirSummedBatchSize) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 20011, 20011, {500, 0, false, false});
  for (const int world : {2, 3}) {
    for (const bool gather : {false, true}) {
      LoaderOptions one;
      one.batch_size = 300 * world;
      one.shuffle_window = 2500;
      one.block_rows = 500;
      one.seed = 7;
      one.gather = gather;
      Loader whole({ds}, one);
      std::vector<std::unique_ptr<Loader>> ranks;
      for (int r = 0; r < world; ++r) {
        LoaderOptions o = one;
        o.batch_size = 300;
        o.rank = r;
        o.world_size = world;
        ranks.push_back(std::make_unique<Loader>(std::vector{ds}, o));
        ranks.back()->seek({1, 3});
      }
      whole.seek({1, 3});
      ASSERT_EQ(ranks[0]->batches_per_epoch(), whole.batches_per_epoch());
      for (int64_t step = 0; step < 2 * whole.batches_per_epoch(); ++step) {
        const Batch* want = whole.next();
        std::vector<Row> got;
        for (auto& rank : ranks) {
          const Batch* b = rank->next();
          ASSERT_EQ(b == nullptr, want == nullptr) << "step " << step;
          if (b == nullptr) continue;
          const std::vector<Row> ids = batch_rows(*b);
          got.insert(got.end(), ids.begin(), ids.end());
        }
        if (want != nullptr) {
          ASSERT_EQ(got, batch_rows(*want)) << "world " << world << " step " << step;
        }
      }
    }
  }
}

// The rows of a gather-mode window, from the ring `b` points into.
std::vector<Row> window_rows(const Batch& b, const RingWindow& w) {
  std::vector<Row> rows;
  for (int64_t i = 0; i < w.rows; ++i)
    rows.push_back(row_at(b, (w.begin + i) % b.ring->rows));
  return rows;
}

// Gather mode against the copies, batch by batch over three epochs, and its announcements:
// every window once, in order, before any batch reads it; each batch's rows in the windows
// first_window to last_window; each window's `overwrites` naming every window that held its
// rows before, none of which this batch or a later one reads.
void expect_gather_matches_copies(const std::shared_ptr<const Dataset>& ds, LoaderOptions o) {
  o.gather = false;
  Loader copies({ds}, o);
  o.gather = true;
  Loader gathered({ds}, o);
  ASSERT_EQ(gathered.batches_per_epoch(), copies.batches_per_epoch());
  std::map<uint64_t, RingWindow> announced;
  std::vector<int64_t> holder;  // per ring row: the serial of the last window there, or -1
  for (int epoch = 0; epoch < 3; ++epoch) {
    while (const Batch* want = copies.next()) {
      const Batch* got = gathered.next();
      ASSERT_NE(got, nullptr);
      ASSERT_EQ(got->index, want->index);
      ASSERT_EQ(got->epoch, want->epoch);
      const int64_t ring = got->ring->rows;
      holder.resize(static_cast<std::size_t>(ring), -1);
      for (const RingWindow& w : got->fresh) {
        ASSERT_EQ(w.serial, announced.size()) << "windows announced out of order";
        announced[w.serial] = w;
        ASSERT_GE(got->first_window, w.overwrites) << "window " << w.serial;
        for (int64_t i = 0; i < w.rows; ++i) {
          int64_t& h = holder[static_cast<std::size_t>((w.begin + i) % ring)];
          ASSERT_LT(h, static_cast<int64_t>(w.overwrites)) << "window " << w.serial;
          h = static_cast<int64_t>(w.serial);
        }
      }
      ASSERT_EQ(batch_rows(*got), batch_rows(*want))
          << "epoch " << epoch << " batch " << want->index;
      ASSERT_LE(got->first_window, got->last_window);
      ASSERT_LT(got->last_window, announced.size()) << "a batch reads a window not announced";
      // Each row is in an announced window from first_window to last_window.
      for (int64_t i = 0; i < got->rows; ++i) {
        const int64_t r = got->row(i);
        bool inside = false;
        for (auto it = announced.begin(); !inside && it != announced.end(); ++it) {
          const RingWindow& w = it->second;
          inside = it->first >= got->first_window && it->first <= got->last_window &&
                   (r - w.begin + ring) % ring < w.rows;
        }
        ASSERT_TRUE(inside) << "ring row " << r << " of batch " << want->index;
      }
    }
    ASSERT_EQ(gathered.next(), nullptr);
  }
}

TEST(Loader, GatherModeDeliversTheCopiesBatches) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 30011, 7000, {1000, 0, false, false});
  LoaderOptions o;
  o.seed = 5;
  o.threads = 2;
  struct Case {
    int64_t batch, window, block;
    bool shuffle, drop_last;
    int hold;
  };
  // Batches across windows, windows smaller than a batch (the ring wraps in mid-batch),
  // blocks only, no shuffle, drop_last, hold 2.
  for (const Case& c :
       {Case{700, 5000, 2000, true, false, 1}, Case{4096, 1000, 1000, true, false, 2},
        Case{512, 0, 3000, true, true, 2}, Case{1000, 9000, 2000, false, false, 1},
        Case{3000, 2500, 1000, true, true, 1}}) {
    SCOPED_TRACE(::testing::Message() << "batch " << c.batch << " window " << c.window);
    o.batch_size = c.batch;
    o.shuffle_window = c.window;
    o.block_rows = c.block;
    o.shuffle = c.shuffle;
    o.drop_last = c.drop_last;
    o.hold = c.hold;
    expect_gather_matches_copies(ds, o);
  }
  // Two ranks.
  o = LoaderOptions();
  o.batch_size = 600;
  o.shuffle_window = 4000;
  o.block_rows = 1000;
  o.world_size = 2;
  for (o.rank = 0; o.rank < 2; ++o.rank)
    expect_gather_matches_copies(ds, o);
}

TEST(Loader, GatherModeResumesAndKeepsHeldRowsWhileReadingAhead) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 20000, 20000, {500, 0, false, false});
  LoaderOptions o;
  o.batch_size = 500;
  o.hold = 2;
  o.block_rows = 500;
  o.shuffle_window = 1500;
  o.seed = 4;
  o.gather = true;
  Loader loader({ds}, o);
  // Each announced window and its rows, as read when it was announced: while a held batch
  // reads a window, the whole window stays (DeviceBatches copies whole windows to the GPU and
  // waits for a copy only before the loader may let its window go).
  std::map<uint64_t, std::pair<RingWindow, std::vector<Row>>> windows;
  auto announce = [&](const Batch& b) {
    for (const RingWindow& w : b.fresh)
      windows[w.serial] = {w, window_rows(b, w)};
  };
  const Batch* previous = loader.next();
  announce(*previous);
  auto copy = batch_rows(*previous);
  std::vector<std::vector<Row>> seen = {copy};
  for (int i = 0; i < 70; ++i) {  // past the epoch's end (40 batches): the ring wraps
    const Batch* b = loader.next();
    if (b == nullptr) continue;
    announce(*b);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the producer reads ahead
    ASSERT_EQ(batch_rows(*previous), copy) << "batch " << i << " was read over while held";
    std::erase_if(windows, [&](const auto& w) { return w.first < previous->first_window; });
    for (const auto& [serial, window] : windows)
      ASSERT_EQ(window_rows(*b, window.first), window.second)
          << "window " << serial << " was read over while batch " << i
          << " or the one before held it";
    copy = batch_rows(*b);
    seen.push_back(copy);
    previous = b;
  }
  // A seek starts the ring over: the first window read after it overwrites rows of any
  // window read before, so it names them all.
  const uint64_t newest = previous->last_window;
  loader.seek({0, 13});
  const Batch* restarted = loader.next();
  ASSERT_FALSE(restarted->fresh.empty());
  const RingWindow& w = restarted->fresh.front();
  EXPECT_GT(w.serial, newest);
  EXPECT_EQ(w.overwrites, w.serial);
  EXPECT_EQ(restarted->first_window, w.serial);
  EXPECT_EQ(batch_rows(*restarted), seen[13]);
  // From a cursor in mid-epoch, the same batches.
  Loader resumed({ds}, o);
  resumed.seek({0, 13});
  for (std::size_t i = 13; i < 40; ++i)
    ASSERT_EQ(batch_rows(*resumed.next()), seen[i]) << "batch " << i;
  EXPECT_EQ(resumed.next(), nullptr);
  EXPECT_EQ(batch_rows(*resumed.next()), seen[40]);
}

TEST(Loader, BadOptionsAreConfigErrors) {
  TempDir dir;
  auto ds = make_dataset(dir / "ds", 1000, 1000);
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_THROW(Loader({ds}, o), ConfigError);
  o.batch_size = 10;
  o.rank = 2;
  o.world_size = 2;
  EXPECT_THROW(Loader({ds}, o), ConfigError);
  o.rank = 0;
  o.world_size = 2000;  // 1000 rows cannot feed 2000 ranks
  EXPECT_THROW(Loader({ds}, o), ConfigError);
}

}  // namespace
}  // namespace kiln::data

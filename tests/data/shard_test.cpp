// Shards: round trips through every allowed storage, and a test for each kind of bad input.
#include "data/shard.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/syscall.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>

#include "core/errors.h"
#include "data/dataset.h"
#include "raw_h5.h"
#include "tests/error_of.h"
#include "tests/temp_dir.h"

namespace kiln::data {
namespace {

using kiln::testing::error_of;
using kiln::testing::TempDir;
using testing::RawColumn;
using testing::RawShard;
using testing::valid_raw_shard;
using testing::write_raw_shard;

std::vector<float> read_floats(const ShardFile& shard, std::size_t column) {
  ColumnBuffers buffers(shard.schema(), shard.rows());
  shard.read(0, shard.rows(), buffers.pointers());
  const float* f = buffers.column<float>(column);
  return std::vector<float>(f, f + shard.rows());
}

Schema small_schema() {
  return Schema{{{"id", Role::kId, 0},
                 {"x", Role::kNumeric, 0},
                 {"c", Role::kCategorical, 5},
                 {"w", Role::kWeight, 0},
                 {"label", Role::kLabel, 0}}};
}

// The columns of small_schema(), `rows` rows of known values.
struct SmallColumns {
  explicit SmallColumns(int64_t rows) : id(rows), x(rows), w(rows), label(rows), c(rows) {
    for (int64_t i = 0; i < rows; ++i) {
      id[i] = i * 3;
      x[i] = i % 11 == 0 ? NAN : std::sin(static_cast<float>(i)) * 1e6f;
      c[i] = i % 9 == 0 ? -1 : static_cast<int32_t>(i % 5);
      w[i] = 0.5f + static_cast<float>(i % 3);
      label[i] = static_cast<float>(i % 2);
    }
  }
  // A shard of these rows at `path`.
  void write(const std::string& path, const ShardWriteOptions& o) const {
    ShardWriter writer(path, small_schema(), o);
    writer.append(static_cast<int64_t>(id.size()),
                  {id.data(), x.data(), c.data(), w.data(), label.data()});
    writer.finish();
  }
  std::vector<int64_t> id;
  std::vector<float> x, w, label;
  std::vector<int32_t> c;
};

TEST(Shard, RoundTripsThroughEveryAllowedFilterCombination) {
  TempDir dir;
  const int64_t rows = 10007;
  const SmallColumns columns(rows);
  const auto& [id, x, w, label, c] = columns;
  for (ShardWriteOptions o :
       {ShardWriteOptions{4096, 0, false, false}, ShardWriteOptions{4096, 6, true, false},
        ShardWriteOptions{1000, 1, false, true}, ShardWriteOptions{65536, 9, true, true}}) {
    std::string path = dir / ("s" + std::to_string(o.gzip_level) + ".h5");
    ShardWriter writer(path, small_schema(), o);
    writer.append(5000, {id.data(), x.data(), c.data(), w.data(), label.data()});
    writer.append(rows - 5000, {id.data() + 5000, x.data() + 5000, c.data() + 5000, w.data() + 5000,
                                label.data() + 5000});
    writer.finish();
    auto shard = ShardFile::open(path, nullptr);
    ASSERT_EQ(shard->rows(), rows);
    EXPECT_EQ(shard->chunk_rows(), o.chunk_rows);
    EXPECT_EQ(shard->schema().columns.size(), 5u);
    EXPECT_EQ(shard->schema().columns[2].cardinality, 5);
    std::vector<float> got = read_floats(*shard, 1);
    for (int64_t i = 0; i < rows; ++i) {
      if (std::isnan(x[i]))
        EXPECT_TRUE(std::isnan(got[i]));
      else
        ASSERT_EQ(got[i], x[i]) << i;
    }
    // A partial read in the middle of a chunk.
    std::vector<int64_t> some_id(10);
    std::vector<float> sx(10), sw(10), sl(10);
    std::vector<int32_t> sc(10);
    shard->read(4095, 10, {some_id.data(), sx.data(), sc.data(), sw.data(), sl.data()});
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(some_id[i], id[4095 + i]);
      EXPECT_EQ(sc[i], c[4095 + i]);
    }
  }
}

// Several reads in one loop (what the loader does for a window's blocks), from shards on
// the fast path (pread, inflate) and off it (Fletcher32: H5Dread), against the values
// written; and an error in one of them names its shard and row.
TEST(Shard, ReadAllReadsEachRangeAsReadDoes) {
  TempDir dir;
  const int64_t rows = 5003;
  const SmallColumns columns(rows);
  columns.write(dir / "fast.h5", {1000, 1, true, false});
  columns.write(dir / "h5dread.h5", {1000, 0, false, true});
  SmallColumns with_nan = columns;
  with_nan.label[4321] = NAN;
  with_nan.write(dir / "bad.h5", {1000, 0, false, false});
  auto fast = ShardFile::open(dir / "fast.h5", nullptr);
  auto h5dread = ShardFile::open(dir / "h5dread.h5", nullptr);
  auto bad = ShardFile::open(dir / "bad.h5", nullptr);
  // (shard, start, count): across chunk boundaries, a whole chunk, nothing, the end.
  const std::vector<std::tuple<const ShardFile*, int64_t, int64_t>> ranges = {
      {fast.get(), 999, 1502},
      {h5dread.get(), 2000, 1000},
      {fast.get(), 7, 0},
      {h5dread.get(), 4990, 13},
      {fast.get(), 0, 5003}};
  int64_t total = 0;
  for (const auto& r : ranges)
    total += std::get<2>(r);
  ColumnBuffers out(small_schema(), total);
  std::vector<ShardFile::Read> reads;
  int64_t at = 0;
  for (const auto& [shard, start, count] : ranges) {
    ShardFile::Read& r = reads.emplace_back();
    r.shard = shard;
    r.start = start;
    r.count = count;
    for (std::size_t k = 0; k < 5; ++k)
      r.out.push_back(out.column<char>(k) + at * (k == 0 ? 8 : 4));
    at += count;
  }
  core::ThreadPool pool(3);
  ShardFile::read_all(reads, &pool);
  at = 0;
  for (const auto& [shard, start, count] : ranges) {
    for (int64_t i = 0; i < count; ++i, ++at) {
      const auto row = static_cast<std::size_t>(start + i);
      ASSERT_EQ(out.column<int64_t>(0)[at], columns.id[row]) << at;
      const float x = out.column<float>(1)[at];
      ASSERT_TRUE(x == columns.x[row] || (std::isnan(x) && std::isnan(columns.x[row]))) << at;
      ASSERT_EQ(out.column<int32_t>(2)[at], columns.c[row]) << at;
      ASSERT_EQ(out.column<float>(4)[at], columns.label[row]) << at;
    }
  }
  reads[1].shard = bad.get();
  reads[1].start = 4000;
  const std::string msg = error_of<DataError>([&] { ShardFile::read_all(reads, &pool); });
  EXPECT_NE(msg.find("bad.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/columns/label: row 4321"), std::string::npos) << msg;
}

TEST(Shard, AnAbandonedWriterLeavesNoFileBehind) {
  TempDir dir;
  { ShardWriter writer(dir / "part.h5", small_schema(), {}); }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(ShardBadInput, AMissingFileIsExit66) {
  TempDir dir;
  try {
    ShardFile::open(dir / "nope.h5", nullptr);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.exit_code(), 66);
    EXPECT_NE(std::string(e.what()).find("nope.h5"), std::string::npos);
  }
}

TEST(ShardBadInput, AFileThatIsNotHdf5IsRefused) {
  TempDir dir;
  std::ofstream(dir / "text.h5") << "label,x\n1,2\n";
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "text.h5", nullptr); });
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;
}

// Several files at once (a dataset's shards): one child proves them in order while this
// process opens those proven; the first bad one is refused by name, as open() refuses it,
// with the proving child or without it.
TEST(ShardBadInput, OpeningManyFilesRefusesTheFirstBadOneByName) {
  TempDir dir;
  write_raw_shard(dir / "a.h5", valid_raw_shard(3000));
  write_raw_shard(dir / "c.h5", valid_raw_shard(1500));
  std::ofstream(dir / "b.h5") << "label,x\n1,2\n";
  RawShard renamed = valid_raw_shard();
  renamed.columns[0].name = "y";
  write_raw_shard(dir / "d.h5", renamed);
  const std::string a = dir / "a.h5", b = dir / "b.h5", c = dir / "c.h5", d = dir / "d.h5";
  for (const char* sandbox : {"1", "0"}) {
    ::setenv("KILN_HDF5_SANDBOX", sandbox, 1);
    const auto shards = ShardFile::open_all({a, c, a}, nullptr);
    ASSERT_EQ(shards.size(), 3u);
    EXPECT_EQ(shards[1]->path(), c);
    EXPECT_EQ(shards[0]->rows() + shards[1]->rows() + shards[2]->rows(), 7500);
    std::string msg = error_of<DataError>([&] { ShardFile::open_all({a, b, c}, nullptr); });
    EXPECT_NE(msg.find(b), std::string::npos) << sandbox << " " << msg;
    EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << sandbox << " " << msg;
    // The first file's schema is expected of the others.
    msg = error_of<DataError>([&] { ShardFile::open_all({a, c, d}, nullptr); });
    EXPECT_NE(msg.find(d + ": column 'x' (numeric) of the dataset's schema is missing"),
              std::string::npos)
        << sandbox << " " << msg;
    // With the dataset's schema given, a child per core takes the files one at a time.
    const Schema schema = shards[0]->schema();
    EXPECT_EQ(ShardFile::open_all({a, c, a, c, a}, &schema)[3]->rows(), 1500);
    msg = error_of<DataError>([&] { ShardFile::open_all({a, c, a, b, c, d}, &schema); });
    EXPECT_NE(msg.find(b), std::string::npos) << sandbox << " " << msg;
    msg = error_of<DataError>([&] { ShardFile::open_all({a, c, a, c, d, a}, &schema); });
    EXPECT_NE(msg.find(d + ": column 'x'"), std::string::npos) << sandbox << " " << msg;
  }
  ::unsetenv("KILN_HDF5_SANDBOX");
}

// The proving children take the files one after another; when one is killed, the file it
// was proving is refused by name with the signal, whichever child took it. Here the child
// that opens a FIFO blocks in openat(2) until this test kills it (or, where /proc does not
// show it, the child's 60 s alarm does).
TEST(ShardBadInput, AProvingChildKilledOnAFileRefusesThatFile) {
  TempDir dir;
  write_raw_shard(dir / "a.h5", valid_raw_shard(3000));
  const std::string a = dir / "a.h5", fifo = dir / "fifo.h5";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const Schema schema = ShardFile::open(a, nullptr)->schema();
  std::atomic<bool> done{false};
  std::thread killer([&] {  // kills this process's children blocked in openat(2)
    while (!done) {
      for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream children(task.path() / "children");
        for (pid_t pid = 0; children >> pid;) {
          std::ifstream syscall("/proc/" + std::to_string(pid) + "/syscall");
          std::string number;
          if (syscall >> number && number == std::to_string(SYS_openat)) ::kill(pid, SIGKILL);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const std::string msg = error_of<DataError>([&] {
    ShardFile::open_all({a, a, a, a, fifo, a, a}, &schema);
  });
  done = true;
  killer.join();
  EXPECT_NE(msg.find(fifo + ": the HDF5 library "), std::string::npos) << msg;
  EXPECT_NE(msg.find(" (signal "), std::string::npos) << msg;  // 9 from here, 14 from the alarm
}

TEST(ShardBadInput, ATruncatedFileIsRefused) {
  TempDir dir;
  write_raw_shard(dir / "full.h5", valid_raw_shard(50000));
  auto size = std::filesystem::file_size(dir / "full.h5");
  std::filesystem::copy_file(dir / "full.h5", dir / "cut.h5");
  std::filesystem::resize_file(dir / "cut.h5", size / 2);
  std::string msg = error_of<DataError>([&] {
    auto shard = ShardFile::open(dir / "cut.h5", nullptr);
    read_floats(*shard, 0);
  });
  EXPECT_NE(msg.find("cut.h5"), std::string::npos) << msg;
}

TEST(ShardBadInput, ACorruptedChunkUnderFletcher32FailsTheRead) {
  TempDir dir;
  RawShard raw = valid_raw_shard(4096);
  for (auto& c : raw.columns)
    c.fletcher32 = true;
  // A recognisable value to find the chunk in the file.
  raw.columns[0].values.assign(4096, 1234.5);
  write_raw_shard(dir / "f.h5", raw);
  std::string bytes;
  {
    std::ifstream in(dir / "f.h5", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  float marker = 1234.5f;
  std::string needle(reinterpret_cast<const char*>(&marker), 4);
  std::size_t at = bytes.find(needle + needle + needle + needle);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 100] ^= 0x40;
  std::ofstream(dir / "f.h5", std::ios::binary | std::ios::trunc) << bytes;
  auto shard = ShardFile::open(dir / "f.h5", nullptr);  // metadata is intact
  std::string msg = error_of<DataError>([&] { read_floats(*shard, 0); });
  EXPECT_NE(msg.find("/columns/x"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reading rows"), std::string::npos) << msg;
}

// This process reads a shard by what the proving child established: its chunks through the
// descriptor opened then (a file replaced since reads as the one proven), and a column that
// needs HDF5 (Fletcher32) through the HDF5 file opened at that read, which must still be
// the file proven. (Without the child, KILN_HDF5_SANDBOX=0, the file is opened in HDF5 at
// once and reads as the one opened.)
TEST(Shard, AFileReplacedAfterItsProofIsReadAsProvenOrRefused) {
  ::setenv("KILN_HDF5_SANDBOX", "1", 1);
  TempDir dir;
  const std::string path = dir / "f.h5";
  auto replace = [&](const RawShard& raw) {
    write_raw_shard(dir / "new.h5", raw);
    std::filesystem::rename(dir / "new.h5", path);
  };
  RawShard fast = valid_raw_shard(4096), other = valid_raw_shard(4096);
  fast.columns[0].values.assign(4096, 1.0);
  other.columns[0].values.assign(4096, 7.0);
  auto x = [](const ShardFile& shard) {
    return read_floats(shard, static_cast<std::size_t>(shard.schema().find("x")));
  };
  RawShard checked = fast;
  for (auto& c : checked.columns)
    c.fletcher32 = true;

  write_raw_shard(path, fast);
  auto shard = ShardFile::open(path, nullptr);
  replace(other);
  EXPECT_EQ(x(*shard), std::vector<float>(4096, 1.0f));

  write_raw_shard(path, checked);
  shard = ShardFile::open(path, nullptr);
  replace(other);
  const std::string msg = error_of<DataError>([&] { x(*shard); });
  EXPECT_NE(msg.find(path + ": the file changed after it was opened"), std::string::npos) << msg;
  EXPECT_EQ(x(*ShardFile::open(path, nullptr)), std::vector<float>(4096, 7.0f));
  ::unsetenv("KILN_HDF5_SANDBOX");
}

// The fast path reads and inflates chunks itself: a damaged gzip chunk must still be caught.
TEST(ShardBadInput, ACorruptedGzipChunkFailsTheReadOnTheFastPath) {
  TempDir dir;
  Schema schema{{{"x", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
  std::vector<float> x(8192), label(8192, 0.0f);
  for (int i = 0; i < 8192; ++i)
    x[i] = static_cast<float>(i % 977) * 0.25f;
  {
    ShardWriter writer(dir / "g.h5", schema, {4096, 6, true, false});
    writer.append(8192, {x.data(), label.data()});
    writer.finish();
  }
  haddr_t address = 0;
  hsize_t size = 0;
  {
    hid_t file = H5Fopen((dir / "g.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dataset = H5Dopen2(file, "/columns/x", H5P_DEFAULT);
    hsize_t offset[1] = {4096};
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(dataset, offset, &mask, &address, &size), 0);
    H5Dclose(dataset);
    H5Fclose(file);
  }
  {
    std::fstream f(dir / "g.h5", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(address + size / 2));
    char junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    f.write(junk, sizeof junk);
  }
  auto shard = ShardFile::open(dir / "g.h5", nullptr);
  std::vector<float> first(4096), first_label(4096);
  shard->read(0, 4096, {first.data(), first_label.data()});  // the intact chunk still reads
  EXPECT_EQ(first[1000], x[1000]);
  std::string msg = error_of<DataError>([&] { read_floats(*shard, 0); });
  EXPECT_NE(msg.find("/columns/x: chunk at row 4096"), std::string::npos) << msg;
}

TEST(ShardBadInput, AMissingOrUnknownFormatVersionIsRefused) {
  TempDir dir;
  RawShard missing = valid_raw_shard();
  missing.version.reset();
  write_raw_shard(dir / "a.h5", missing);
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "a.h5", nullptr); });
  EXPECT_NE(msg.find("missing attribute 'kiln_format_version'"), std::string::npos) << msg;

  RawShard newer = valid_raw_shard();
  newer.version = 2;
  write_raw_shard(dir / "b.h5", newer);
  msg = error_of<DataError>([&] { ShardFile::open(dir / "b.h5", nullptr); });
  EXPECT_NE(msg.find("newer Kiln"), std::string::npos) << msg;

  RawShard no_format = valid_raw_shard();
  no_format.format.reset();
  write_raw_shard(dir / "c.h5", no_format);
  msg = error_of<DataError>([&] { ShardFile::open(dir / "c.h5", nullptr); });
  EXPECT_NE(msg.find("not a Kiln shard"), std::string::npos) << msg;
}

TEST(ShardBadInput, TwoLabelsAreRefusedAndNoneIsDataToScore) {
  TempDir dir;
  RawShard raw = valid_raw_shard();
  raw.columns.push_back(raw.columns.back());
  raw.columns.back().name = "label2";
  write_raw_shard(dir / "s.h5", raw);
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "s.h5", nullptr); });
  EXPECT_NE(msg.find("expected at most one 'label' column, found 2"), std::string::npos) << msg;
  raw.columns.resize(2);
  write_raw_shard(dir / "t.h5", raw);
  EXPECT_EQ(ShardFile::open(dir / "t.h5", nullptr)->schema().find_role(Role::kLabel), -1);
}

TEST(ShardBadInput, ColumnsWithDifferentRowCountsAreRefused) {
  TempDir dir;
  RawShard raw = valid_raw_shard();
  raw.columns[1].values.pop_back();
  write_raw_shard(dir / "s.h5", raw);
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "s.h5", nullptr); });
  EXPECT_NE(msg.find("/columns/cat"), std::string::npos) << msg;
  EXPECT_NE(msg.find("different row counts"), std::string::npos) << msg;
}

// HDF5 would read the missing values as fill values (zeros): an interrupted writer's file,
// or a tiny file that declares 2^40 rows and would be read for hours.
TEST(ShardBadInput, UnwrittenValuesAreRefused) {
  TempDir dir;
  for (bool chunked : {true, false}) {
    RawShard raw = valid_raw_shard();
    raw.columns[0].chunked = chunked;
    raw.columns[0].written = false;
    write_raw_shard(dir / "s.h5", raw);
    std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "s.h5", nullptr); });
    EXPECT_NE(msg.find("/columns/x: only 0 of "), std::string::npos) << msg;
    EXPECT_NE(msg.find(chunked ? "3 chunks are written" : "12000 bytes are written"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("the file is incomplete"), std::string::npos) << msg;
  }
  // An h5py-style matrix of which only the first 500 of 1000 rows were written.
  testing::write_matrix_file(dir / "m.h5", 1000, 3, 500);
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "m.h5", nullptr); });
  EXPECT_NE(msg.find("m.h5: X: only 5 of 10 chunks are written"), std::string::npos) << msg;
  // 2^40 rows declared in a file of a few kilobytes: refused at once.
  testing::write_float_matrix(dir / "big.h5", hsize_t{1} << 40, 4, 65536, 4);
  msg = error_of<DataError>([&] { ShardFile::open(dir / "big.h5", nullptr); });
  EXPECT_NE(msg.find("big.h5: X: only 0 of 16777216 chunks are written"), std::string::npos) << msg;
}

// A fuzzed 6 KB file (two bytes changed in an h5py matrix) on which libhdf5 allocates
// without bound: h5py itself is killed by the OOM killer opening it, and so was Kiln's
// proving child (signal 9, after 37 s on a 24 GB machine; on a larger one the 60 s alarm).
// Under the child's memory cap the allocations fail within seconds: HDF5 reports an error
// (or, in a sanitizer build, the child dies of the failed allocation), and the file is
// refused either way.
TEST(ShardBadInput, AHeaderThatMakesHdf5AllocateWithoutBoundIsRefused) {
  const std::string path =
      std::string(KILN_SOURCE_DIR) + "/tests/data/fixtures/hdf5_unbounded_allocation.h5";
  std::string msg = error_of<DataError>([&] { ShardFile::open(path, nullptr); });
  EXPECT_NE(msg.find("hdf5_unbounded_allocation.h5"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("(signal 9)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("hung"), std::string::npos) << msg;
}

TEST(ShardBadInput, AMatrixWiderThanTheLimitIsRefused) {
  TempDir dir;
  const hsize_t width = (hsize_t{1} << 20) + 1;
  std::vector<float> x(width, 1.0f);
  testing::write_float_matrix(dir / "wide.h5", 1, width, 1, hsize_t{1} << 20, x.data());
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "wide.h5", nullptr); });
  EXPECT_NE(msg.find("wide.h5: X: 1048577 columns; Kiln reads at most 1048576 feature columns"),
            std::string::npos)
      << msg;
}

TEST(ShardBadInput, AWrongDtypeForARoleIsRefused) {
  TempDir dir;
  RawShard raw = valid_raw_shard();
  raw.columns[2].file_type = H5T_STD_I32LE;  // an integer label
  write_raw_shard(dir / "s.h5", raw);
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "s.h5", nullptr); });
  EXPECT_NE(msg.find("/columns/label: dtype int32 is not allowed for role 'label'"),
            std::string::npos)
      << msg;
  RawShard cat = valid_raw_shard();
  cat.columns[1].file_type = H5T_IEEE_F64LE;  // float categorical codes
  write_raw_shard(dir / "t.h5", cat);
  msg = error_of<DataError>([&] { ShardFile::open(dir / "t.h5", nullptr); });
  EXPECT_NE(msg.find("expected int32 (or int64)"), std::string::npos) << msg;
}

TEST(ShardBadInput, NanOrInfInTheLabelIsRefusedNamingTheRow) {
  TempDir dir;
  for (double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    RawShard raw = valid_raw_shard();
    raw.columns[2].values[2345] = bad;
    write_raw_shard(dir / "s.h5", raw);
    auto shard = ShardFile::open(dir / "s.h5", nullptr);
    std::string msg = error_of<DataError>([&] { read_floats(*shard, 0); });
    EXPECT_NE(msg.find("/columns/label: row 2345"), std::string::npos) << msg;
    EXPECT_NE(msg.find("must be finite"), std::string::npos) << msg;
  }
}

TEST(ShardBadInput, AnEmptyShardIsRefused) {
  TempDir dir;
  RawShard raw = valid_raw_shard(0);
  write_raw_shard(dir / "s.h5", raw);
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "s.h5", nullptr); });
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
}

TEST(ShardBadInput, AFilterOutsideTheAllowedListIsRefusedByName) {
  TempDir dir;
  RawShard raw = valid_raw_shard();
  raw.columns[0].scaleoffset = true;
  write_raw_shard(dir / "s.h5", raw);
  std::string msg = error_of<DataError>([&] { ShardFile::open(dir / "s.h5", nullptr); });
  EXPECT_NE(msg.find("/columns/x: filter 6"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is not allowed"), std::string::npos) << msg;
}

TEST(ShardBadInput, ACategoricalCodeOutsideItsCardinalityIsRefused) {
  TempDir dir;
  RawShard raw = valid_raw_shard();
  raw.columns[1].values[17] = 10;  // cardinality 10
  write_raw_shard(dir / "s.h5", raw);
  auto shard = ShardFile::open(dir / "s.h5", nullptr);
  std::string msg = error_of<DataError>([&] { read_floats(*shard, 0); });
  EXPECT_NE(msg.find("/columns/cat: row 17 has code 10"), std::string::npos) << msg;
}

class DatasetBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    Schema schema{{{"x", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
    DatasetWriter writer(dir_ / "ds", schema, {}, 600);
    std::vector<float> x(1000, 1.0f), label(1000, 0.0f);
    writer.append(1000, {x.data(), label.data()});
    writer.finish();
  }
  void edit_manifest(const std::function<void(nlohmann::json&)>& edit) {
    std::string path = dir_ / "ds/dataset.json";
    nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
    edit(j);
    std::ofstream(path, std::ios::trunc) << j.dump(2);
  }
  TempDir dir_;
};

TEST_F(DatasetBadInput, AChecksumMismatchIsFound) {
  auto ds = Dataset::open(dir_ / "ds");
  EXPECT_EQ(ds->rows(), 1000);
  EXPECT_EQ(ds->shards().size(), 2u);
  ds->verify_checksums();
  // Rewrite one shard with other values but the same shape: structure checks still pass.
  Schema schema = ds->schema();
  ds.reset();
  {
    ShardWriter w(dir_ / "ds/part-00001.h5", schema, {});
    std::vector<float> x(400, 2.0f), label(400, 0.0f);
    w.append(400, {x.data(), label.data()});
    w.finish();
  }
  auto changed = Dataset::open(dir_ / "ds");
  std::string msg = error_of<DataError>([&] { changed->verify_checksums(); });
  EXPECT_NE(msg.find("part-00001.h5: SHA-256"), std::string::npos) << msg;
}

TEST_F(DatasetBadInput, AShardPathLeavingTheDirectoryIsRefused) {
  edit_manifest([](nlohmann::json& j) { j["shards"][0]["path"] = "../ds/part-00000.h5"; });
  std::string msg = error_of<DataError>([&] { Dataset::open(dir_ / "ds"); });
  EXPECT_NE(msg.find("plain relative path"), std::string::npos) << msg;
}

TEST_F(DatasetBadInput, RowsThatDisagreeWithTheShardsAreRefused) {
  edit_manifest([](nlohmann::json& j) { j["rows"] = 999; });
  std::string msg = error_of<DataError>([&] { Dataset::open(dir_ / "ds"); });
  EXPECT_NE(msg.find("the shards hold 1000"), std::string::npos) << msg;
}

TEST_F(DatasetBadInput, AMissingShardIsExit66) {
  std::filesystem::remove(dir_ / "ds/part-00001.h5");
  EXPECT_THROW(Dataset::open(dir_ / "ds"), InputError);
}

TEST_F(DatasetBadInput, AnExistingDatasetIsNotOverwritten) {
  Schema schema{{{"x", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
  EXPECT_THROW(DatasetWriter(dir_ / "ds", schema, {}, 100), OutputError);
}

// A shard never holds room for rows it will not have (an uncompressed chunk is allocated
// whole): shards smaller than the chunk size get chunks of their size, and so does a last
// shard that ends before its first chunk is full (a small table's only shard); a shard that
// fills a chunk keeps the 65,536 rows. The rows read back as written.
TEST(DatasetWriter, ChunksAreNoTallerThanAShard) {
  TempDir dir;
  const int64_t rows = 70001;
  const SmallColumns columns(rows);
  const std::vector<float>& x = columns.x;
  auto write = [&](const std::string& name, int64_t n, int64_t per_shard) {
    DatasetWriter writer(dir / name, small_schema(), {}, per_shard);
    auto from = [&](int64_t row) -> std::vector<const void*> {
      return {columns.id.data() + row, columns.x.data() + row, columns.c.data() + row,
              columns.w.data() + row, columns.label.data() + row};
    };
    writer.append(n / 2, from(0));
    writer.append(n - n / 2, from(n / 2));
    writer.finish();
    return Dataset::open(dir / name);
  };
  auto chunks = [](const Dataset& d) {
    std::vector<int64_t> out;
    for (const auto& shard : d.shards())
      out.push_back(shard->chunk_rows());
    return out;
  };
  const auto small = write("small", 10007, 2500);
  EXPECT_EQ(chunks(*small), (std::vector<int64_t>{2500, 2500, 2500, 2500, 7}));
  for (const auto& shard : small->shards())  // 24 bytes a row, and HDF5's own structures
    EXPECT_LT(std::filesystem::file_size(shard->path()), 2500u * 24 + 20000) << shard->path();
  const auto table = write("table", 10007, int64_t{1} << 20);
  EXPECT_EQ(chunks(*table), std::vector<int64_t>{10007});
  EXPECT_LT(std::filesystem::file_size(table->shards()[0]->path()), 10007u * 24 + 20000);
  const auto large = write("large", rows, int64_t{1} << 20);
  EXPECT_EQ(chunks(*large), std::vector<int64_t>{65536});
  std::vector<float> all;
  for (const auto& d : {small, table, large}) {
    all.clear();
    for (const auto& shard : d->shards()) {
      const std::vector<float> part = read_floats(*shard, 1);
      all.insert(all.end(), part.begin(), part.end());
    }
    ASSERT_EQ(all.size(), static_cast<std::size_t>(d->rows()));
    for (std::size_t i = 0; i < all.size(); ++i)
      ASSERT_TRUE(all[i] == x[i] || (std::isnan(all[i]) && std::isnan(x[i]))) << i;
  }
}

TEST(DatasetWriter, AnUnfinishedWriterRemovesWhatItWrote) {
  TempDir dir;
  Schema schema{
      {{"x", Role::kNumeric, 0}, {"c", Role::kCategorical, 2}, {"label", Role::kLabel, 0}}};
  std::vector<float> x(1000, 1.0f), label(1000, 0.0f);
  std::vector<int32_t> c(1000, 1);
  auto write_and_abandon = [&](const std::string& out) {
    DatasetWriter writer(out, schema, {}, 600);
    writer.set_dictionary("c", {"a", "b"});
    writer.append(1000, {x.data(), c.data(), label.data()});  // a finished shard, and one open
  };
  write_and_abandon(dir / "new/ds");
  EXPECT_FALSE(std::filesystem::exists(dir / "new"));
  EXPECT_TRUE(std::filesystem::exists(dir.path()));
  std::filesystem::create_directories(dir / "mine");
  std::ofstream(dir / "mine/notes.txt") << "kept";
  write_and_abandon(dir / "mine");
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "mine"))
    left.push_back(entry.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"notes.txt"});
}

}  // namespace
}  // namespace kiln::data

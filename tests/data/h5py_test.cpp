// Kiln against h5py, an independent implementation: h5py reads what Kiln writes, and Kiln
// reads what h5py writes, value for value (tests/data/h5py_crosscheck.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/sha256.h"
#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/stats.h"
#include "tests/temp_dir.h"

namespace kiln::data {
namespace {

using kiln::testing::TempDir;

const std::string kScript = std::string(KILN_SOURCE_DIR) + "/tests/data/h5py_crosscheck.py";

bool have_h5py() {
  return std::system((std::string(KILN_PYTHON) + " -c 'import h5py, numpy' 2>/dev/null").c_str()) ==
         0;
}

// Runs the script with stdout to `output`, then parses `result` as JSON.
nlohmann::json run_script(const std::string& args, const std::string& output,
                          const std::string& result) {
  std::string cmd = std::string(KILN_PYTHON) + " " + kScript + " " + args + " > " + output;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return nlohmann::json::parse(std::ifstream(result));
}

// SHA-256 of each column over all shards, as the column's in-memory bytes.
std::map<std::string, std::string> column_digests(const Dataset& ds) {
  const Schema& schema = ds.schema();
  std::vector<core::Sha256> hashes(schema.columns.size());
  for (const auto& shard : ds.shards()) {
    ColumnBuffers buffers(schema, shard->rows());
    shard->read(0, shard->rows(), buffers.pointers());
    for (std::size_t c = 0; c < schema.columns.size(); ++c) {
      hashes[c].update(buffers.pointers()[c], buffers.bytes(c));
    }
  }
  std::map<std::string, std::string> out;
  for (std::size_t c = 0; c < schema.columns.size(); ++c)
    out[schema.columns[c].name] = hashes[c].hex_digest();
  return out;
}

// The same digests of every other column, read a column at a time in blocks of 300 rows
// (for_each_column_block): each column's blocks in row order, the others not read.
std::map<std::string, std::string> column_block_digests(const Dataset& ds) {
  const Schema& schema = ds.schema();
  std::vector<std::size_t> wanted;
  for (std::size_t c = 0; c < schema.columns.size(); c += 2)
    wanted.push_back(c);
  std::vector<core::Sha256> hashes(schema.columns.size());
  std::vector<int> calls(schema.columns.size(), 0);
  core::ThreadPool pool(2);
  for_each_column_block(
      ds, 300, pool,
      [&](std::size_t c, void* values, int64_t rows) {
        EXPECT_LE(rows, 300);
        hashes[c].update(values, static_cast<std::size_t>(rows) * mem_size(schema.columns[c].role));
        ++calls[c];
      },
      wanted);
  std::map<std::string, std::string> out;
  for (std::size_t c = 0; c < schema.columns.size(); ++c) {
    EXPECT_EQ(calls[c] > 0, c % 2 == 0) << schema.columns[c].name;
    if (c % 2 == 0) out[schema.columns[c].name] = hashes[c].hex_digest();
  }
  return out;
}

TEST(H5py, ReadsTheShardsKilnWritesWithIdenticalValues) {
  if (!have_h5py()) GTEST_SKIP() << KILN_PYTHON << " has no h5py";
  TempDir dir;
  Schema schema{{{"row_id", Role::kId, 0},
                 {"ts", Role::kTime, 0},
                 {"amount", Role::kNumeric, 0},
                 {"merchant", Role::kCategorical, 100},
                 {"w", Role::kWeight, 0},
                 {"label", Role::kLabel, 0}}};
  const int64_t rows = 20011;
  std::vector<int64_t> id(rows), ts(rows);
  std::vector<float> amount(rows), w(rows), label(rows);
  std::vector<int32_t> merchant(rows);
  for (int64_t i = 0; i < rows; ++i) {
    id[i] = i * 7919;
    ts[i] = 1700000000 + i * 61;
    amount[i] = i % 13 == 0 ? NAN
                            : std::ldexp(static_cast<float>(i % 1000) - 500.0f,
                                         static_cast<int>(i % 60) - 30);
    merchant[i] = i % 17 == 0 ? -1 : static_cast<int32_t>(i * 31 % 100);
    w[i] = static_cast<float>(i % 5) * 0.25f;
    label[i] = static_cast<float>(i % 3 == 0);
  }
  for (ShardWriteOptions write :
       {ShardWriteOptions{4096, 0, false, false}, ShardWriteOptions{2048, 4, true, true}}) {
    std::string path = dir / ("ds" + std::to_string(write.gzip_level));
    {
      DatasetWriter writer(path, schema, write, 7000);
      writer.append(rows,
                    {id.data(), ts.data(), amount.data(), merchant.data(), w.data(), label.data()});
      writer.finish();
    }
    nlohmann::json theirs = run_script("read-kiln " + path, dir / "read.json", dir / "read.json");
    const auto ds = Dataset::open(path);
    auto ours = column_digests(*ds);
    ASSERT_EQ(theirs.size(), ours.size());
    for (const auto& [name, digest] : ours)
      EXPECT_EQ(theirs[name], digest) << name;
    for (const auto& [name, digest] : column_block_digests(*ds))
      EXPECT_EQ(theirs[name], digest) << name << ", a column at a time";
  }
}

TEST(H5py, KilnReadsTheMatrixFilesH5pyWritesWithIdenticalValues) {
  if (!have_h5py()) GTEST_SKIP() << KILN_PYTHON << " has no h5py";
  TempDir dir;
  nlohmann::json expected =
      run_script("write-matrix " + dir.path(), dir / "log.txt", dir / "expected.json");
  ASSERT_EQ(expected.size(), 4u);
  for (const auto& [file, want] : expected.items()) {
    auto ds = Dataset::open(dir / file);
    ASSERT_EQ(ds->rows(), want["rows"].get<int64_t>()) << file;
    const Schema& schema = ds->schema();
    auto digests = column_digests(*ds);
    for (std::size_t i = 0; i < want["names"].size(); ++i) {
      std::string name = want["names"][i];
      EXPECT_EQ(schema.columns[i].name, name) << file;
      EXPECT_EQ(digests[name], want["columns"][i]) << file << " " << name;
    }
    EXPECT_EQ(digests["y"], want["label"]) << file;
    for (const auto& [name, digest] : column_block_digests(*ds))
      EXPECT_EQ(digests[name], digest) << file << " " << name << ", a column at a time";
  }
}

}  // namespace
}  // namespace kiln::data

// Loader benchmark (a plain harness, not a test): Kiln's streaming loader over HDF5 shards,
// and a memcpy of the same bytes as the ceiling. scripts/bench runs it beside the
// h5py + PyTorch DataLoader peer (tests/bench/loader_peer.py) on the same shards.
//
//   loader_bench make DIR --rows N --cols C [--shards K] [--gzip L]
//   loader_bench run DIR --batch B [--epochs E] [--no-shuffle] [--window W] [--gather]
// --gather: the loader's gather mode (data.device_shuffle's host side: windows read into the
// ring, no batch copies).
// `run` prints one JSON object: rows/s, GB/s, seconds, peak RSS, memcpy GB/s.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/bench/bench_util.h"

#include "core/errors.h"
#include "data/loader.h"
#include "data/random.h"

namespace {

using kiln::bench::arg;
using kiln::bench::flag;
using kiln::bench::now;

using namespace kiln::data;

void make(const std::string& dir, int64_t rows, int cols, int shards, int gzip) {
  Schema schema;
  for (int c = 0; c < cols; ++c)
    schema.columns.push_back({"x" + std::to_string(c), Role::kNumeric, 0});
  schema.columns.push_back({"label", Role::kLabel, 0});
  ShardWriteOptions write;
  write.gzip_level = gzip;
  write.shuffle = gzip > 0;
  DatasetWriter writer(dir, schema, write, (rows + shards - 1) / shards);
  const int64_t block = 65536;
  std::vector<std::vector<float>> data(schema.columns.size(), std::vector<float>(block));
  std::vector<const void*> pointers;
  for (auto& v : data)
    pointers.push_back(v.data());
  for (int64_t start = 0; start < rows; start += block) {
    int64_t n = std::min(block, rows - start);
    for (std::size_t c = 0; c < data.size(); ++c) {
      CounterRng rng(mix_keys(static_cast<uint64_t>(start), c));
      for (int64_t i = 0; i < n; ++i) {
        // Compressible like real features: a few significant digits.
        data[c][i] = c + 1 == data.size()
                         ? static_cast<float>(rng.uniform() < 0.02)
                         : std::round(static_cast<float>(rng.uniform()) * 1000.0f) / 8.0f;
      }
    }
    writer.append(n, pointers);
  }
  writer.finish();
}

void run(const std::string& dir, int64_t batch, int epochs, bool shuffle, int64_t window,
         bool gather) {
  auto ds = Dataset::open(dir);
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.shuffle_window = window;
  o.drop_last = false;
  o.gather = gather;
  Loader loader({ds}, o);
  std::size_t row_bytes = 0;
  for (const auto& c : ds->schema().columns)
    row_bytes += mem_size(c.role);

  double checksum = 0;
  int64_t rows = 0;
  double start = now();
  for (int e = 0; e < epochs; ++e) {
    while (const Batch* b = loader.next()) {
      rows += b->rows;
      checksum += b->column<float>(0)[b->row(b->rows - 1)];  // touch the batch
    }
  }
  double seconds = now() - start;

  // Ceiling: memcpy of the same bytes, batch-sized, from a buffer that stays in cache-sized
  // pieces of a larger array (what the loader must at least move once).
  std::size_t bytes = row_bytes * static_cast<std::size_t>(batch);
  std::vector<char> src(bytes * 64), dst(bytes);
  std::memset(src.data(), 1, src.size());
  int64_t copies = std::max<int64_t>(1, rows / batch);
  double copy_start = now();
  for (int64_t i = 0; i < copies; ++i)
    std::memcpy(dst.data(), src.data() + (i % 64) * bytes, bytes);
  double copy_seconds = now() - copy_start;
  checksum += dst[17];

  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::ordered_json out = {
      {"impl", "kiln"},
      {"rows", rows},
      {"seconds", seconds},
      {"rows_per_s", static_cast<double>(rows) / seconds},
      {"gb_per_s", static_cast<double>(rows * static_cast<int64_t>(row_bytes)) / seconds / 1e9},
      {"memcpy_gb_per_s",
       static_cast<double>(copies * static_cast<int64_t>(bytes)) / copy_seconds / 1e9},
      {"wait_seconds", loader.wait_seconds()},
      {"peak_rss_mb", static_cast<double>(usage.ru_maxrss) / 1024.0},
      {"checksum", checksum},
  };
  std::cout << out.dump() << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 3 && std::strcmp(argv[1], "make") == 0) {
      make(argv[2], std::stoll(arg(argc, argv, "--rows", "1000000")),
           std::stoi(arg(argc, argv, "--cols", "64")), std::stoi(arg(argc, argv, "--shards", "8")),
           std::stoi(arg(argc, argv, "--gzip", "0")));
      return 0;
    }
    if (argc >= 3 && std::strcmp(argv[1], "run") == 0) {
      run(argv[2], std::stoll(arg(argc, argv, "--batch", "4096")),
          std::stoi(arg(argc, argv, "--epochs", "1")), !flag(argc, argv, "--no-shuffle"),
          std::stoll(arg(argc, argv, "--window", "262144")), flag(argc, argv, "--gather"));
      return 0;
    }
    std::fprintf(stderr,
                 "usage: loader_bench make DIR --rows N --cols C [--shards K] [--gzip L]\n"
                 "       loader_bench run DIR --batch B [--epochs E] [--no-shuffle] [--window W] "
                 "[--gather]\n");
    return 64;
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "loader_bench: %s\n", e.what());
    return e.exit_code();
  }
}

// Registry benchmark (a plain harness): register a large checkpoint (hard links, and copies),
// resolve references with many versions registered, and move an alias many times, through
// the library as `kiln registry` calls it. tests/bench/registry_peer.py times MLflow's model
// registry on the same files beside it (scripts/bench registry).
//   registry_bench CHECKPOINT DIR [--versions 1000] [--moves 1000] [--reps 3]
// prints one JSON object (seconds per operation).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/checkpoint.h"
#include "core/files.h"
#include "registry/registry.h"
#include "tests/bench/bench_util.h"

namespace {

using namespace kiln;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: registry_bench CHECKPOINT DIR [--versions N] [--moves N] [--reps R]\n";
    return 1;
  }
  const std::string checkpoint = argv[1], dir = argv[2];
  const int versions = std::stoi(bench::arg(argc, argv, "--versions", "1000"));
  const int moves = std::stoi(bench::arg(argc, argv, "--moves", "1000"));
  const int reps = std::stoi(bench::arg(argc, argv, "--reps", "3"));
  core::remove_tree(dir);
  std::filesystem::create_directories(dir);
  registry::Registry reg(dir + "/registry");
  uintmax_t bytes = 0;
  for (const auto& f : std::filesystem::directory_iterator(checkpoint))
    bytes += f.file_size();

  // Register the large checkpoint: hard links, then copies (each a new version).
  std::vector<double> linked, copied;
  for (int r = 0; r < reps; ++r) {
    double start = bench::now();
    reg.register_version({checkpoint, "big"});
    linked.push_back(bench::now() - start);
    registry::RegisterOptions copy{checkpoint, "big"};
    copy.copy = true;
    start = bench::now();
    reg.register_version(copy);
    copied.push_back(bench::now() - start);
  }

  // Many versions of a small model, an alias on one, then resolves and moves.
  const std::string small = dir + "/small-run";
  core::CheckpointContents c;
  c.step = 1;
  c.files["weights.bin"] = std::string(4096, 'w');
  std::filesystem::create_directories(small + "/checkpoints");
  core::write_checkpoint(small + "/checkpoints", c, true);
  double start = bench::now();
  for (int v = 0; v < versions; ++v)
    reg.register_version({small, "many"});
  const double fill = (bench::now() - start) / versions;
  reg.move_alias({"many", "champion", 1});
  std::vector<double> by_alias, by_version;
  const registry::Ref alias = registry::parse_ref("many@champion");
  const registry::Ref version = registry::parse_ref("many/v" + std::to_string(versions / 2));
  for (int i = 0; i < 200; ++i) {
    start = bench::now();
    reg.resolve(alias);
    by_alias.push_back(bench::now() - start);
    start = bench::now();
    reg.resolve(version);
    by_version.push_back(bench::now() - start);
  }
  start = bench::now();
  for (int i = 0; i < moves; ++i)
    reg.move_alias({"many", "champion", 1 + (i + 1) % versions});
  const double move = (bench::now() - start) / moves;
  std::cout << nlohmann::ordered_json{{"checkpoint_bytes", bytes},
                                      {"register_link_s",
                                       *std::min_element(linked.begin(), linked.end())},
                                      {"register_copy_s",
                                       *std::min_element(copied.begin(), copied.end())},
                                      {"versions", versions},
                                      {"register_small_s", fill},
                                      {"resolve_alias_s", median(by_alias)},
                                      {"resolve_version_s", median(by_version)},
                                      {"moves", moves},
                                      {"alias_move_s", move}}
                   .dump()
            << "\n";
  return 0;
}

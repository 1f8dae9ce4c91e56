// Checkpoint benchmark (a plain harness): write and verify a checkpoint of a model of about
// 10M parameters with its AdamW state (the files `kiln fit` writes: model and optimizer
// safetensors, state.json, MANIFEST.json with SHA-256s, fsynced, renamed into place).
// tests/bench/checkpoint_peer.py times torch.save of the same sizes beside it.
//   checkpoint_bench DIR [--reps 3]   prints one JSON object
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "tests/bench/bench_util.h"
#include "trainer/model_io.h"
#include "trainer/models.h"

int main(int argc, char** argv) {
  using namespace kiln;
  if (argc < 2) {
    std::cerr << "usage: checkpoint_bench DIR [--reps R]\n";
    return 1;
  }
  const std::string dir = argv[1];
  const int reps = std::stoi(bench::arg(argc, argv, "--reps", "3"));
  trainer::ModelOptions options;
  options.type = trainer::ModelType::kMlp;
  options.embedding_dim = 8;
  options.hidden = {3072, 2400, 1024};
  options.dropout = 0.0;
  options.linear_term = false;
  options.ensemble = 1;  // 64 inputs: 0.2M + 7.4M + 2.5M + ... = 10.0M parameters
  auto model = trainer::make_model(options, {64, {1000}});
  int64_t parameters = 0;
  for (const auto& p : model->parameters())
    parameters += p.numel();
  torch::optim::AdamW optimizer(model->parameters());
  // One step, so that the optimizer has its state.
  auto x = torch::randn({8, 64});
  auto c = torch::zeros({8, 1}, torch::kInt64);
  model->forward(x, c).sum().backward();
  optimizer.step();
  double write = 1e30, verify = 1e30;
  int64_t bytes = 0;
  for (int r = 0; r < reps; ++r) {
    std::filesystem::remove_all(dir);
    double start = bench::now();
    std::map<std::string, int64_t> steps;
    core::CheckpointContents contents;
    contents.step = r + 1;
    contents.files["model.safetensors"] = trainer::model_file(*model);
    contents.files["optimizer.safetensors"] = trainer::optimizer_file(*model, optimizer, steps);
    contents.files["state.json"] = nlohmann::json{{"optimizer_steps", steps}}.dump();
    const std::string path = core::write_checkpoint(dir, contents, true);
    write = std::min(write, bench::now() - start);
    start = bench::now();
    core::verify_checkpoint(path);
    verify = std::min(verify, bench::now() - start);
    bytes = 0;
    for (const auto& f : std::filesystem::directory_iterator(path))
      bytes += static_cast<int64_t>(f.file_size());
  }
  std::cout << nlohmann::ordered_json{{"parameters", parameters},
                                      {"bytes", bytes},
                                      {"write_seconds", write},
                                      {"verify_seconds", verify},
                                      {"write_gb_per_s", static_cast<double>(bytes) / write / 1e9}}
                   .dump()
            << "\n";
  return 0;
}

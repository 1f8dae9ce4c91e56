// Kiln's training step with the data already on the GPU (a plain harness): the TrainStep
// `kiln fit` uses (fused AdamW, gradient clipping, bf16 autocast, the step captured in a
// CUDA graph), on its buffers filled once with random data, so the rate is the model
// step's alone. scripts/gpu-check compares it with `kiln fit` from HDF5 shards (the same
// step fed by the loader) and with tests/bench/train_peer_gpu.py.
//   train_step_bench --batch B [--steps S] [--width 64] [--hidden 512,256,128] [--between K]
//                    [key=value config overrides...]     prints one JSON object
// --between K launches K small kernels (an in-place add of 0 to the labels) between steps, as
// `kiln fit` launches its transform there: what interleaving costs a graphed step.
#include <torch/torch.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "tests/bench/bench_util.h"
#include "trainer/auto_config.h"
#include "trainer/config.h"
#include "trainer/models.h"
#include "trainer/train_step.h"

int main(int argc, char** argv) {
  using namespace kiln;
  if (!torch::cuda::is_available()) {
    std::cerr << "train_step_bench: no CUDA device\n";
    return 1;
  }
  const int64_t batch = std::stoll(bench::arg(argc, argv, "--batch", "4096"));
  const int64_t steps = std::stoll(bench::arg(argc, argv, "--steps", "2000"));
  const int64_t width = std::stoll(bench::arg(argc, argv, "--width", "64"));
  const int64_t between = std::stoll(bench::arg(argc, argv, "--between", "0"));
  std::vector<std::string> overrides = {
      "model.type=mlp", "model.hidden=[" + bench::arg(argc, argv, "--hidden", "512,256,128") + "]",
      "train.device=cuda", "data.batch_size=" + std::to_string(batch),
      "model.linear_term=false"};  // the peers' MLP has none
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.find('=') != std::string::npos && a.rfind("--", 0) != 0) overrides.push_back(a);
  }
  trainer::KilnConfig config = trainer::resolve_kiln_config({}, overrides);
  // The `auto` values `kiln fit` chooses for the benchmark's 2M-row table (gpu-train-bench).
  trainer::resolve_auto(config, {"2M rows", 2000000, width, 0});
  torch::manual_seed(0);
  const torch::Device device(torch::kCUDA);
  auto model = trainer::make_model(config.model, {width, {}});
  model->to(device);
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(config.optim.lr.get())
                                    .weight_decay(config.optim.weight_decay.get()));
  // Two sets of inputs, as the feed gives them; every step reads the first.
  std::array<trainer::ModelBatch, 2> buffers;
  const auto floats = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  for (trainer::ModelBatch& b : buffers)
    b = {torch::zeros({batch, width}, floats),
         torch::zeros({batch, 0}, floats.dtype(torch::kInt64)), torch::zeros({batch}, floats),
         torch::Tensor()};
  auto step = trainer::TrainStep::make(*model, optimizer, config, device, 1.0, 0, buffers);
  const trainer::ModelBatch& inputs = buffers[0];
  inputs.features.normal_();
  inputs.label.bernoulli_(0.1);

  int64_t done = 0;
  auto run = [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < between; ++k)
        inputs.label.add_(0.0);
      step->run(inputs, done++);
    }
    torch::cuda::synchronize();
  };
  run(20);  // warm-up and capture
  const double start = bench::now();
  run(steps);
  const double seconds = bench::now() - start;
  nlohmann::ordered_json out = {{"contender", "kiln TrainStep, data on the GPU"},
                                {"mode", step->mode()},
                                {"between", between},
                                {"precision", std::string(core::enum_name(config.train.precision))},
                                {"batch", batch},
                                {"steps", steps},
                                {"seconds", seconds},
                                {"rows_per_s", static_cast<double>(steps * batch) / seconds}};
  std::cout << out.dump() << std::endl;
  return 0;
}

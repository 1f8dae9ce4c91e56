// kiln env: the job topology from torchrun / Slurm variables and the devices visible.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/topology.h"
#include "kernels/device.h"
#include "trainer/cli/commands.h"
#include "trainer/torch_info.h"

namespace kiln::cli {
namespace {

void print_env(bool json) {
  // First: `kiln` continues the command in kiln-torch here (docs/ARCHITECTURE.md).
  trainer::TorchInfo torch = trainer::torch_info();
  core::Topology topology = core::detect_topology();
  kernels::CudaInfo cuda = kernels::cuda_info();
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");

  if (json) {
    nlohmann::ordered_json devices = nlohmann::ordered_json::array();
    for (const auto& d : cuda.devices) {
      devices.push_back({{"index", d.index},
                         {"name", d.name},
                         {"memory_bytes", d.total_memory},
                         {"compute_capability",
                          std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor)},
                         {"multiprocessors", d.multiprocessors}});
    }
    nlohmann::ordered_json out = {
        {"rank", topology.rank},
        {"local_rank", topology.local_rank},
        {"world_size", topology.world_size},
        {"local_world_size", topology.local_world_size},
        {"master_addr", topology.master_addr},
        {"master_port", topology.master_port},
        {"source", topology.source},
        {"note", topology.note},
        {"cuda_visible_devices",
         visible ? nlohmann::ordered_json(visible) : nlohmann::ordered_json(nullptr)},
        {"devices", devices},
        {"devices_note", cuda.note},
        {"libtorch_cuda_devices", torch.cuda_devices},
    };
    std::cout << out.dump(2) << "\n";
    return;
  }
  auto row = [](const char* key, const std::string& value) {
    std::cout << key << std::string(22 - std::string(key).size(), ' ') << value << "\n";
  };
  row("rank", std::to_string(topology.rank));
  row("local rank", std::to_string(topology.local_rank));
  row("world size", std::to_string(topology.world_size));
  row("ranks on this host", std::to_string(topology.local_world_size));
  row("master address",
      topology.master_addr.empty()
          ? "-"
          : topology.master_addr +
                (topology.master_port ? ":" + std::to_string(topology.master_port) : ""));
  row("detected from",
      topology.source == "none" ? "none (no torchrun or Slurm variables)" : topology.source);
  if (!topology.note.empty()) row("note", topology.note);
  row("CUDA_VISIBLE_DEVICES", visible ? visible : "(unset)");
  if (cuda.devices.empty()) row("devices", cuda.note);
  for (const auto& d : cuda.devices) {
    row(("cuda:" + std::to_string(d.index)).c_str(),
        d.name + ", " + std::to_string(d.total_memory >> 20) + " MiB, sm_" +
            std::to_string(d.compute_major) + std::to_string(d.compute_minor) + ", " +
            std::to_string(d.multiprocessors) + " SMs");
  }
  row("libtorch devices", std::to_string(torch.cuda_devices) + " CUDA");
}

}  // namespace

void add_env_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* env = app.add_subcommand(
      "env",
      "Show this process's place in a distributed job (rank, local rank, world size, master "
      "address; from torchrun's variables, then Slurm's) and the CUDA devices visible");
  env->add_flag("--json", *json, "print JSON on stdout");
  env->callback([json] { print_env(*json); });
}

}  // namespace kiln::cli

// kiln --version [--json]
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/build_info.h"
#include "data/hdf5_info.h"
#include "kernels/device.h"
#include "trainer/cli/commands.h"
#include "trainer/torch_info.h"

namespace kiln::cli {
namespace {

void print_version(bool json) {
  // First: `kiln` continues the command in kiln-torch here (docs/ARCHITECTURE.md).
  trainer::TorchInfo torch = trainer::torch_info();
  const core::BuildInfo& build = core::build_info();
  kernels::CudaInfo cuda = kernels::cuda_info();
  std::string hdf5 = data::hdf5_version();
  auto version_or_null = [](int v) {
    return v > 0 ? nlohmann::ordered_json(kernels::cuda_version_text(v))
                 : nlohmann::ordered_json(nullptr);
  };
  std::string gpus;
  for (const auto& d : cuda.devices)
    gpus += (gpus.empty() ? "" : ", ") + d.name;
  if (gpus.empty() && torch.cuda_devices > 0) {
    gpus = std::to_string(torch.cuda_devices) + " CUDA device(s), seen by LibTorch";
  }

  if (json) {
    nlohmann::ordered_json out = {
        {"kiln", build.version},
        {"git_revision", build.git_revision},
        {"build_type", build.build_type},
        {"compiler", build.compiler},
        {"libtorch", torch.version},
        {"libtorch_cuda", torch.cuda_compiled.empty()
                              ? nlohmann::ordered_json(nullptr)
                              : nlohmann::ordered_json(torch.cuda_compiled)},
        {"cuda",
         {{"compiled", version_or_null(cuda.compiled_version)},
          {"runtime", version_or_null(cuda.runtime_version)},
          {"driver", version_or_null(cuda.driver_version)},
          {"gpus",
           gpus.empty() ? nlohmann::ordered_json("no GPU") : nlohmann::ordered_json(gpus)}}},
        {"cudnn", torch.cudnn.empty() ? nlohmann::ordered_json(nullptr)
                                      : nlohmann::ordered_json(torch.cudnn)},
        {"hdf5", hdf5},
    };
    std::cout << out.dump(2) << "\n";
    return;
  }
  auto text = [](int v) { return v > 0 ? kernels::cuda_version_text(v) : std::string("none"); };
  std::cout << "kiln " << build.version << " (git " << build.git_revision << ", "
            << build.build_type << ")\n"
            << "compiler  " << build.compiler << "\n"
            << "libtorch  " << torch.version
            << (torch.cuda_compiled.empty() ? " (CPU only)" : " (CUDA " + torch.cuda_compiled + ")")
            << "\n"
            << "cuda      "
            << (cuda.compiled
                    ? "compiled " + text(cuda.compiled_version) + ", runtime " +
                          text(cuda.runtime_version) + ", driver " + text(cuda.driver_version)
                    : std::string("Kiln kernels built without CUDA"))
            << "\n"
            << "gpu       " << (gpus.empty() ? "no GPU" : gpus) << "\n"
            << "cudnn     " << (torch.cudnn.empty() ? "none" : torch.cudnn) << "\n"
            << "hdf5      " << hdf5 << "\n";
}

}  // namespace

void add_version_flag(CLI::App& app) {
  auto show = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  app.add_flag("--version", *show,
               "print the versions of Kiln, its compiler, LibTorch, CUDA, cuDNN and HDF5");
  app.add_flag("--json", *json, "with --version: print JSON on stdout");
  app.callback([show, json] {
    if (*show) print_version(*json);
  });
}

}  // namespace kiln::cli

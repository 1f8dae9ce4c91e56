#include "trainer/device.h"

#include <c10/core/impl/VirtualGuardImpl.h>

#include "core/errors.h"

namespace kiln::trainer {

torch::Device choose_device(DeviceChoice wanted) {
  switch (wanted) {
    case DeviceChoice::kCpu:
      return torch::kCPU;
    case DeviceChoice::kCuda:
      KILN_CHECK(torch::cuda::is_available(), ConfigError,
                 "train.device: cuda, but LibTorch sees no CUDA device");
      return torch::kCUDA;
    case DeviceChoice::kAuto:
      break;
  }
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

torch::Device rank_device(torch::Device device, int local_rank) {
  if (!device.is_cuda()) return device;
  const auto count = static_cast<int>(torch::cuda::device_count());
  const torch::Device mine(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count));
  const c10::impl::VirtualGuardImpl cuda(c10::DeviceType::CUDA);
  cuda.setDevice(mine);
  return mine;
}

void* current_stream(torch::Device device) {
  if (!device.is_cuda()) return nullptr;
  const c10::impl::VirtualGuardImpl cuda(c10::DeviceType::CUDA);
  return cuda.getStream(device).native_handle();
}

}  // namespace kiln::trainer

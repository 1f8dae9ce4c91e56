// The device a command runs on and its current CUDA stream, through LibTorch's
// device-generic API (c10::Stream), so that no trainer file needs CUDA's headers for it.
#pragma once

#include <torch/torch.h>

#include "trainer/options.h"

namespace kiln::trainer {

// The device train.device (or any command) asks for: cpu, cuda (ConfigError when LibTorch
// sees no CUDA device) or auto (cuda when present).
torch::Device choose_device(DeviceChoice wanted = DeviceChoice::kAuto);

// The device of the process with `local_rank` on its host (data-parallel training): on CUDA,
// GPU local_rank modulo the GPUs visible, made the current device; the CPU as it is.
torch::Device rank_device(torch::Device device, int local_rank);

// The thread's current stream on `device` as a cudaStream_t (void*), the stream LibTorch
// enqueues this thread's work on; nullptr on the CPU.
void* current_stream(torch::Device device);

}  // namespace kiln::trainer

// The c10d backends under a ProcessGroup (trainer/distributed.h), private to the trainer. Each
// is built in a file of its own that the build picks: dist_gloo.cpp where Gloo's headers
// were found (else dist_gloo_none.cpp), dist_nccl_cuda.cpp in CUDA builds where NCCL's were
// (else dist_nccl_none.cpp). A backend that is not in this build is a ConfigError naming
// train.backend.
#pragma once

#include <chrono>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <c10/core/Device.h>

namespace kiln::trainer {

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    int rank, int size,
                                                    std::chrono::milliseconds timeout);

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    int rank, int size,
                                                    std::chrono::milliseconds timeout,
                                                    c10::Device device);

}  // namespace kiln::trainer

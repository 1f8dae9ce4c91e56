// NCCL, between GPUs (CUDA builds where NCCL's headers were found).
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "trainer/dist_backends.h"

namespace kiln::trainer {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    int rank, int size,
                                                    std::chrono::milliseconds timeout,
                                                    c10::Device device) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
  // Create the communicator now, on this rank's device, rather than at the first collective.
  group->eagerConnectSingleDevice(device);
  return group;
}

}  // namespace kiln::trainer

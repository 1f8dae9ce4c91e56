// A build without CUDA or without NCCL's headers: no GPU backend.
#include "core/errors.h"
#include "trainer/dist_backends.h"

namespace kiln::trainer {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>&, int,
                                                    int, std::chrono::milliseconds, c10::Device) {
  throw ConfigError(
      "train.backend: nccl is not in this build of Kiln (a CUDA build with NCCL's headers); "
      "use gloo");
}

}  // namespace kiln::trainer

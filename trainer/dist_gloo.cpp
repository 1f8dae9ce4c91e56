// Gloo, PyTorch's CPU backend. The torch wheel exports ProcessGroupGloo but does not ship the
// gloo headers its ProcessGroupGloo.hpp includes; Debian's libgloo-dev provides them (an
// older gloo, header-only use: nothing of Debian's libgloo is linked). Only what does not
// depend on gloo's version is used here: Options::create_default and the constructor, both
// compiled in the wheel, and the object's size, which holds gloo's types only behind
// pointers and in containers. Everything else goes through c10d::Backend's virtual interface
// (docs/DISTRIBUTED.md, "The CPU backend").
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "trainer/dist_backends.h"

namespace kiln::trainer {

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    int rank, int size,
                                                    std::chrono::milliseconds timeout) {
  // create_default: a device on this host's address (GLOO_SOCKET_IFNAME picks interfaces).
  auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

}  // namespace kiln::trainer

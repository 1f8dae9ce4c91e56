// A build without Gloo's headers (libgloo-dev): no CPU backend.
#include "core/errors.h"
#include "trainer/dist_backends.h"

namespace kiln::trainer {

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>&, int,
                                                    int, std::chrono::milliseconds) {
  throw ConfigError(
      "train.backend: gloo is not in this build of Kiln (Gloo's headers, Debian's "
      "libgloo-dev, were not found when it was built; scripts/setup installs them)");
}

}  // namespace kiln::trainer

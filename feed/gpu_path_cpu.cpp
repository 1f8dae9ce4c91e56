// A build without CUDA has no GPU feed.
#include "core/errors.h"
#include "feed/gpu_path.h"

namespace kiln::feed {

std::unique_ptr<GpuPath> make_gpu_path(const kernels::CompiledPlan&, const data::Schema&,
                                       const FeedOptions&) {
  throw ConfigError(
      "the GPU feed needs Kiln built with CUDA (KILN_WITH_CUDA); this build has none");
}

}  // namespace kiln::feed

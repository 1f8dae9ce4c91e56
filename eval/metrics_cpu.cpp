// eval's GPU path in a build without CUDA: there is none.
#include "core/errors.h"
#include "eval/metrics_cuda.h"

namespace kiln::eval {
namespace {

[[noreturn]] void no_gpu() {
  throw InternalError("eval's GPU path called in a build of Kiln without CUDA");
}

}  // namespace

RankingSummary ranking_metrics_cuda(const double*, const uint8_t*, int64_t, void*) {
  no_gpu();
}

BootstrapSample bootstrap_sample_cuda(const double*, const uint8_t*, int64_t,
                                      const BootstrapOptions&, bool, void*) {
  no_gpu();
}

BootstrapSample bootstrap_sample_cuda(const BinaryAccumulator&, const BootstrapOptions&) {
  no_gpu();
}

}  // namespace kiln::eval

// DeviceColumns and DeviceGridCounter in a build without CUDA: there is no GPU to count on.
#include "core/errors.h"
#include "kernels/grid_count.h"

namespace kiln::kernels {
namespace {

[[noreturn]] void no_cuda() {
  throw UsageError("counting on the GPU needs a Kiln built with CUDA; this one has none");
}

}  // namespace

DeviceColumns::DeviceColumns(int, int64_t) {
  no_cuda();
}
DeviceColumns::~DeviceColumns() = default;
void DeviceColumns::upload(int64_t, void*) {
  no_cuda();
}

DeviceGridCounter::DeviceGridCounter(const std::vector<const GridIndex*>&, int64_t)
    : impl_(nullptr) {
  no_cuda();
}
DeviceGridCounter::~DeviceGridCounter() = default;
bool DeviceGridCounter::fits(const GridIndex&) {
  return false;
}
void DeviceGridCounter::add(const float*, int64_t, int64_t, void*) {
  no_cuda();
}
void DeviceGridCounter::take(std::vector<CellCounts>&, void*) {
  no_cuda();
}

}  // namespace kiln::kernels

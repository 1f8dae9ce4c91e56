#include "trainer/torch_feed.h"

#include <c10/core/impl/VirtualGuardImpl.h>

#include "kernels/device.h"
#include "trainer/device.h"

namespace kiln::trainer {
namespace {

feed::FeedOptions on(torch::Device device, feed::FeedOptions options) {
  options.gpu = device.is_cuda() && kernels::built_with_cuda();
  return options;
}

// `device` with its index: the current CUDA device's where none is given.
torch::Device indexed(torch::Device device) {
  if (!device.is_cuda() || device.has_index()) return device;
  return c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).getDevice();
}

// A FeedBatch's matrices as tensors over the feed's memory (no copy), `rows` rows.
ModelBatch wrap(const feed::FeedBatch& b, int64_t rows, int64_t width, int64_t categorical_width,
                torch::Device device) {
  const auto floats = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto column = [&](float* values) {
    return values == nullptr ? torch::Tensor() : torch::from_blob(values, {rows}, floats);
  };
  return {torch::from_blob(b.features, {rows, width}, floats),
          torch::from_blob(b.categorical, {rows, categorical_width}, floats.dtype(torch::kInt64)),
          column(b.label), column(b.weight)};
}

}  // namespace

ModelBatch first_rows(const ModelBatch& batch, int64_t rows) {
  auto first = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, 0, rows) : t; };
  return {first(batch.features), first(batch.categorical), first(batch.label), first(batch.weight)};
}

TorchFeed::TorchFeed(std::vector<std::shared_ptr<const data::Dataset>> datasets,
                     const kernels::CompiledPlan& plan, feed::FeedOptions options,
                     torch::Device device)
    : device_(indexed(device)), feed_(std::move(datasets), plan, on(device, options)) {
  const auto& outputs = feed_.device_outputs();
  for (std::size_t k = 0; k < outputs.size(); ++k)
    buffers_[k] =
        wrap(outputs[k], options.batch_size, feed_.width(), feed_.categorical_width(), device_);
}

const ModelBatch* TorchFeed::next() {
  const feed::FeedBatch* b = feed_.next(current_stream(device_));
  if (b == nullptr) return nullptr;
  source_ = b->source;
  if (feed_.gpu()) {
    batch_ = first_rows(buffers_[static_cast<std::size_t>(b->set)], b->rows);
  } else {
    const ModelBatch host =
        wrap(*b, b->rows, feed_.width(), feed_.categorical_width(), torch::kCPU);
    auto to_device = [&](const torch::Tensor& t) { return t.defined() ? t.to(device_) : t; };
    batch_ = {to_device(host.features), to_device(host.categorical), to_device(host.label),
              to_device(host.weight)};
  }
  batch_.share = static_cast<double>(b->rows) / static_cast<double>(source_->global_rows);
  return &batch_;
}

}  // namespace kiln::trainer

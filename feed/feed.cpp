#include "feed/feed.h"

#include "core/errors.h"
#include "feed/gpu_path.h"
#include "kernels/transform.h"

namespace kiln::feed {

Feed::Feed(std::vector<std::shared_ptr<const data::Dataset>> datasets,
           const kernels::CompiledPlan& plan, const FeedOptions& options)
    : plan_(plan) {
  KILN_CHECK(!datasets.empty(), ConfigError, "the feed needs at least one dataset");
  const data::Schema& schema = datasets.front()->schema();
  label_ = schema.find_role(data::Role::kLabel);
  weight_ = schema.find_role(data::Role::kWeight);
  data::LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = options.shuffle;
  lo.shuffle_window = options.shuffle_window;
  lo.drop_last = options.drop_last;
  lo.seed = options.seed;
  lo.rank = options.rank;
  lo.world_size = options.world_size;
  lo.threads = options.threads;
  if (options.gpu) {
    gpu_ = make_gpu_path(plan_, schema, options);
    gpu_->configure(lo);
  } else {
    pool_ = std::make_unique<core::ThreadPool>(options.threads);
  }
  loader_ = std::make_unique<data::Loader>(std::move(datasets), lo);
}

Feed::~Feed() {
  // The loader's memory goes first: nothing may still be copying out of it. A CUDA error
  // here was (or will be) reported by the call that caused it.
  try {
    if (gpu_) gpu_->finish();
  } catch (const std::exception&) {
  }
}

const FeedBatch* Feed::next(void* stream) {
  const data::Batch* batch = loader_->next();
  if (batch == nullptr) return nullptr;
  if (gpu_) {
    batch_ = gpu_->push(*batch, stream);
    return &batch_;
  }
  KILN_ASSERT(batch->ring == nullptr, "a gather-mode batch needs the GPU path");
  const int64_t rows = batch->rows;
  features_.resize(static_cast<std::size_t>(rows * plan_.width()));
  categorical_.resize(static_cast<std::size_t>(rows * plan_.categorical_width()));
  kernels::apply_cpu(plan_, const_cast<const void* const*>(batch->columns.data()), rows,
                     features_.data(), categorical_.data(), pool_.get());
  auto column = [&](int c) {
    return c < 0 ? nullptr : static_cast<float*>(batch->columns[static_cast<std::size_t>(c)]);
  };
  batch_ = {rows, features_.data(), categorical_.data(), column(label_), column(weight_), 0, batch};
  return &batch_;
}

const std::vector<FeedBatch>& Feed::device_outputs() const {
  static const std::vector<FeedBatch> none;
  return gpu_ ? gpu_->outputs() : none;
}

void Feed::seek(data::LoaderCursor cursor) {
  if (gpu_) gpu_->finish();
  loader_->seek(cursor);
}

double Feed::copy_wait_seconds() const {
  return gpu_ ? gpu_->copy_wait_seconds() : 0;
}

}  // namespace kiln::feed

#include "trainer/train_step.h"

#include <ATen/autocast_mode.h>

#include "core/errors.h"
#include "core/log.h"

#if KILN_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/adamw_cuda.h"

#include <optional>
#endif

namespace kiln::trainer {
namespace {

constexpr int kWarmupSteps = 3;  // eager steps before the capture, as CUDA graphs want

// bf16 autocast on CUDA for the guard's lifetime (the forward pass).
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_;
};

}  // namespace

kernels::LrSchedule lr_schedule(const OptimOptions& o, int64_t steps) {
  kernels::LrSchedule s;
  s.lr = o.lr;
  s.warmup_steps = o.warmup_steps;
  s.kind = o.schedule == "constant" ? kernels::LrKind::kConstant
           : o.schedule == "step"   ? kernels::LrKind::kStep
                                    : kernels::LrKind::kCosine;
  s.min_lr_ratio = o.min_lr_ratio;
  s.step_every = o.step_every;
  s.step_gamma = o.step_gamma;
  s.steps = steps;
  return s;
}

class TrainStep::Impl {
 public:
  Impl(TabularModelImpl& model, torch::optim::Optimizer& optimizer, const KilnConfig& config,
       torch::Device device, int64_t batch_size, int64_t width, int64_t categorical_width,
       bool weighted, double pos_weight, int64_t first_step)
      : model_(model),
        optimizer_(optimizer),
        optim_(config.optim),
        schedule_(lr_schedule(config.optim, config.train.steps)),
        next_step_(first_step) {
    const auto floats = torch::TensorOptions().dtype(torch::kFloat32).device(device);
#if KILN_WITH_CUDA
    if (device.is_cuda()) {
      torch::cuda::synchronize();  // the model's upload ran on the default stream
      // High priority: the block scheduler runs the step's kernels before the waiting blocks
      // of work on other streams (the window copies' transposes, DeviceBatches).
      stream_.emplace(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device.index()));
      for (ModelBatch& b : buffers_) {
        b.features = torch::zeros({batch_size, width}, floats);
        b.categorical = torch::zeros({batch_size, categorical_width}, floats.dtype(torch::kInt64));
        b.label = torch::zeros({batch_size}, floats);
        if (weighted) b.weight = torch::zeros({batch_size}, floats);
      }
    }
#else
    (void)batch_size;
    (void)width;
    (void)categorical_width;
    (void)weighted;
#endif
    pos_weight_ = torch::full({1}, pos_weight, floats);
    const std::string& precision = config.train.precision;
    KILN_CHECK(precision != "bf16" || device.is_cuda(), ConfigError,
               "train.precision: bf16 needs a CUDA device (train.device is ", device.str(), ")");
    bf16_ = device.is_cuda() && precision != "fp32";
#if KILN_WITH_CUDA
    fused_ = device.is_cuda() && config.optim.name == "adamw";
    graph_wanted_ = fused_ && config.train.cuda_graph;
#endif
    if (fused_) {
      at::autocast::set_autocast_cache_enabled(false);  // a captured forward may not cache casts
      lr_ = torch::zeros({}, floats);
      device_step_ = torch::full({}, first_step, floats.dtype(torch::kInt64));
      loss_ring_ = torch::full({TrainStep::kLossRing}, NAN, floats);
      auto& state = optimizer_.state();
      for (const torch::Tensor& p : model_.parameters()) {
        auto& slot = state[p.unsafeGetTensorImpl()];
        if (!slot) {
          auto s = std::make_unique<torch::optim::AdamWParamState>();
          s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
          s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
          s->step(0);
          slot = std::move(s);
        }
        auto& adam = static_cast<torch::optim::AdamWParamState&>(*slot);
        params_.push_back(p);
        exp_avgs_.push_back(adam.exp_avg());
        exp_avg_sqs_.push_back(adam.exp_avg_sq());
        steps_.push_back(torch::full({}, static_cast<double>(adam.step()), floats));
      }
#if KILN_WITH_CUDA
      std::vector<int64_t> numels;
      for (const torch::Tensor& p : params_)
        numels.push_back(p.numel());
      adamw_ = std::make_unique<kernels::ClippedAdamW>(
          kernels::AdamWOptions{optim_.beta1, optim_.beta2, optim_.weight_decay, optim_.eps,
                                optim_.grad_clip},
          numels);
#endif
    }
  }

  const std::array<ModelBatch, 2>& buffers() const {
    return buffers_;
  }

  torch::Tensor run(const ModelBatch& batch, int64_t step) {
    KILN_ASSERT(step == next_step_, "TrainStep::run: step ", step, " after step ", next_step_ - 1);
    ++next_step_;
    if (!fused_) return eager(batch, kernels::scheduled_lr(schedule_, step));
#if KILN_WITH_CUDA
    const int64_t rows = batch.features.size(0);
    const int set = set_of(batch);
    if (Graph* g = graph_wanted_ && set >= 0 ? graph_for(rows, set) : nullptr) {
      if (!g->graph && g->warmups < warmups_before_capture()) {
        ++g->warmups;
        return fused_step(batch);
      }
      if (!g->graph) capture(*g);  // on failure, graph_wanted_ goes false and this step is eager
      if (g->graph) {
        g->graph->replay();
        return g->loss;
      }
    }
#endif
    return fused_step(batch);
  }

  void sync_optimizer_state() {
    if (!fused_) return;
    auto& state = optimizer_.state();
    for (std::size_t i = 0; i < params_.size(); ++i) {
      auto& adam =
          static_cast<torch::optim::AdamWParamState&>(*state[params_[i].unsafeGetTensorImpl()]);
      adam.step(static_cast<int64_t>(steps_[i].item<float>()));
    }
  }

  const torch::Tensor& loss_ring() const {
    return loss_ring_;
  }

  std::string mode() const {
#if KILN_WITH_CUDA
    if (any_graph()) return "graph";
#endif
    return fused_ ? "fused" : "eager";
  }

 private:
  // The forward pass (under autocast where bf16 is on) and the loss, in float32.
  torch::Tensor forward_loss(const ModelBatch& batch) {
    torch::Tensor logits;
    {
      Bf16Autocast autocast(bf16_);
      logits = model_.forward(batch.features, batch.categorical);
    }
    return torch::binary_cross_entropy_with_logits(
        logits.to(torch::kFloat32), batch.label,
        batch.weight.defined() ? std::optional<torch::Tensor>(batch.weight) : std::nullopt,
        pos_weight_);
  }

  // LibTorch's optimizer as it is: the CPU path (bitwise reproducible) and SGD.
  torch::Tensor eager(const ModelBatch& batch, double lr) {
    for (auto& group : optimizer_.param_groups())
      group.options().set_lr(lr);
    torch::Tensor loss = forward_loss(batch);
    optimizer_.zero_grad();
    loss.backward();
    if (optim_.grad_clip > 0)
      torch::nn::utils::clip_grad_norm_(model_.parameters(), optim_.grad_clip);
    optimizer_.step();
    return loss;
  }

  // The capturable step (CUDA): no host synchronization; the learning rate computed and the
  // loss kept on the device (kernels::record_step); clipping and AdamW in
  // kernels::ClippedAdamW.
  torch::Tensor fused_step(const ModelBatch& batch) {
    model_.zero_grad(true);
    torch::Tensor loss = forward_loss(batch);
    loss.backward();
#if KILN_WITH_CUDA
    void* stream = c10::cuda::getCurrentCUDAStream().stream();
    kernels::record_step(schedule_, device_step_.data_ptr<int64_t>(), lr_.data_ptr<float>(),
                         loss.data_ptr<float>(), loss_ring_.data_ptr<float>(), TrainStep::kLossRing,
                         stream);
    std::vector<kernels::AdamWTensor> tensors;
    tensors.reserve(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const torch::Tensor grad = params_[i].grad();
      KILN_ASSERT(grad.defined() && grad.is_contiguous() && grad.scalar_type() == torch::kFloat32,
                  "parameter ", i, " has no contiguous float32 gradient");
      tensors.push_back({params_[i].data_ptr<float>(), grad.data_ptr<float>(),
                         exp_avgs_[i].data_ptr<float>(), exp_avg_sqs_[i].data_ptr<float>(),
                         steps_[i].data_ptr<float>(), params_[i].numel()});
    }
    adamw_->step(tensors, lr_.data_ptr<float>(), stream);
#else
    KILN_ASSERT(false, "the fused step runs on CUDA only");
#endif
    return loss;
  }

#if KILN_WITH_CUDA
  // A captured step for batches of `rows` rows in set `set` of buffers() (their first rows).
  struct Graph {
    int64_t rows = 0;
    int set = 0;
    int warmups = 0;  // eager steps of this size and set so far
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor loss;  // the graph's output, overwritten by each replay
  };

  // The set of buffers() whose first rows `batch` is, or -1. By every tensor with rows: a
  // plan with no features or no categoricals has empty ones.
  int set_of(const ModelBatch& batch) const {
    auto same = [](const torch::Tensor& a, const torch::Tensor& b) {
      return a.defined() == b.defined() && (!a.defined() || a.data_ptr() == b.data_ptr());
    };
    for (std::size_t k = 0; k < buffers_.size(); ++k) {
      const ModelBatch& b = buffers_[k];
      if (same(batch.features, b.features) && same(batch.categorical, b.categorical) &&
          same(batch.label, b.label) && same(batch.weight, b.weight))
        return static_cast<int>(k);
    }
    return -1;
  }

  // The graph for `rows`-row batches in set `set`, made on the first one; nullptr once
  // kMaxGraphs have one (such batches run eagerly).
  Graph* graph_for(int64_t rows, int set) {
    for (Graph& g : graphs_)
      if (g.rows == rows && g.set == set) return &g;
    if (graphs_.size() == kMaxGraphs) return nullptr;
    Graph& g = graphs_.emplace_back();
    g.rows = rows;
    g.set = set;
    return &g;
  }

  // The first capture waits for kWarmupSteps eager steps (lazy initialization, cuBLAS's
  // workspace); once one graph exists, a batch size and set is captured at its second batch.
  int warmups_before_capture() const {
    return any_graph() ? 1 : kWarmupSteps;
  }

  bool any_graph() const {
    for (const Graph& g : graphs_)
      if (g.graph) return true;
    return false;
  }

  void capture(Graph& g) {
    const ModelBatch inputs = first_rows(buffers_[static_cast<std::size_t>(g.set)], g.rows);
    try {
      model_.zero_grad(true);  // the graph's backward allocates the gradients in its pool
      auto graph = std::make_unique<at::cuda::CUDAGraph>();
      graph->capture_begin();
      try {
        g.loss = fused_step(inputs);
      } catch (...) {
        graph->capture_end();
        throw;
      }
      graph->capture_end();
      g.graph = std::move(graph);
      core::log_info(detail::concat("the training step is captured in a CUDA graph (batches of ",
                                    g.rows, " rows in input buffers ", g.set, ")"));
    } catch (const std::exception& e) {
      graph_wanted_ = false;
      g.loss = torch::Tensor();
      core::log_warn(std::string("CUDA graph capture of the training step failed; training "
                                 "continues without it: ") +
                     e.what());
    }
  }
#endif

#if KILN_WITH_CUDA
  std::optional<c10::cuda::CUDAStreamGuard> stream_;  // first: the last to go
#endif
  TabularModelImpl& model_;
  torch::optim::Optimizer& optimizer_;
  OptimOptions optim_;
  kernels::LrSchedule schedule_;
  int64_t next_step_;  // the step the next run() must be
  std::array<ModelBatch, 2> buffers_;
  torch::Tensor pos_weight_;
  bool bf16_ = false;
  bool fused_ = false;
  // The fused AdamW's lists: the parameters, the optimizer's moment tensors, step counts.
  std::vector<torch::Tensor> params_, exp_avgs_, exp_avg_sqs_, steps_;
  // The fused step's device state: its learning rate, the next step's number (record_step
  // keeps both), and its losses.
  torch::Tensor lr_, device_step_, loss_ring_;
#if KILN_WITH_CUDA
  std::unique_ptr<kernels::ClippedAdamW> adamw_;
  bool graph_wanted_ = false;
  // The full batch size's graphs and the epoch's short last batch's, one for each set of
  // buffers: a dataset's epochs all end in a batch of the same size.
  static constexpr std::size_t kMaxGraphs = 4;
  std::vector<Graph> graphs_;
#endif
};

TrainStep::TrainStep(TabularModelImpl& model, torch::optim::Optimizer& optimizer,
                     const KilnConfig& config, torch::Device device, int64_t batch_size,
                     int64_t width, int64_t categorical_width, bool weighted, double pos_weight,
                     int64_t first_step)
    : impl_(std::make_unique<Impl>(model, optimizer, config, device, batch_size, width,
                                   categorical_width, weighted, pos_weight, first_step)) {}

TrainStep::~TrainStep() = default;

const std::array<ModelBatch, 2>& TrainStep::buffers() const {
  return impl_->buffers();
}

torch::Tensor TrainStep::run(const ModelBatch& batch, int64_t step) {
  return impl_->run(batch, step);
}

const torch::Tensor& TrainStep::loss_ring() const {
  return impl_->loss_ring();
}

void TrainStep::sync_optimizer_state() {
  impl_->sync_optimizer_state();
}

std::string TrainStep::mode() const {
  return impl_->mode();
}

}  // namespace kiln::trainer

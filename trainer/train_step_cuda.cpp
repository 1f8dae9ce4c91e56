// The fused training step on a CUDA device with AdamW (train_step.h): capturable, and
// captured in CUDA graphs with train.cuda_graph.
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>

#include <vector>

#include "core/errors.h"
#include "core/log.h"
#include "kernels/adamw_cuda.h"
#include "trainer/fused_step.h"

namespace kiln::trainer {
namespace {

constexpr int kWarmupSteps = 3;  // eager steps before the capture, as CUDA graphs want

class FusedStep final : public TrainStep {
 public:
  FusedStep(TabularModelImpl& model, torch::optim::Optimizer& optimizer, const KilnConfig& config,
            torch::Device device, double pos_weight, int64_t first_step,
            const std::array<ModelBatch, 2>& graph_inputs)
      : TrainStep(model, config, device, pos_weight),
        optimizer_(optimizer),
        next_step_(first_step),
        buffers_(graph_inputs),
        graph_wanted_(config.train.cuda_graph) {
    const auto floats = torch::TensorOptions().dtype(torch::kFloat32).device(device);
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
    std::vector<int64_t> numels;
    for (const torch::Tensor& p : params_)
      numels.push_back(p.numel());
    adamw_ = std::make_unique<kernels::ClippedAdamW>(
        kernels::AdamWOptions{optim_.beta1, optim_.beta2, optim_.weight_decay.get(), optim_.eps,
                              optim_.grad_clip},
        numels);
  }

  torch::Tensor run(const ModelBatch& batch, int64_t step) override {
    KILN_ASSERT(step == next_step_, "TrainStep::run: step ", step, " after step ", next_step_ - 1);
    ++next_step_;
    const int64_t rows = batch.features.size(0);
    const int set = set_of(batch);
    // With several ranks the step's all-reduce is not captured (docs/DISTRIBUTED.md).
    if (Graph* g = graph_wanted_ && sync_ == nullptr && set >= 0 ? graph_for(rows, set) : nullptr) {
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
    return fused_step(batch);
  }

  const torch::Tensor& loss_ring() const override { return loss_ring_; }

  void sync_optimizer_state() override {
    auto& state = optimizer_.state();
    for (std::size_t i = 0; i < params_.size(); ++i) {
      auto& adam =
          static_cast<torch::optim::AdamWParamState&>(*state[params_[i].unsafeGetTensorImpl()]);
      adam.step(static_cast<int64_t>(steps_[i].item<float>()));
    }
  }

  std::string mode() const override { return any_graph() ? "graph" : "fused"; }

 private:
  // A captured step for batches of `rows` rows in set `set` of buffers_ (their first rows).
  struct Graph {
    int64_t rows = 0;
    int set = 0;
    int warmups = 0;  // eager steps of this size and set so far
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor loss;  // the graph's output, overwritten by each replay
  };

  // The capturable step: no host synchronization; the learning rate computed and the loss
  // kept on the device (kernels::record_step); clipping and AdamW in kernels::ClippedAdamW.
  torch::Tensor fused_step(const ModelBatch& batch) {
    model_.zero_grad(true);
    torch::Tensor loss = forward_loss(batch);
    backward(loss);
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
    return loss;
  }

  // The set of buffers_ whose first rows `batch` is, or -1. By every tensor with rows: a
  // plan with no features or no categoricals has empty ones.
  int set_of(const ModelBatch& batch) const {
    auto same = [](const torch::Tensor& a, const torch::Tensor& b) {
      return a.defined() == b.defined() && (!a.defined() || a.data_ptr() == b.data_ptr());
    };
    for (std::size_t k = 0; k < buffers_.size(); ++k) {
      const ModelBatch& b = buffers_[k];
      if (b.features.defined() && same(batch.features, b.features) &&
          same(batch.categorical, b.categorical) && same(batch.label, b.label) &&
          same(batch.weight, b.weight))
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
  int warmups_before_capture() const { return any_graph() ? 1 : kWarmupSteps; }

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

  torch::optim::Optimizer& optimizer_;
  int64_t next_step_;  // the step the next run() must be
  std::array<ModelBatch, 2> buffers_;
  bool graph_wanted_;
  // The fused AdamW's lists: the parameters, the optimizer's moment tensors, step counts.
  std::vector<torch::Tensor> params_, exp_avgs_, exp_avg_sqs_, steps_;
  // The step's device state: its learning rate, the next step's number (record_step keeps
  // both), and its losses.
  torch::Tensor lr_, device_step_, loss_ring_;
  std::unique_ptr<kernels::ClippedAdamW> adamw_;
  // The full batch size's graphs and the epoch's short last batch's, one for each set of
  // buffers: a dataset's epochs all end in a batch of the same size.
  static constexpr std::size_t kMaxGraphs = 4;
  std::vector<Graph> graphs_;
};

}  // namespace

std::unique_ptr<TrainStep> make_fused_step(TabularModelImpl& model,
                                           torch::optim::Optimizer& optimizer,
                                           const KilnConfig& config, torch::Device device,
                                           double pos_weight, int64_t first_step,
                                           const std::array<ModelBatch, 2>& graph_inputs) {
  return std::make_unique<FusedStep>(model, optimizer, config, device, pos_weight, first_step,
                                     graph_inputs);
}

}  // namespace kiln::trainer

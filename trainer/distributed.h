// Data-parallel training over PyTorch's c10d (docs/DISTRIBUTED.md). `kiln fit` started as one
// of several processes (torchrun, srun, or by hand with RANK, WORLD_SIZE, MASTER_ADDR and
// MASTER_PORT) joins the others in a ProcessGroup: a TCPStore rendezvous (the torchrun
// agent's store when it hosts one, else one that rank 0 serves), then NCCL between GPUs or
// Gloo between CPUs. A world of one process never builds one: that run is the
// single-process code path.
//
// Every collective is bounded by train.dist_timeout_s. When one fails (a peer crashed, was
// killed, or hangs) the error is UnavailableError (exit 69) naming the ranks that are gone,
// found through the store: the survivors check in and the ranks that do not are named.
//
// Not thread-safe: one thread (the training loop) calls it, every rank in the same order.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "core/topology.h"
#include "trainer/models.h"
#include "trainer/options.h"
#include "trainer/scoring.h"

namespace kiln::trainer {

class ProcessGroup {
 public:
  // Joins the job `topology` describes (its world_size > 1). ConfigError when the backend
  // cannot serve `device` or is not in this build; UnavailableError when the rendezvous
  // (MASTER_ADDR:MASTER_PORT) or a peer cannot be reached within `timeout`.
  ProcessGroup(const core::Topology& topology, DistBackend backend, torch::Device device,
               std::chrono::seconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  const std::string& backend_name() const { return backend_name_; }

  // Rank 0's `text` under `key`, on every rank (what rank 0 alone decides, such as the run
  // directory's path).
  std::string from_rank0(const std::string& key, const std::string& text);

  // Returns when every rank's `config` (config.resolved.yaml) is rank 0's; else ConfigError
  // on every rank: the rank that differs names its first differing line and rank 0's, the
  // others name that rank.
  void check_same_config(const std::string& config);

  // Rank 0's values of `tensors`, in place on every rank.
  void broadcast(std::vector<torch::Tensor> tensors);
  // `tensor` summed over the ranks, in place.
  void all_reduce_sum(torch::Tensor tensor);
  // True on every rank when `flag` is true on any.
  bool any(bool flag);
  // Every rank's `bytes` (each rank's of the same size), by rank.
  std::vector<std::string> all_gather(const std::string& bytes);
  void barrier();

  // `tensor` (on the device) summed over the ranks in place, started; wait() it. A failure
  // surfaces in wait().
  c10::intrusive_ptr<c10d::Work> start_all_reduce_sum(torch::Tensor tensor);
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what);

 private:
  // Runs a collective's `work`, turning a failure into UnavailableError naming the lost ranks.
  template <class Work>
  void collective(const char* what, Work&& work);
  // The ranks that do not check in within a few seconds after a collective failed.
  std::string lost_ranks();
  // UnavailableError: `what` failed with `e`, and the ranks that are gone.
  [[noreturn]] void fail(const char* what, const std::exception& e);

  int rank_, world_size_;
  std::chrono::seconds timeout_;
  std::string backend_name_;
  bool agent_store_ = false;  // the torchrun agent serves the store (else rank 0)
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  torch::Device device_;
};

// The gradient of the global batch's mean loss on every rank. Each rank's loss (the mean over
// its rows) is scaled by loss_scale(): its rows' share of the global batch (ModelBatch::share)
// times the ranks; the gradients of those losses, averaged over the ranks, are the gradient
// of the global batch's mean loss, whatever the sizes of the parts (the epoch's short last
// batch). So pos_weight and sample weights mean what they mean in one process, at any world
// size, and so do the losses the ranks report, averaged.
//
// The sums overlap the backward pass: the parameters are cut into buckets of at most
// `bucket_bytes` (the first at most kFirstBucketBytes, as DistributedDataParallel does) in the
// reverse of their order (backward reaches the last layers first), a hook on each parameter
// copies its gradient into its bucket, and a bucket whose gradients are all in is
// all-reduced at once, asynchronously, while backward goes on. Buckets start in their order
// on every rank (collectives must match). finish() waits for the rest.
class GradientSync {
 public:
  static constexpr int64_t kFirstBucketBytes = 1 << 20;

  GradientSync(ProcessGroup& group, TabularModelImpl& model, int64_t bucket_bytes);
  std::size_t buckets() const { return buckets_.size(); }
  // What a rank's mean loss over a batch with `share` of the global batch's rows is scaled by.
  double loss_scale(double share) const { return share * group_.world_size(); }
  // Before backward.
  void begin();
  // After backward: waits for every bucket and puts the sums into the gradients.
  void finish();
  // Seconds finish() has waited for all-reduces backward did not hide, in all.
  double exposed_seconds() const { return exposed_seconds_; }

 private:
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    torch::Tensor flat;               // their gradients, one after another
    int arrived = 0;
    c10::intrusive_ptr<c10d::Work> work;
  };
  void arrived(std::size_t param, const torch::Tensor& grad);
  void start_ready_buckets();

  ProcessGroup& group_;
  std::vector<torch::Tensor> params_;
  std::vector<std::pair<std::size_t, int64_t>> place_;  // per parameter: bucket, offset
  std::vector<Bucket> buckets_;
  std::size_t next_ = 0;  // the next bucket to start
  double exposed_seconds_ = 0;
};

// The model's metrics on a labelled dataset, scored in shares: each rank scores its part of
// every global batch (the loader's parts; the batch size lowered until the last global batch
// has a row for every rank, so that every row is scored once), the scores, labels and
// weights are gathered, and rank 0 computes the metrics from the accumulator (the other
// ranks get an empty result). A collective. The metrics are validation_metrics' up to the
// order of rows in sums (AUROC and AP do not depend on it). A dataset of fewer rows than
// ranks is scored by rank 0 alone.
ValidationMetrics validation_metrics_in_shares(ProcessGroup& group, TabularModelImpl& model,
                                               const kernels::CompiledPlan& plan,
                                               const std::shared_ptr<const data::Dataset>& dataset,
                                               torch::Device device, ScoringOptions options);

}  // namespace kiln::trainer

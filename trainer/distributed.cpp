#include "trainer/distributed.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/config.h"
#include "core/errors.h"
#include "core/log.h"
#include "trainer/dist_backends.h"

namespace kiln::trainer {
namespace {

using Clock = std::chrono::steady_clock;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// An exception's first line: c10's messages go on with a C++ stack trace.
std::string first_line(const std::exception& e) {
  const std::string text = e.what();
  return text.substr(0, text.find('\n'));
}

// With `agent` (torchrun's agent hosts the rendezvous store: TORCHELASTIC_USE_AGENT_STORE), a
// client of the agent's store; else rank 0 serves one at MASTER_ADDR:MASTER_PORT. The
// agent's store outlives restarted workers: keys go under a prefix of this attempt, so that
// a restart never reads a failed attempt's keys (as PyTorch's init_process_group does).
c10::intrusive_ptr<c10d::Store> open_store(const core::Topology& t, bool agent,
                                           std::chrono::milliseconds timeout) {
  KILN_CHECK(!t.master_addr.empty() && t.master_port > 0, ConfigError, "a job of ", t.world_size,
             " processes (", t.source,
             ") needs MASTER_ADDR and MASTER_PORT: where rank 0 serves the rendezvous");
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(t.master_port);
  o.isServer = !agent && t.rank == 0;
  o.numWorkers = t.world_size;
  o.waitWorkers = false;  // the backend's rendezvous waits for every rank
  o.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(t.master_addr, o);
  } catch (const std::exception& e) {
    throw UnavailableError(
        detail::concat(o.isServer ? "cannot serve" : "cannot reach", " the rendezvous at ",
                       t.master_addr, ":", t.master_port, " (MASTER_ADDR, MASTER_PORT) within ",
                       std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                       " s (train.dist_timeout_s): ", first_line(e)));
  }
  const std::string prefix =
      agent ? "/kiln/attempt_" + env("TORCHELASTIC_RESTART_COUNT") : std::string("/kiln");
  return c10::make_intrusive<c10d::PrefixStore>(prefix, store);
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string text = ranks.size() == 1 ? "rank " : "ranks ";
  for (std::size_t i = 0; i < ranks.size(); ++i)
    text += (i == 0 ? "" : ", ") + std::to_string(ranks[i]);
  return text;
}

}  // namespace

ProcessGroup::ProcessGroup(const core::Topology& topology, DistBackend backend,
                           torch::Device device, std::chrono::seconds timeout)
    : rank_(topology.rank), world_size_(topology.world_size), timeout_(timeout), device_(device) {
  KILN_ASSERT(world_size_ > 1, "a process group of one process");
  if (backend == DistBackend::kAuto)
    backend = device.is_cuda() ? DistBackend::kNccl : DistBackend::kGloo;
  backend_name_ = std::string(core::enum_name(backend));
  KILN_CHECK(backend != DistBackend::kNccl || device.is_cuda(), ConfigError,
             "train.backend: nccl needs CUDA devices (train.device is ", device.str(),
             "); use gloo or auto");
  agent_store_ = env("TORCHELASTIC_USE_AGENT_STORE") == "True";
  store_ = open_store(topology, agent_store_, timeout);
  auto scoped = c10::make_intrusive<c10d::PrefixStore>("/" + backend_name_, store_);
  try {
    backend_ = backend == DistBackend::kNccl
                   ? make_nccl_backend(scoped, rank_, world_size_, timeout, device)
                   : make_gloo_backend(scoped, rank_, world_size_, timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw UnavailableError(detail::concat(
        "rank ", rank_, " of ", world_size_, " could not join the ", backend_name_,
        " process group within ", timeout.count(), " s (train.dist_timeout_s): ", first_line(e)));
  }
  core::log_info(detail::concat("rank ", rank_, " of ", world_size_, " joined the ", backend_name_,
                                " process group (rendezvous ", topology.master_addr, ":",
                                topology.master_port, ", ", topology.source, ")"));
}

ProcessGroup::~ProcessGroup() = default;

std::string ProcessGroup::lost_ranks() {
  // Every survivor checks in; whoever has not after a few seconds is named.
  const auto deadline =
      Clock::now() + std::min<std::chrono::seconds>(timeout_, std::chrono::seconds(5));
  try {
    store_->set("failed/" + std::to_string(rank_), std::vector<uint8_t>{1});
    std::vector<int> missing;
    for (int r = 0; r < world_size_; ++r) {
      const std::vector<std::string> key = {"failed/" + std::to_string(r)};
      while (!store_->check(key) && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!store_->check(key)) missing.push_back(r);
    }
    if (missing.empty()) return "every rank is still there (a network failure?)";
    return rank_list(missing) + (missing.size() == 1 ? " is" : " are") +
           " gone (crashed, killed or hung)";
  } catch (const std::exception&) {
    return agent_store_ ? "the torchrun agent's rendezvous store is gone too"
                        : "the rendezvous store is gone too: rank 0, which serves it, is gone";
  }
}

template <class Work>
void ProcessGroup::collective(const char* what, Work&& work) {
  c10::intrusive_ptr<c10d::Work> started;
  try {
    started = work();
  } catch (const std::exception& e) {
    fail(what, e);
  }
  wait(started, what);
}

void ProcessGroup::wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    fail(what, e);
  }
}

void ProcessGroup::fail(const char* what, const std::exception& e) {
  const std::string cause = first_line(e);
  throw UnavailableError(detail::concat(what, " failed on rank ", rank_, " of ", world_size_, ": ",
                                        lost_ranks(), " (", backend_name_, ": ", cause, ")"));
}

c10::intrusive_ptr<c10d::Work> ProcessGroup::start_all_reduce_sum(torch::Tensor tensor) {
  std::vector<torch::Tensor> tensors = {tensor};
  try {
    return backend_->allreduce(tensors);
  } catch (const std::exception& e) {
    fail("an all-reduce", e);
  }
}

std::string ProcessGroup::from_rank0(const std::string& key, const std::string& text) {
  try {
    if (rank_ == 0) {
      store_->set("share/" + key, std::vector<uint8_t>(text.begin(), text.end()));
      return text;
    }
    const std::vector<uint8_t> bytes = store_->get("share/" + key);
    return {bytes.begin(), bytes.end()};
  } catch (const std::exception& e) {
    throw UnavailableError(detail::concat("rank ", rank_, " could not get ", key,
                                          " from rank 0 within ", timeout_.count(),
                                          " s (train.dist_timeout_s): ", first_line(e)));
  }
}

void ProcessGroup::check_same_config(const std::string& config) {
  const std::string leader = from_rank0("config", config);
  std::string differs;  // this rank's first line that is not rank 0's
  if (config != leader) {
    auto lines = [](const std::string& text) {
      std::vector<std::string> out;
      for (std::size_t at = 0; at <= text.size();) {
        const std::size_t end = std::min(text.find('\n', at), text.size());
        out.push_back(text.substr(at, end - at));
        at = end + 1;
      }
      return out;
    };
    const auto mine = lines(config), theirs = lines(leader);
    std::size_t i = 0;
    while (i < mine.size() && i < theirs.size() && mine[i] == theirs[i])
      ++i;
    // Lines are "key: value": name the key when both lines have it, else show both lines.
    const std::string a = i < mine.size() ? mine[i] : "", b = i < theirs.size() ? theirs[i] : "";
    const std::size_t colon = a.find(": ");
    if (colon != std::string::npos && b.compare(0, colon + 2, a, 0, colon + 2) == 0)
      differs = detail::concat(a.substr(0, colon), ": this rank has ", a.substr(colon + 2),
                               ", rank 0 has ", b.substr(colon + 2));
    else
      differs = detail::concat("'", a, "' where rank 0 has '", b, "'");
  }
  torch::Tensor flags = torch::zeros({world_size_}, torch::dtype(torch::kInt32));
  flags[rank_] = differs.empty() ? 0 : 1;
  all_reduce_sum(flags);
  std::vector<int> ranks;
  for (int r = 0; r < world_size_; ++r) {
    if (flags[r].item<int>() != 0) ranks.push_back(r);
  }
  if (ranks.empty()) return;
  KILN_CHECK(differs.empty(), ConfigError, "rank ", rank_,
             "'s resolved config differs from rank 0's: ", differs,
             "; every rank of a job must run the same config");
  throw ConfigError(rank_list(ranks) + " of " + std::to_string(world_size_) +
                    " resolved another config than rank 0 (its log names the first difference); "
                    "every rank of a job must run the same config");
}

void ProcessGroup::broadcast(std::vector<torch::Tensor> tensors) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat_parts;
  for (const torch::Tensor& t : tensors)
    flat_parts.push_back(t.detach().reshape({-1}).to(device_, torch::kFloat32));
  std::vector<torch::Tensor> flat = {torch::cat(flat_parts)};
  collective("the broadcast of rank 0's parameters", [&] { return backend_->broadcast(flat); });
  int64_t at = 0;
  for (torch::Tensor& t : tensors) {
    t.detach().copy_(flat[0].narrow(0, at, t.numel()).view(t.sizes()));
    at += t.numel();
  }
}

void ProcessGroup::all_reduce_sum(torch::Tensor tensor) {
  const torch::Tensor on_device = tensor.to(device_);
  wait(start_all_reduce_sum(on_device), "an all-reduce");
  if (!on_device.is_same(tensor)) tensor.copy_(on_device);
}

bool ProcessGroup::any(bool flag) {
  torch::Tensor count = torch::full({1}, flag ? 1 : 0, torch::dtype(torch::kInt32));
  all_reduce_sum(count);
  return count.item<int>() > 0;
}

std::vector<std::string> ProcessGroup::all_gather(const std::string& bytes) {
  const auto n = static_cast<int64_t>(bytes.size());
  torch::Tensor mine = torch::empty({n}, torch::dtype(torch::kUInt8));
  std::memcpy(mine.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  std::vector<torch::Tensor> input = {mine.to(device_)};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < world_size_; ++r)
    output[0].push_back(torch::empty({n}, input[0].options()));
  collective("an all-gather", [&] { return backend_->allgather(output, input); });
  std::vector<std::string> out;
  for (const torch::Tensor& t : output[0]) {
    const torch::Tensor host = t.to(torch::kCPU);
    out.emplace_back(reinterpret_cast<const char*>(host.data_ptr<uint8_t>()),
                     static_cast<std::size_t>(n));
  }
  return out;
}

void ProcessGroup::barrier() {
  collective("a barrier", [&] { return backend_->barrier(); });
}

GradientSync::GradientSync(ProcessGroup& group, TabularModelImpl& model, int64_t bucket_bytes)
    : group_(group) {
  for (const torch::Tensor& p : model.parameters()) {
    if (p.requires_grad()) params_.push_back(p);
  }
  KILN_ASSERT(!params_.empty(), "a model without parameters");
  place_.resize(params_.size());
  std::vector<int64_t> sizes;  // of each bucket, in bytes
  for (std::size_t i = params_.size(); i-- > 0;) {
    const int64_t bytes = params_[i].numel() * static_cast<int64_t>(params_[i].element_size());
    const int64_t cap =
        buckets_.size() == 1 ? std::min(bucket_bytes, kFirstBucketBytes) : bucket_bytes;
    if (buckets_.empty() || (sizes.back() > 0 && sizes.back() + bytes > cap)) {
      buckets_.emplace_back();
      sizes.push_back(0);
    }
    place_[i] = {buckets_.size() - 1, sizes.back() / params_[i].element_size()};
    buckets_.back().params.push_back(i);
    sizes.back() += bytes;
  }
  for (std::size_t b = 0; b < buckets_.size(); ++b)
    buckets_[b].flat = torch::zeros({sizes[b] / params_[0].element_size()},
                                    params_[0].options().requires_grad(false));
  for (std::size_t i = 0; i < params_.size(); ++i)
    params_[i].register_hook([this, i](const torch::Tensor& grad) { arrived(i, grad); });
}

void GradientSync::begin() {
  next_ = 0;
  for (Bucket& b : buckets_)
    b.arrived = 0;
}

void GradientSync::arrived(std::size_t param, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  const auto [b, offset] = place_[param];
  Bucket& bucket = buckets_[b];
  bucket.flat.narrow(0, offset, grad.numel()).copy_(grad.reshape({-1}));
  ++bucket.arrived;
  start_ready_buckets();
}

void GradientSync::start_ready_buckets() {
  while (next_ < buckets_.size() &&
         buckets_[next_].arrived == static_cast<int>(buckets_[next_].params.size())) {
    Bucket& bucket = buckets_[next_++];
    bucket.flat.div_(group_.world_size());
    bucket.work = group_.start_all_reduce_sum(bucket.flat);
  }
}

void GradientSync::finish() {
  torch::NoGradGuard no_grad;
  // A parameter backward did not reach adds nothing: its bucket starts with zeros there.
  for (std::size_t b = next_; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    for (std::size_t i : bucket.params) {
      if (!params_[i].grad().defined())
        bucket.flat.narrow(0, place_[i].second, params_[i].numel()).zero_();
    }
    bucket.arrived = static_cast<int>(bucket.params.size());
  }
  start_ready_buckets();
  const auto start = Clock::now();
  for (Bucket& bucket : buckets_) {
    group_.wait(bucket.work, "the all-reduce of the gradients");
    bucket.work.reset();
  }
  exposed_seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor p = params_[i];
    const auto [b, offset] = place_[i];
    const torch::Tensor sum = buckets_[b].flat.narrow(0, offset, p.numel()).view(p.sizes());
    if (p.grad().defined())
      p.mutable_grad().copy_(sum);
    else
      p.mutable_grad() = sum.clone();
  }
}

ValidationMetrics validation_metrics_in_shares(ProcessGroup& group, TabularModelImpl& model,
                                               const kernels::CompiledPlan& plan,
                                               const std::shared_ptr<const data::Dataset>& dataset,
                                               torch::Device device, ScoringOptions options) {
  const int64_t rows = dataset->rows(), world = group.world_size();
  auto short_tail = [&](int64_t batch) {
    const int64_t tail = rows % (world * batch);
    return tail > 0 && tail < world;
  };
  while (options.batch_size > 1 && short_tail(options.batch_size))
    --options.batch_size;
  if (short_tail(options.batch_size))  // fewer rows than ranks
    return group.rank() == 0 ? validation_metrics(model, plan, dataset, device, options)
                             : ValidationMetrics{};
  options.rank = group.rank();
  options.world_size = group.world_size();
  const eval::BinaryAccumulator mine = score_labelled(model, plan, dataset, device, options);
  // This rank's rows as bytes (scores, labels, weights), padded to the longest rank's.
  const auto n = static_cast<uint64_t>(mine.rows());
  std::vector<std::string> counts =
      group.all_gather(std::string(reinterpret_cast<const char*>(&n), sizeof n));
  uint64_t most = 0;
  for (const std::string& c : counts)
    most = std::max(most, *reinterpret_cast<const uint64_t*>(c.data()));
  const bool weighted = dataset->schema().find_role(data::Role::kWeight) >= 0;
  const std::size_t row_bytes = sizeof(double) + 1 + (weighted ? sizeof(double) : 0);
  std::string bytes(most * row_bytes, '\0');
  std::memcpy(bytes.data(), mine.scores().data(), n * sizeof(double));
  std::memcpy(bytes.data() + most * sizeof(double), mine.labels().data(), n);
  if (weighted)
    std::memcpy(bytes.data() + most * (sizeof(double) + 1), mine.weights().data(),
                n * sizeof(double));
  const std::vector<std::string> all = group.all_gather(bytes);
  if (group.rank() != 0) return {};
  eval::BinaryAccumulator scored;
  for (std::size_t r = 0; r < all.size(); ++r) {
    const uint64_t count = *reinterpret_cast<const uint64_t*>(counts[r].data());
    const char* base = all[r].data();
    std::vector<double> scores(count), weights(weighted ? count : 0);
    std::vector<float> labels(count);
    std::memcpy(scores.data(), base, count * sizeof(double));
    for (uint64_t i = 0; i < count; ++i)
      labels[i] = static_cast<float>(static_cast<uint8_t>(base[most * sizeof(double) + i]));
    if (weighted)
      std::memcpy(weights.data(), base + most * (sizeof(double) + 1), count * sizeof(double));
    scored.add(scores.data(), labels.data(), weighted ? weights.data() : nullptr,
               static_cast<int64_t>(count), dataset->path());
  }
  eval::BinaryOptions bo;
  bo.threads = options.threads;
  const eval::BinaryMetrics m = scored.value(bo);
  return {m.rows, m.auroc, m.average_precision, m.log_loss, std::move(scored)};
}

}  // namespace kiln::trainer

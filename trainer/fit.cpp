#include "trainer/fit.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <deque>
#include <filesystem>
#include <random>
#include <sstream>

#include "core/build_info.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/signals.h"
#include "core/thread_pool.h"
#include "core/topology.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "eval/binary_metrics.h"
#include "kernels/transform.h"
#include "trainer/checkpoint.h"
#include "trainer/model_io.h"
#include "trainer/models.h"
#include "trainer/scoring.h"
#include "trainer/train_step.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#if KILN_WITH_CUDA
#include <c10/cuda/CUDAEvent.h>
#endif

namespace kiln::trainer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string new_run_id() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &tm);
  std::random_device random;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x", random() & 0xffffu);
  return std::string(text) + suffix;
}

// status.json: the run's state, rewritten atomically; a heartbeat at most every few seconds.
class Status {
 public:
  explicit Status(std::string path) : path_(std::move(path)) {}
  void write(const std::string& state, int64_t step, const std::string& reason = "",
             int exit_code = -1) {
    json s = {{"state", state},
              {"step", step},
              {"heartbeat", core::utc_timestamp()},
              {"pid", ::getpid()}};
    if (exit_code >= 0) s["exit_code"] = exit_code;
    if (!reason.empty()) s["reason"] = reason;
    core::atomic_write(path_, s.dump(1) + "\n");
    last_ = std::chrono::steady_clock::now();
  }
  void heartbeat(int64_t step) {
    if (std::chrono::steady_clock::now() - last_ > std::chrono::seconds(5)) write("running", step);
  }

 private:
  std::string path_;
  std::chrono::steady_clock::time_point last_;
};

std::string hex(const torch::Tensor& bytes) {
  static const char* digits = "0123456789abcdef";
  torch::Tensor b = bytes.contiguous();
  const auto* p = b.data_ptr<uint8_t>();
  std::string out;
  for (int64_t i = 0; i < b.numel(); ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

torch::Tensor unhex(const std::string& text, const std::string& where) {
  KILN_CHECK(text.size() % 2 == 0, DataError, where, ": odd-length RNG state");
  auto value = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw DataError(where + ": RNG state is not hexadecimal");
  };
  torch::Tensor out = torch::empty({static_cast<int64_t>(text.size() / 2)}, torch::kUInt8);
  auto* p = out.data_ptr<uint8_t>();
  for (std::size_t i = 0; i < text.size() / 2; ++i)
    p[i] = static_cast<uint8_t>(value(text[2 * i]) * 16 + value(text[2 * i + 1]));
  return out;
}

// GPU milliseconds of every kEvery-th step, from timing events on the step's stream: its
// wait for the batch's transform (with the transform's waits for window copies; the
// transform runs on a stream of its own beside the step before, so 0 when that hides it)
// and the step itself (with the loss kept on the device). Beside the wall time per step
// they say whether the GPU is busy or waits for the host. The sampled steps are the middle
// ones of kEvery, away from the first step after an evaluation (usually at a multiple of
// kEvery steps): an evaluation empties the GPU's queue, so the next step's events would
// time the host's launches too. A sample is added up once its events have completed, at
// the next sample or report, so few are pending (the batch copies' waits keep the host a
// few batches or loader windows ahead of the GPU at most). No-ops off the GPU.
class StepTimes {
 public:
  static constexpr int64_t kEvery = 16;

  explicit StepTimes(bool cuda) : cuda_(cuda) {}

  void before_transform(int64_t step) {
    sampling_ = cuda_ && step % kEvery == kEvery / 2;
#if KILN_WITH_CUDA
    if (sampling_) {
      add_completed();
      pending_.emplace_back();
      pending_.back().start.record();
    }
#endif
  }
  void before_step() {
#if KILN_WITH_CUDA
    if (sampling_) pending_.back().transformed.record();
#endif
  }
  void after_step() {
#if KILN_WITH_CUDA
    if (sampling_) pending_.back().stepped.record();
#endif
  }

  // gpu_transform_ms and gpu_step_ms into `line`: the means over the samples completed since
  // the last call.
  void report(nlohmann::ordered_json& line) {
#if KILN_WITH_CUDA
    add_completed();
#endif
    if (count_ == 0) return;
    line["gpu_transform_ms"] = transform_ms_ / static_cast<double>(count_);
    line["gpu_step_ms"] = step_ms_ / static_cast<double>(count_);
    transform_ms_ = step_ms_ = 0;
    count_ = 0;
  }

 private:
  bool cuda_, sampling_ = false;
  double transform_ms_ = 0, step_ms_ = 0;
  int64_t count_ = 0;
#if KILN_WITH_CUDA
  struct Sample {
    c10::cuda::CUDAEvent start{cudaEventDefault}, transformed{cudaEventDefault},
        stepped{cudaEventDefault};
  };
  std::deque<Sample> pending_;

  void add_completed() {
    while (!pending_.empty() && pending_.front().stepped.query()) {
      Sample& s = pending_.front();
      transform_ms_ += s.start.elapsed_time(s.transformed);
      step_ms_ += s.transformed.elapsed_time(s.stepped);
      ++count_;
      pending_.pop_front();
    }
  }
#endif
};

// The losses of steps not read back yet. Reading a loss from a GPU waits for its step, so on
// CUDA they stay on the device: the fused step keeps them in its loss ring itself
// (TrainStep::loss_ring), other steps' losses (SGD) are copied into a window here. When a
// window of kCudaWindow steps is full, its losses are copied to the host asynchronously, on
// the step's stream, and read at the next full window, which leaves the GPU's queue as it is;
// before every evaluation, checkpoint and stop every loss is read, waiting for the GPU. On
// the CPU each is read after its step.
class LossWindow {
 public:
  static constexpr int64_t kCudaWindow = TrainStep::kLossRing;
  struct Sum {
    double sum = 0;
    int64_t count = 0;
    double last = NAN;
  };

  // `ring`: the stepper's loss ring, or undefined.
  LossWindow(torch::Device device, const torch::Tensor& ring)
      : cuda_(device.is_cuda()),
        ring_(ring),
        losses_(ring.defined()
                    ? torch::Tensor()
                    : torch::empty({cuda_ ? kCudaWindow : 1},
                                   torch::TensorOptions().dtype(torch::kFloat32).device(device))) {
#if KILN_WITH_CUDA
    if (cuda_) copied_ = torch::empty({kCudaWindow}, torch::TensorOptions().pinned_memory(true));
#endif
  }

  // The loss of step `step` (1-based); true when the window is full: call read(false).
  bool add(const torch::Tensor& loss, int64_t step) {
    if (count_ == 0) first_step_ = step;
    if (!ring_.defined()) losses_.select(0, count_).copy_(loss.detach());
    return ++count_ == source().size(0);  // steps per window
  }

  // Seconds read() waited for the device to finish the steps it read: on a GPU, how far
  // the loop ran ahead of it (none: the GPU waited for the loop).
  double wait_seconds() const {
    return wait_seconds_;
  }

  // The losses read back, emptied: with `all`, every step's so far; else, on a GPU, those
  // of the window before the full one, whose copy is started. DivergedError naming the
  // first step whose loss is not finite.
  Sum read(bool all) {
    Sum out;
    const auto start = std::chrono::steady_clock::now();
#if KILN_WITH_CUDA
    if (copying_ > 0) {  // the previous full window's copy
      copy_done_.synchronize();
      add_up(copied_.data_ptr<float>(), copy_first_, copying_, out);
      copying_ = 0;
    }
    if (cuda_ && !all && count_ > 0) {
      copied_.copy_(source(), /*non_blocking=*/true);
      copy_done_.record();
      copy_first_ = first_step_;
      copying_ = count_;
      count_ = 0;
    }
#else
    (void)all;  // without CUDA every loss is read at once
#endif
    if (count_ > 0) {
      const torch::Tensor host = source().to(torch::kCPU);
      add_up(host.data_ptr<float>(), first_step_, count_, out);
      count_ = 0;
    }
    wait_seconds_ += seconds_since(start);
    return out;
  }

 private:
  const torch::Tensor& source() const {
    return ring_.defined() ? ring_ : losses_;
  }

  // Adds the losses of steps [first, first + count) in `values` (a copy of source()) to `out`.
  void add_up(const float* values, int64_t first, int64_t count, Sum& out) const {
    auto value = [&](int64_t i) {  // of step first + i (1-based); the ring's is 0-based
      return ring_.defined() ? values[(first - 1 + i) % kCudaWindow] : values[i];
    };
    for (int64_t i = 0; i < count; ++i) {
      KILN_CHECK(std::isfinite(value(i)), DivergedError, "training diverged: the loss is ",
                 value(i), " at step ", first + i, " (try a lower optim.lr or optim.grad_clip)");
      out.sum += value(i);
    }
    out.count += count;
    out.last = value(count - 1);
  }

  bool cuda_;
  torch::Tensor ring_, losses_;
  int64_t count_ = 0;
  int64_t first_step_ = 0;
  double wait_seconds_ = 0;
#if KILN_WITH_CUDA
  // A full window's losses on their way to the host (pinned): copying_ steps from
  // copy_first_, there once copy_done_ has completed.
  torch::Tensor copied_;
  int64_t copying_ = 0;
  int64_t copy_first_ = 0;
  c10::cuda::CUDAEvent copy_done_{cudaEventDisableTiming};
#endif
};
static_assert(LossWindow::kCudaWindow % StepTimes::kEvery == 0, "StepTimes samples between reads");

// train.profile_steps: PyTorch's profiler (Kineto) over that many steps after the first
// evaluation, so past the warm-up and the graph capture: the host's operators and, on a GPU,
// every kernel, copy and memset with its stream and GPU timestamps (graph replays included,
// kernel by kernel), written to `path` (Chrome trace format). A profiler that cannot start
// or save is a warning, not a failed run. Each call returns the seconds it spent starting or
// saving the profiler, which are not training time.
class StepTrace {
 public:
  StepTrace(int64_t steps, bool cuda, std::string path)
      : left_(steps), cuda_(cuda), path_(std::move(path)) {}

  double after_evaluation(int64_t step) {
    if (left_ <= 0 || on_) return 0;
    const auto start = std::chrono::steady_clock::now();
    namespace prof = torch::autograd::profiler;
    using torch::profiler::impl::ActivityType;
    std::set<ActivityType> activities{ActivityType::CPU};
    if (cuda_) {
      activities.insert(ActivityType::CUDA);
#if defined(CUDART_VERSION) && CUDART_VERSION >= 12060
      // CUPTI torn down after the trace: left in place, it slows every later launch. (With
      // CUDA graphs the teardown crashed before CUDA 12.6.)
      ::setenv("TEARDOWN_CUPTI", "1", 0);
#endif
    } else {  // Kineto would log an error for the GPU it looks for and does not find
      ::setenv("KINETO_LOG_LEVEL", "5", 0);
    }
    try {
      const torch::profiler::impl::ProfilerConfig config(
          torch::profiler::impl::ProfilerState::KINETO);
      prof::prepareProfiler(config, activities);
      prof::enableProfiler(config, activities);
      on_ = true;
      core::log_info(
          detail::concat("tracing steps ", step + 1, " to ", step + left_, " into ", path_));
    } catch (const std::exception& e) {
      left_ = 0;
      core::log_warn(std::string("train.profile_steps: the profiler did not start: ") + e.what());
    }
    return seconds_since(start);
  }

  // After each step; writes the trace after the last.
  double after_step() {
    return on_ && --left_ == 0 ? finish() : 0;
  }

  // Writes a trace still running (a run that ends before its last traced step).
  double finish() {
    if (!on_) return 0;
    on_ = false;
    left_ = 0;
    const auto start = std::chrono::steady_clock::now();
    try {
      const std::string partial = path_ + ".tmp";
      torch::autograd::profiler::disableProfiler()->save(partial);
      fs::rename(partial, path_);
    } catch (const std::exception& e) {
      core::log_warn(std::string("train.profile_steps: the trace was not written: ") + e.what());
    }
    return seconds_since(start);
  }

 private:
  int64_t left_;
  bool cuda_, on_ = false;
  std::string path_;
};

double metric_of(const eval::BinaryMetrics& m, const std::string& name) {
  if (name == "auroc") return m.auroc;
  if (name == "ap") return m.average_precision;
  return m.log_loss;
}

bool better(const std::string& metric, double value, double best) {
  return metric == "log_loss" ? value < best : value > best;
}

// pos_weight as configured, or from the train split's label counts (auto; DataError naming
// the row where a label is not 0 or 1).
double positive_weight(const TrainOptions& options,
                       const std::shared_ptr<const data::Dataset>& train) {
  if (options.pos_weight == "none") return 1.0;
  if (options.pos_weight != "auto") return std::stod(options.pos_weight);
  const int label = train->schema().find_role(data::Role::kLabel);
  data::LoaderOptions lo;
  lo.shuffle = false;
  lo.batch_size = 1 << 16;
  data::Loader loader({train}, lo);
  double positives = 0, rows = 0;
  while (const data::Batch* b = loader.next()) {
    const float* y = b->column<float>(static_cast<std::size_t>(label));
    for (int64_t r = 0; r < b->rows; ++r) {
      KILN_CHECK(y[r] == 0 || y[r] == 1, DataError, train->path(), ": label '",
                 train->schema().columns[static_cast<std::size_t>(label)].name, "' is ", y[r],
                 " at row ", static_cast<int64_t>(rows) + r, "; binary labels must be 0 or 1");
      positives += y[r];
    }
    rows += static_cast<double>(b->rows);
  }
  KILN_CHECK(positives > 0 && positives < rows, DataError, train->path(),
             ": the label has only one class; a classifier cannot be trained");
  return positives < 0.1 * rows ? (rows - positives) / positives : 1.0;
}

struct Resumed {
  VerifiedCheckpoint checkpoint;
  CheckpointState state;
};

// The checkpoint to resume from: for "auto" the newest that verifies in `run_dir`, else the
// checkpoint or run `resume` names; nullopt to start afresh.
std::optional<Resumed> find_resume(const std::string& resume, const std::string& run_dir) {
  if (resume.empty()) return std::nullopt;
  std::optional<VerifiedCheckpoint> found;
  if (resume == "auto") {
    std::vector<std::string> skipped;
    found = newest_good_checkpoint((fs::path(run_dir) / "checkpoints").string(), &skipped);
    for (const auto& s : skipped)
      core::log_warn("resume: skipping a checkpoint that does not verify: " + s);
    if (!found) return std::nullopt;
  } else {
    found = verify_checkpoint(resume);
  }
  return Resumed{*found, read_checkpoint_state(found->path)};
}

// Keeps the lines of metrics.jsonl up to `step`, where a run starts: later ones were
// written by a run that stopped before its next checkpoint, and this run writes those
// steps again. Rewritten (atomically) only where a line goes.
void keep_metrics_until(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::istringstream in(core::read_file(path, "metrics"));
  std::string kept;
  bool dropped = false;
  for (std::string line; std::getline(in, line);) {
    const json record = json::parse(line, nullptr, false);
    const bool keep = record.is_object() && record.contains("step") &&
                      record["step"].is_number_integer() && record["step"].get<int64_t>() <= step;
    if (keep) kept += line + "\n";
    dropped = dropped || !keep;
  }
  if (dropped) core::atomic_write(path, kept);
}

}  // namespace

double learning_rate(const OptimOptions& o, int64_t step, int64_t steps) {
  return kernels::scheduled_lr(lr_schedule(o, steps), step);
}

FitResult fit(const KilnConfig& config, const FitArgs& args) {
  const DataOptions& d = config.data;
  const TrainOptions& t = config.train;
  KILN_CHECK(!d.train.empty(), ConfigError, "data.train: no training dataset given");
  KILN_CHECK(!d.valid.empty(), ConfigError, "data.valid: no validation dataset given");

  // The run directory: the resumed checkpoint's run, or <dir>/<experiment>/<name>.
  std::string run_dir = (fs::path(config.run.dir) / config.run.experiment /
                         (config.run.name.empty() ? new_run_id() : config.run.name))
                            .string();
  std::optional<Resumed> resumed = find_resume(args.resume, run_dir);
  if (resumed && args.resume != "auto")  // continue in the named checkpoint's run
    run_dir = fs::path(resumed->checkpoint.path).parent_path().parent_path().string();
  const std::string checkpoints = (fs::path(run_dir) / "checkpoints").string();
  // A fresh start does not write over another run's checkpoints (--resume auto starts
  // afresh only where none of them verifies).
  KILN_CHECK(resumed || args.resume == "auto" || list_checkpoints(checkpoints).empty(), OutputError,
             "run directory '", run_dir,
             "' already holds a run's checkpoints; continue it with --resume auto, or choose "
             "another run.name");
  if (resumed) remove_leftovers(checkpoints);  // a resumed run may have nothing left to save
  std::error_code error;
  fs::create_directories(fs::path(run_dir) / "reports", error);
  KILN_CHECK(!error, OutputError, "cannot create run directory '", run_dir, "': ", error.message());
  Status status((fs::path(run_dir) / "status.json").string());
  int64_t step = resumed ? resumed->state.integer("step", 0, t.steps) : 0;
  const int64_t stop = t.stop_at > 0 ? t.stop_at : t.steps;
  status.write("running", step);

  try {
    torch::manual_seed(static_cast<uint64_t>(config.run.seed));
    const torch::Device device = choose_device(t.device);
    if (config.run.deterministic) {
      at::globalContext().setDeterministicAlgorithms(true, false);
      // cuBLAS is deterministic only with a fixed workspace, set before its first use. On
      // the CPU, multi-threaded GEMMs (MKL) now and then sum in another order when the
      // machine is loaded (docs/TRAINING.md, Determinism): one intra-op thread.
      if (device.is_cuda())
        ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
      else
        at::set_num_threads(1);
    }
    auto train = data::Dataset::open(d.train);
    auto valid = data::Dataset::open(d.valid);
    data::check_same_codes(*train, *valid);
    KILN_CHECK(train->schema().find_role(data::Role::kLabel) >= 0, DataError, d.train,
               ": no label column");
    if (resumed) {
      const std::string trained_on = resumed->checkpoint.manifest.value("data_fingerprint", "");
      KILN_CHECK(trained_on == train->fingerprint(), ConfigError, "data.train: ", d.train,
                 " is not the data ", resumed->checkpoint.path, " was trained on (fingerprint ",
                 trained_on.substr(0, 12), ", this data ", train->fingerprint().substr(0, 12),
                 "); a resumed run continues on the same data");
    }

    // The transform plan: the checkpoint's on resume, else fitted on the train split.
    kernels::FittedPlan plan =
        resumed ? kernels::FittedPlan::read(
                      (fs::path(resumed->checkpoint.path) / "transform.json").string())
                : kernels::fit_transform(*train, config.transform);
    const std::string plan_text = plan.to_json().dump(1) + "\n";
    const kernels::CompiledPlan compiled = kernels::compile(plan, train->schema(), train->path());
    // The validation split is bound by column name: its columns may be in another order.
    const kernels::CompiledPlan valid_compiled =
        kernels::compile(plan, valid->schema(), valid->path());
    const double pos_weight = resumed ? resumed->state.pos_weight : positive_weight(t, train);
    auto model = make_model(config.model, model_input(plan));
    model->to(device);
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    const bool adamw = config.optim.name == "adamw";
    if (adamw) {
      optimizer = std::make_unique<torch::optim::AdamW>(
          model->parameters(), torch::optim::AdamWOptions(config.optim.lr)
                                   .betas({config.optim.beta1, config.optim.beta2})
                                   .eps(config.optim.eps)
                                   .weight_decay(config.optim.weight_decay));
    } else {
      optimizer = std::make_unique<torch::optim::SGD>(model->parameters(),
                                                      torch::optim::SGDOptions(config.optim.lr)
                                                          .momentum(config.optim.momentum)
                                                          .weight_decay(config.optim.weight_decay));
    }

    // Early-stopping state, the loader's cursor and the RNG: restored on resume.
    double best_value = config.train.metric == "log_loss" ? INFINITY : -INFINITY;
    int64_t best_step = -1, evals_without_gain = 0;
    std::string parent;
    data::LoaderCursor cursor;
    if (resumed) {
      const CheckpointState& s = resumed->state;
      load_model(*model, (fs::path(resumed->checkpoint.path) / "model.safetensors").string());
      load_optimizer(*model, *optimizer,
                     (fs::path(resumed->checkpoint.path) / "optimizer.safetensors").string(),
                     s.json.value("optimizer_steps", nlohmann::json::object()), adamw);
      if (s.json.contains("best_value") && s.json["best_value"].is_number())
        best_value = s.json["best_value"].get<double>();
      best_step = s.integer("best_step", -1, step);
      evals_without_gain = s.integer("evals_without_gain", 0, step);
      cursor.epoch = s.integer("epoch", 0, step);
      cursor.batch = s.integer("batch", 0, step);
      if (s.json.contains("rng_cpu") && s.json["rng_cpu"].is_string()) {
        at::Generator cpu = torch::globalContext().defaultGenerator(torch::kCPU);  // shares it
        try {
          cpu.set_state(unhex(s.json["rng_cpu"].get<std::string>(), s.path));
        } catch (const c10::Error&) {
          throw DataError(s.path + ": rng_cpu is not a CPU generator state");
        }
      }
      parent = fs::path(resumed->checkpoint.path).filename().string();
      core::log_info(detail::concat("resuming ", resumed->checkpoint.path, " at step ", step));
    }

    core::atomic_write((fs::path(run_dir) / "config.resolved.yaml").string(), args.resolved_yaml);
    json run = {
        {"argv", args.argv},
        {"kiln_version", core::build_info().version},
        {"git_revision", core::build_info().git_revision},
        {"torch_version", TORCH_VERSION},
        {"device", device.str()},
        {"host", core::host_name()},
        {"started", core::utc_timestamp()},
        {"train",
         {{"path", d.train}, {"rows", train->rows()}, {"fingerprint", train->fingerprint()}}},
        {"valid",
         {{"path", d.valid}, {"rows", valid->rows()}, {"fingerprint", valid->fingerprint()}}},
        {"pos_weight", pos_weight},
        {"parameters", [&] {
           int64_t n = 0;
           for (const auto& p : model->parameters())
             n += p.numel();
           return n;
         }()}};
    if (resumed) run["resumed_from"] = resumed->checkpoint.path;
    core::atomic_write((fs::path(run_dir) / "run.json").string(), run.dump(1) + "\n");

    const int weight = train->schema().find_role(data::Role::kWeight);
    TrainStep stepper(*model, *optimizer, config, device, d.batch_size, compiled.width(),
                      compiled.categorical_width(), weight >= 0, pos_weight, step);
    core::ThreadPool pool(d.threads);
    BatchTransformer transformer(compiled, train->schema(), device, &pool, d.batch_size,
                                 &stepper.buffers());
    data::LoaderOptions lo;
    lo.batch_size = d.batch_size;
    lo.shuffle_window = d.shuffle_window;
    lo.seed = static_cast<uint64_t>(config.run.seed);
    lo.threads = d.threads;
    transformer.prepare(lo, d.device_shuffle);
    data::Loader loader({train}, lo);
    loader.seek(cursor);
    ScoringOptions scoring{d.eval_batch_size, d.threads, std::log(pos_weight)};

    keep_metrics_until((fs::path(run_dir) / "metrics.jsonl").string(), step);
    core::JsonLinesWriter metrics((fs::path(run_dir) / "metrics.jsonl").string());
    core::StopSignals signals({SIGTERM, SIGUSR1});
    core::ProgressBar bar("fit", stop);
    auto start = std::chrono::steady_clock::now();
    double outside_training = 0;  // seconds in evaluations and checkpoints
    int64_t rows_seen = 0;
    LossWindow losses(device, stepper.loss_ring());
    StepTimes step_times(device.is_cuda());
    StepTrace trace(t.profile_steps, device.is_cuda(),
                    (fs::path(run_dir) / "reports" / "trace.json").string());
    double loss_sum = 0, last_loss = NAN;
    int64_t loss_count = 0;
    auto read_losses = [&](bool all) {
      const LossWindow::Sum sum = losses.read(all);
      loss_sum += sum.sum;
      loss_count += sum.count;
      if (sum.count > 0) last_loss = sum.last;
    };
    FitResult result;
    result.run_dir = run_dir;

    int64_t saved_step = -1;
    auto save = [&](const json& metrics_now, bool is_best) {
      nlohmann::ordered_json state = {
          {"step", step},
          {"epoch", loader.cursor().epoch},
          {"batch", loader.cursor().batch},
          {"pos_weight", pos_weight},
          {"best_value", std::isfinite(best_value) ? json(best_value) : json(nullptr)},
          {"best_step", best_step},
          {"evals_without_gain", evals_without_gain},
          {"lr", learning_rate(config.optim, step, t.steps)},
          {"rng_cpu", hex(torch::globalContext().defaultGenerator(torch::kCPU).get_state())}};
      json optimizer_steps = json::object();
      stepper.sync_optimizer_state();
      CheckpointContents c;
      c.step = step;
      c.files["model.safetensors"] = model_file(*model);
      c.files["optimizer.safetensors"] = optimizer_file(*model, *optimizer, optimizer_steps);
      state["optimizer_steps"] = optimizer_steps;
      c.files["state.json"] = state.dump(1) + "\n";
      c.files["transform.json"] = plan_text;
      c.files["config.yaml"] = args.resolved_yaml;
      c.metrics = metrics_now;
      c.data_fingerprint = train->fingerprint();
      c.parent = parent;
      std::string path = write_checkpoint(checkpoints, c, is_best);
      parent = fs::path(path).filename().string();
      saved_step = step;
      apply_retention(checkpoints, t.keep_last);
      return path;
    };

    while (step < stop) {
      const data::Batch* batch = loader.next();
      if (batch == nullptr) continue;  // end of an epoch; the next call starts the next one
      model->train();
      step_times.before_transform(step);
      const ModelBatch inputs = transformer.apply(*batch);
      step_times.before_step();
      torch::Tensor loss = stepper.run(inputs, step);
      ++step;
      rows_seen += batch->rows;
      const bool window_full = losses.add(loss, step);
      step_times.after_step();
      outside_training += trace.after_step();
      if (window_full) read_losses(false);
      const double train_s = seconds_since(start) - outside_training;
      char progress[64];
      std::snprintf(progress, sizeof progress, "loss %.4f %.0f rows/s", last_loss,
                    static_cast<double>(rows_seen) / train_s);
      bar.update(step, progress);
      status.heartbeat(step);

      if (step % t.eval_every == 0 || step == stop) {
        read_losses(true);
        const auto eval_start = std::chrono::steady_clock::now();
        const double elapsed = std::chrono::duration<double>(eval_start - start).count();
        const double train_s = elapsed - outside_training;
        eval::BinaryMetrics m = score_and_measure(*model, valid_compiled, valid, device, scoring);
        const double value = metric_of(m, t.metric);
        const bool is_best = better(t.metric, value, best_value);
        if (is_best) {
          best_value = value;
          best_step = step;
          evals_without_gain = 0;
        } else {
          ++evals_without_gain;
        }
        json line = {{"step", step},
                     {"epoch", loader.cursor().epoch},
                     {"train/loss", loss_sum / static_cast<double>(loss_count)},
                     {"lr", learning_rate(config.optim, step - 1, t.steps)},
                     {"val/auroc", m.auroc},
                     {"val/ap", m.average_precision},
                     {"val/log_loss", m.log_loss},
                     {"rows_per_s", static_cast<double>(rows_seen) / train_s},
                     {"data_wait_s", loader.wait_seconds()},
                     {"train_s", train_s},
                     {"elapsed_s", elapsed}};
        if (device.is_cuda()) {
          line["copy_wait_s"] = transformer.copy_wait_seconds();
          line["gpu_wait_s"] = losses.wait_seconds();
        }
        step_times.report(line);
        metrics.write(line);
        loss_sum = 0;
        loss_count = 0;
        save(line, is_best);
        outside_training += seconds_since(eval_start);
        if (step < stop) outside_training += trace.after_evaluation(step);
        if (t.patience > 0 && evals_without_gain >= t.patience) {
          result.stopped_early = true;
          core::log_info(detail::concat("early stopping at step ", step, ": val/", t.metric,
                                        " has not improved for ", evals_without_gain,
                                        " evaluations"));
          break;
        }
      }
      if (int signal = signals.received(); signal != 0 && step < stop) {
        read_losses(true);
        trace.finish();
        bar.finish();
        const std::string path = saved_step == step
                                     ? (fs::path(checkpoints) / checkpoint_name(step)).string()
                                     : save(json::object(), false);
        const std::string reason =
            detail::concat("stopped by signal ", signal, " at step ", step, "; checkpoint ", path);
        status.write("preempted", step, reason, static_cast<int>(ExitCode::kPreempted));
        throw PreemptedError(reason + " (resume with --resume auto)");
      }
    }
    read_losses(true);
    trace.finish();
    bar.finish();

    result.steps = step;
    result.best_step = best_step;
    result.best_value = best_value;
    result.best_checkpoint = read_pointer(checkpoints, "best").value_or("");
    result.result = {{"objective",
                      {{"name", "val/" + t.metric},
                       {"value", best_value},
                       {"direction", t.metric == "log_loss" ? "min" : "max"}}},
                     {"best_step", best_step},
                     {"steps", step},
                     {"stopped_early", result.stopped_early},
                     {"checkpoint", result.best_checkpoint},
                     {"latest", read_pointer(checkpoints, "latest").value_or("")},
                     {"model", config.model.type},
                     {"finished", core::utc_timestamp()}};
    core::atomic_write((fs::path(run_dir) / "result.json").string(), result.result.dump(1) + "\n");
    status.write("done", step, "", 0);
    return result;
  } catch (const PreemptedError&) {
    throw;
  } catch (const Error& e) {
    status.write("failed", step, e.what(), e.exit_code());
    throw;
  } catch (const std::exception& e) {
    status.write("failed", step, e.what(), 1);
    throw;
  }
}

}  // namespace kiln::trainer

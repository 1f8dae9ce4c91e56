#include "trainer/fit.h"

#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <future>

#include "core/build_info.h"
#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/signals.h"
#include "core/topology.h"
#include "data/dataset.h"
#include "data/profile.h"
#include "data/stats.h"
#include "eval/performance_estimate.h"
#include "trainer/auto_config.h"
#include "trainer/device.h"
#include "trainer/model_io.h"
#include "trainer/models.h"
#include "trainer/run_dir.h"
#include "trainer/scoring.h"
#include "trainer/step_telemetry.h"
#include "trainer/torch_feed.h"
#include "trainer/train_step.h"
#include "trainer/training_state.h"
#include "transform/plan.h"

namespace kiln::trainer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

double metric_of(const ValidationMetrics& m, Metric metric) {
  switch (metric) {
    case Metric::kAuroc:
      return m.auroc;
    case Metric::kAp:
      return m.average_precision;
    case Metric::kLogLoss:
      break;
  }
  return m.log_loss;
}

// The validation split's labels: both classes, or no validation metric is defined (DataError
// naming the split before any step is trained).
void check_both_classes(const std::shared_ptr<const data::Dataset>& valid) {
  const data::LabelCounts counts = data::count_labels(valid);
  KILN_CHECK(counts.positives > 0 && counts.positives < counts.rows, DataError,
             "data.valid: ", valid->path(), " has ",
             counts.positives == 0 ? "no positive labels" : "no negative labels", " in its ",
             counts.rows, " rows; AUROC and average precision need both classes");
}

// pos_weight as configured, or from the train split's label counts (auto; DataError naming
// the row where a label is not 0 or 1).
double positive_weight(const TrainOptions& options,
                       const std::shared_ptr<const data::Dataset>& train) {
  if (options.pos_weight == "none") return 1.0;
  if (options.pos_weight != "auto") return std::stod(options.pos_weight);
  const data::LabelCounts counts = data::count_labels(train);
  const auto positives = static_cast<double>(counts.positives);
  const auto rows = static_cast<double>(counts.rows);
  KILN_CHECK(positives > 0 && positives < rows, DataError, train->path(),
             ": the label has only one class; a classifier cannot be trained");
  return positives < 0.1 * rows ? (rows - positives) / positives : 1.0;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimOptions& o,
                                                        TabularModelImpl& model) {
  if (o.name == OptimizerName::kSgd)
    return std::make_unique<torch::optim::SGD>(
        model.parameters(),
        torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay.get()));
  return std::make_unique<torch::optim::AdamW>(model.parameters(),
                                               torch::optim::AdamWOptions(o.lr)
                                                   .betas({o.beta1, o.beta2})
                                                   .eps(o.eps)
                                                   .weight_decay(o.weight_decay.get()));
}

// The device, seeded and set up for run.deterministic.
torch::Device prepare_device(const KilnConfig& config) {
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));
  const torch::Device device = choose_device(config.train.device);
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
  return device;
}

// One `kiln fit` run, from its datasets to its last checkpoint: the model, its optimizer,
// the feed and the step, and the loop with its evaluations, checkpoints and stops. `state`
// (the caller's) is where the run stands at every moment, and what each checkpoint saves.
class Trainer {
 public:
  // `config` is resolved (no `auto` left; `yaml` is it as config.resolved.yaml, `choices` the
  // autos it chose); `train` is config.data.train, open.
  Trainer(const KilnConfig& config, const FitArgs& args, RunDirectory& run, TrainingState& state,
          std::shared_ptr<const data::Dataset> train, std::string yaml,
          std::vector<AutoChoice> choices)
      : config_(config),
        t_(config.train),
        args_(args),
        run_(run),
        state_(state),
        yaml_(std::move(yaml)),
        choices_(std::move(choices)),
        stop_(t_.stop_at > 0 ? t_.stop_at : t_.steps.get()),
        device_(prepare_device(config)),
        train_(std::move(train)),
        valid_(data::Dataset::open(config.data.valid)) {
    data::check_same_codes(*train_, *valid_);
    KILN_CHECK(train_->schema().find_role(data::Role::kLabel) >= 0, DataError, train_->path(),
               ": no label column");
    check_both_classes(valid_);
    const auto& resumed = run_.resumed();
    if (resumed) {
      const std::string trained_on = resumed->manifest.value("data_fingerprint", "");
      KILN_CHECK(trained_on == train_->fingerprint(), ConfigError,
                 "data.train: ", config.data.train, " is not the data ", resumed->path,
                 " was trained on (fingerprint ", trained_on.substr(0, 12), ", this data ",
                 train_->fingerprint().substr(0, 12),
                 "); a resumed run continues on the same data");
    }
    // The transform plan: the checkpoint's on resume, else fitted on the train split. The
    // validation split is bound by column name: its columns may be in another order.
    plan_ = resumed ? transform::FittedPlan::read(checkpoint_file("transform.json"))
                    : transform::fit_transform(*train_, config.transform);
    profile_ = train_profile();
    const kernels::CompiledPlan compiled =
        transform::compile(plan_, train_->schema(), train_->path());
    valid_plan_ = transform::compile(plan_, valid_->schema(), valid_->path());
    if (!resumed) state_.pos_weight = positive_weight(t_, train_);
    model_ = make_model(config.model, model_input(plan_));
    model_->to(device_);
    optimizer_ = make_optimizer(config.optim, *model_);
    if (resumed) restore();
    run_.write("config.resolved.yaml", yaml_);
    write_run_json();

    feed::FeedOptions fo;
    fo.batch_size = config.data.batch_size.get();
    fo.shuffle_window = config.data.shuffle_window;
    fo.seed = static_cast<uint64_t>(config.run.seed);
    fo.threads = config.data.threads;
    fo.device_shuffle = config.data.device_shuffle;
    feed_ = std::make_unique<TorchFeed>(std::vector{train_}, compiled, fo, device_);
    feed_->feed().seek(state_.cursor);
    stepper_ = TrainStep::make(*model_, *optimizer_, config, device_, state_.pos_weight,
                               state_.step, feed_->buffers());
    losses_.emplace(device_, stepper_->loss_ring());
    metrics_ = run_.metrics_from(state_.step);
  }

  FitResult train() {
    core::StopSignals signals({SIGTERM, SIGUSR1});
    core::ProgressBar bar("fit", stop_);
    start_ = std::chrono::steady_clock::now();
    FitResult result;
    while (state_.step < stop_) {
      step_times_.before_transform(state_.step);
      const ModelBatch* batch = feed_->next();
      if (batch == nullptr) continue;  // end of an epoch; the next call starts the next one
      model_->train();
      step_times_.before_step();
      torch::Tensor loss = stepper_->run(*batch, state_.step);
      rows_seen_ += batch->features.size(0);
      const bool window_full = losses_->add(loss, ++state_.step);
      step_times_.after_step();
      outside_training_ += trace_.after_step();
      if (window_full) read_losses(false);
      bar.update(state_.step, progress());
      run_.heartbeat(state_.step);
      if ((state_.step % t_.eval_every.get() == 0 || state_.step == stop_) && evaluate()) {
        result.stopped_early = true;
        break;
      }
      if (const int signal = signals.received(); signal != 0 && state_.step < stop_)
        preempt(signal, bar);
    }
    read_losses(true);
    trace_.finish();
    bar.finish();
    return finish(result);
  }

 private:
  // The train split's reference profile.json, for drift checks against any checkpoint: the
  // resumed checkpoint's (of the same data), else profiled beside the training loop.
  std::shared_future<std::string> train_profile() const {
    if (run_.resumed() && fs::exists(checkpoint_file("profile.json"))) {
      std::promise<std::string> text;
      text.set_value(core::read_file(checkpoint_file("profile.json"), "profile"));
      return text.get_future().share();
    }
    return std::async(
               std::launch::async,
               [train = train_] { return data::profile_dataset(*train).to_json().dump(1) + "\n"; })
        .share();
  }

  std::string checkpoint_file(const char* name) const {
    return (fs::path(run_.resumed()->path) / name).string();
  }

  // The model, optimizer and CPU generator of the checkpoint resumed from.
  void restore() {
    load_model(*model_, checkpoint_file("model.safetensors"));
    load_optimizer(*model_, *optimizer_, checkpoint_file("optimizer.safetensors"),
                   state_.optimizer_steps, config_.optim.name == OptimizerName::kAdamW);
    if (!state_.rng_cpu.empty()) {
      torch::Tensor bytes =
          torch::empty({static_cast<int64_t>(state_.rng_cpu.size())}, torch::kUInt8);
      std::memcpy(bytes.data_ptr<uint8_t>(), state_.rng_cpu.data(), state_.rng_cpu.size());
      at::Generator cpu = torch::globalContext().defaultGenerator(torch::kCPU);  // shares it
      try {
        cpu.set_state(bytes);
      } catch (const c10::Error&) {
        throw DataError(checkpoint_file("state.json") + ": rng_cpu is not a CPU generator state");
      }
    }
    parent_ = fs::path(run_.resumed()->path).filename().string();
    core::log_info(detail::concat("resuming ", run_.resumed()->path, " at step ", state_.step));
  }

  void write_run_json() const {
    int64_t parameters = 0;
    for (const auto& p : model_->parameters())
      parameters += p.numel();
    auto dataset = [](const std::string& path, const data::Dataset& d) {
      return json{{"path", path}, {"rows", d.rows()}, {"fingerprint", d.fingerprint()}};
    };
    json run = {{"argv", args_.argv},
                {"kiln_version", core::build_info().version},
                {"git_revision", core::build_info().git_revision},
                {"torch_version", TORCH_VERSION},
                {"device", device_.str()},
                {"host", core::host_name()},
                {"started", core::utc_timestamp()},
                {"train", dataset(config_.data.train, *train_)},
                {"valid", dataset(config_.data.valid, *valid_)},
                {"pos_weight", state_.pos_weight},
                {"parameters", parameters}};
    for (const AutoChoice& c : choices_)
      run["auto"][c.key] = {{"value", json::parse(c.value)}, {"why", c.why}};
    const ModelInput input = model_input(plan_);
    for (std::size_t c = 0; c < plan_.categoricals.size(); ++c)  // 0: one-hot
      run["embedding_widths"][plan_.categoricals[c].name] =
          embedding_width(config_.model, input.cardinality[c], input.rows);
    if (run_.resumed()) run["resumed_from"] = run_.resumed()->path;
    if (run_.resumed_version()) run["resumed_from_registry"] = run_.resumed_version()->to_json();
    run_.write("run.json", run.dump(1) + "\n");
  }

  double train_seconds() const { return seconds_since(start_) - outside_training_; }

  std::string progress() const {
    char text[64];
    std::snprintf(text, sizeof text, "loss %.4f %.0f rows/s", last_loss_,
                  static_cast<double>(rows_seen_) / train_seconds());
    return text;
  }

  void read_losses(bool all) {
    const LossWindow::Sum sum = losses_->read(all);
    loss_sum_ += sum.sum;
    loss_count_ += sum.count;
    if (sum.count > 0) last_loss_ = sum.last;
  }

  // The evaluation on the validation split and its checkpoint; true when early stopping
  // ends the run.
  bool evaluate() {
    read_losses(true);
    const auto eval_start = std::chrono::steady_clock::now();
    const double elapsed = seconds_since(start_), train_s = train_seconds();
    const ValidationMetrics m = validation_metrics(
        *model_, valid_plan_, valid_, device_,
        {config_.data.eval_batch_size, config_.data.threads, std::log(state_.pos_weight)});
    scores_ = eval::score_reference(m.scored).to_json().dump(1) + "\n";
    scores_step_ = state_.step;
    const double value = metric_of(m, t_.metric);
    const bool lower = lower_is_better(t_.metric);
    const double best = state_.best_value.value_or(lower ? INFINITY : -INFINITY);
    const bool is_best = lower ? value < best : value > best;
    if (is_best) {
      state_.best_value = value;
      state_.best_step = state_.step;
      state_.evals_without_gain = 0;
    } else {
      ++state_.evals_without_gain;
    }
    json line = {{"step", state_.step},
                 {"epoch", feed_->feed().cursor().epoch},
                 {"train/loss", loss_sum_ / static_cast<double>(loss_count_)},
                 {"lr", learning_rate(config_.optim, state_.step - 1, t_.steps.get())},
                 {"val/auroc", m.auroc},
                 {"val/ap", m.average_precision},
                 {"val/log_loss", m.log_loss},
                 {"rows_per_s", static_cast<double>(rows_seen_) / train_s},
                 {"data_wait_s", feed_->feed().data_wait_seconds()},
                 {"train_s", train_s},
                 {"elapsed_s", elapsed}};
    if (device_.is_cuda()) {
      line["copy_wait_s"] = feed_->feed().copy_wait_seconds();
      line["gpu_wait_s"] = losses_->wait_seconds();
    }
    step_times_.report(line);
    metrics_->write(line);
    loss_sum_ = 0;
    loss_count_ = 0;
    save(line, is_best);
    outside_training_ += seconds_since(eval_start);
    if (state_.step < stop_) outside_training_ += trace_.after_evaluation(state_.step);
    if (t_.patience.get() == 0 || state_.evals_without_gain < t_.patience.get()) return false;
    core::log_info(detail::concat("early stopping at step ", state_.step, ": val/",
                                  metric_name(t_.metric), " has not improved for ",
                                  state_.evals_without_gain, " evaluations"));
    return true;
  }

  // A checkpoint of where the run stands; `metrics` go into its manifest.
  std::string save(const json& metrics, bool best) {
    state_.cursor = feed_->feed().cursor();
    state_.lr = learning_rate(config_.optim, state_.step, t_.steps.get());
    const torch::Tensor rng = torch::globalContext().defaultGenerator(torch::kCPU).get_state();
    state_.rng_cpu.assign(reinterpret_cast<const char*>(rng.data_ptr<uint8_t>()),
                          static_cast<std::size_t>(rng.numel()));
    stepper_->sync_optimizer_state();
    core::CheckpointContents c;
    c.step = state_.step;
    c.files["model.safetensors"] = model_file(*model_);
    c.files["optimizer.safetensors"] = optimizer_file(*model_, *optimizer_, state_.optimizer_steps);
    c.files["state.json"] = state_.to_json_text();
    c.files["transform.json"] = plan_.to_json().dump(1) + "\n";
    c.files["config.yaml"] = yaml_;
    c.files["profile.json"] = profile_.get();
    if (scores_step_ == state_.step) c.files["scores.json"] = scores_;
    c.metrics = metrics;
    c.data_fingerprint = train_->fingerprint();
    c.parent = parent_;
    const std::string path = core::write_checkpoint(run_.checkpoints(), c, best);
    parent_ = fs::path(path).filename().string();
    saved_step_ = state_.step;
    core::apply_retention(run_.checkpoints(), t_.keep_last);
    return path;
  }

  // A signal's stop: a checkpoint at this step (the one just written, if any), status
  // "preempted", PreemptedError.
  [[noreturn]] void preempt(int signal, core::ProgressBar& bar) {
    read_losses(true);
    trace_.finish();
    bar.finish();
    const std::string path =
        saved_step_ == state_.step
            ? (fs::path(run_.checkpoints()) / core::checkpoint_name(state_.step)).string()
            : save(json::object(), false);
    const std::string reason = detail::concat("stopped by signal ", signal, " at step ",
                                              state_.step, "; checkpoint ", path);
    run_.status("preempted", state_.step, reason, static_cast<int>(ExitCode::kPreempted));
    throw PreemptedError(reason + " (resume with --resume auto)");
  }

  FitResult finish(FitResult result) {
    result.run_dir = run_.path();
    result.steps = state_.step;
    result.best_step = state_.best_step;
    result.best_value =
        state_.best_value.value_or(lower_is_better(t_.metric) ? INFINITY : -INFINITY);
    result.best_checkpoint = core::read_pointer(run_.checkpoints(), "best").value_or("");
    result.result = {{"objective",
                      {{"name", "val/" + metric_name(t_.metric)},
                       {"value", result.best_value},
                       {"direction", lower_is_better(t_.metric) ? "min" : "max"}}},
                     {"best_step", state_.best_step},
                     {"steps", state_.step},
                     {"stopped_early", result.stopped_early},
                     {"checkpoint", result.best_checkpoint},
                     {"latest", core::read_pointer(run_.checkpoints(), "latest").value_or("")},
                     {"model", std::string(core::enum_name(config_.model.type))},
                     {"finished", core::utc_timestamp()}};
    run_.write("result.json", result.result.dump(1) + "\n");
    return result;
  }

  const KilnConfig& config_;
  const TrainOptions& t_;
  const FitArgs& args_;
  RunDirectory& run_;
  TrainingState& state_;
  const std::string yaml_;
  const std::vector<AutoChoice> choices_;
  const int64_t stop_;  // the step this run stops at: train.stop_at, else train.steps
  const torch::Device device_;
  std::shared_ptr<const data::Dataset> train_, valid_;
  transform::FittedPlan plan_;
  kernels::CompiledPlan valid_plan_;
  std::shared_ptr<TabularModelImpl> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<TorchFeed> feed_;
  std::unique_ptr<TrainStep> stepper_;  // after the feed: its graphs read the feed's buffers
  std::optional<LossWindow> losses_;
  StepTimes step_times_{device_};
  StepTrace trace_{t_.profile_steps, device_.is_cuda(), run_.file("reports/trace.json")};
  std::unique_ptr<core::JsonLinesWriter> metrics_;
  std::shared_future<std::string> profile_;  // the train split's profile.json
  std::string scores_;                       // the last evaluation's scores.json
  int64_t scores_step_ = -1;                 // and its step
  std::string parent_;                       // the last checkpoint's name, the next one's parent
  int64_t saved_step_ = -1;
  std::chrono::steady_clock::time_point start_;
  double outside_training_ = 0;  // seconds in evaluations, checkpoints and the profiler
  int64_t rows_seen_ = 0;
  double loss_sum_ = 0, last_loss_ = NAN;
  int64_t loss_count_ = 0;
};

}  // namespace

double learning_rate(const OptimOptions& o, int64_t step, int64_t steps) {
  return kernels::scheduled_lr(lr_schedule(o, steps), step);
}

FitResult fit(const KilnConfig& given, const FitArgs& args) {
  KILN_CHECK(!given.data.train.empty(), ConfigError, "data.train: no training dataset given");
  KILN_CHECK(!given.data.valid.empty(), ConfigError, "data.valid: no validation dataset given");
  const registry::ModelSource from = args.resume == "auto"
                                         ? registry::ModelSource{args.resume, std::nullopt}
                                         : registry::resolve_model(args.resume, args.registry);
  RunDirectory run = RunDirectory::open(given.run, from.path, from.registry);
  TrainingState state;
  if (run.resumed()) state = TrainingState::read(run.resumed()->path);
  run.status("running", state.step);
  try {
    auto train = data::Dataset::open(given.data.train);
    KilnConfig config = given;
    const DataFacts facts = data_facts(*train);
    std::vector<AutoChoice> choices;
    if (run.resumed()) choices = adopt_run_autos(config, checkpoint_config(run.resumed()->path));
    for (AutoChoice& c : resolve_auto(config, facts))
      choices.push_back(std::move(c));
    KILN_CHECK(state.step <= config.train.steps.get(), DataError, run.resumed()->path,
               "/state.json: 'step' is ", state.step, ", outside [0, ", config.train.steps.get(),
               "] (train.steps)");
    Trainer trainer(config, args, run, state, train, resolved_yaml(config, choices, facts),
                    choices);
    FitResult result = trainer.train();
    run.status("done", state.step, "", 0);
    return result;
  } catch (const PreemptedError&) {
    throw;
  } catch (const Error& e) {
    run.status("failed", state.step, e.what(), e.exit_code());
    throw;
  } catch (const std::exception& e) {
    run.status("failed", state.step, e.what(), 1);
    throw;
  }
}

}  // namespace kiln::trainer

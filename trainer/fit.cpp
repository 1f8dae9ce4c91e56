#include "trainer/fit.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <future>

#include "core/build_info.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/signals.h"
#include "core/tfevents.h"
#include "core/thread_pool.h"
#include "core/topology.h"
#include "data/dataset.h"
#include "data/profile.h"
#include "data/stats.h"
#include "eval/performance_estimate.h"
#include "eval/run_report.h"
#include "registry/registry.h"
#include "trainer/auto_config.h"
#include "trainer/device.h"
#include "trainer/distributed.h"
#include "trainer/fine_tune.h"
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
    return std::make_unique<torch::optim::SGD>(model.parameters(),
                                               torch::optim::SGDOptions(o.lr.get())
                                                   .momentum(o.momentum)
                                                   .weight_decay(o.weight_decay.get()));
  return std::make_unique<torch::optim::AdamW>(model.parameters(),
                                               torch::optim::AdamWOptions(o.lr.get())
                                                   .betas({o.beta1, o.beta2})
                                                   .eps(o.eps)
                                                   .weight_decay(o.weight_decay.get()));
}

// The device, seeded and set up for run.deterministic. Rank r of a data-parallel job gets
// its host's GPU local_rank and the seed run.seed + r (each rank's own dropout; rank 0's
// initial weights go to every rank).
torch::Device prepare_device(const KilnConfig& config, const core::Topology& topology) {
  torch::manual_seed(static_cast<uint64_t>(config.run.seed + topology.rank));
  const torch::Device device = rank_device(choose_device(config.train.device), topology.local_rank);
  // LibTorch takes a thread per core of the machine (or of the affinity); under a container's
  // CPU limit, or beside other ranks on the same host, that is more threads than may run at
  // once, which OpenMP's spinning makes slow. A set OMP_NUM_THREADS decides instead.
  const char* omp = std::getenv("OMP_NUM_THREADS");
  const int share = std::max(1, core::usable_cores() / topology.local_world_size);
  if ((omp == nullptr || *omp == '\0') && share < at::get_num_threads()) at::set_num_threads(share);
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

// What a refit (train.refit) trains for: the run's best checkpoint, whose evaluation's
// metrics and validation scores the refit's checkpoint carries (it trains on the validation
// split, so nothing measures it; these estimate it).
struct Refit {
  std::string of;  // the best checkpoint of the run refitted
  json metrics;
  std::string scores;  // its scores.json, or ""
};

// One `kiln fit` run, from its datasets to its last checkpoint: the model, its optimizer,
// the feed and the step, and the loop with its evaluations, checkpoints and stops. `state`
// (the caller's) is where the run stands at every moment, and what each checkpoint saves.
class Trainer {
 public:
  // `config` is resolved (no `auto` left; `yaml` is it as config.resolved.yaml, `choices` the
  // autos it chose); `train` is config.data.train, open.
  // `device` is prepare_device()'s; `group` the job's process group (nullptr in one process).
  // With `refit` it trains on the train and validation splits together and, at its last
  // step, writes the best checkpoint with the refit's metrics instead of evaluating.
  Trainer(const KilnConfig& config, const FitArgs& args, RunDirectory& run, TrainingState& state,
          std::shared_ptr<const data::Dataset> train, std::string yaml,
          std::vector<AutoChoice> choices, torch::Device device, ProcessGroup* group,
          const Init* init, const Refit* refit = nullptr)
      : config_(config),
        t_(config.train),
        args_(args),
        run_(run),
        state_(state),
        yaml_(std::move(yaml)),
        choices_(std::move(choices)),
        stop_(t_.stop_at > 0 ? t_.stop_at : t_.steps.get()),
        device_(device),
        group_(group),
        leader_(group == nullptr || group->rank() == 0),
        init_(init),
        refit_(refit),
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
      const int world = group_ ? group_->world_size() : 1;
      KILN_CHECK(state_.world_size == world, ConfigError, resumed->path,
                 " was written by a job of ", state_.world_size, " process",
                 state_.world_size == 1 ? "" : "es", "; this job has ", world,
                 ". A run resumes at the world size it started with (its loader cursor counts "
                 "global batches of that many ranks): resume it with ",
                 state_.world_size, ", or fine-tune from it in a new run (--init ", resumed->path,
                 " with another run.name)");
    }
    // The transform plan: the checkpoint's on resume, --init's when fine-tuning (its weights
    // read features made by it), else fitted on the train split. The splits are bound by
    // column name: their columns may be in another order.
    plan_ = resumed ? transform::FittedPlan::read(checkpoint_file("transform.json"))
            : init_ ? init_->plan
                    : transform::fit_transform(*train_, config.transform);
    profile_ = train_profile();
    // Fine-tuning, the data's codes are checked against the strings of --init's data, which the
    // new model's dictionaries.json keeps too.
    const data::Dictionaries none;
    const data::Dictionaries& strings = init_ ? init_->dictionaries : none;
    const std::string model_dir = init_ ? init_->checkpoint : "";
    if (leader_) dictionaries_ = data::dictionaries_json({train_, valid_}, strings);
    const kernels::CompiledPlan compiled = transform::compile(plan_, *train_, strings, model_dir);
    valid_plan_ = transform::compile(plan_, *valid_, strings, model_dir);
    if (!resumed) state_.pos_weight = positive_weight(t_, train_);
    model_ = make_model(config.model, model_input(plan_));
    model_->to(device_);
    optimizer_ = make_optimizer(config.optim, *model_);
    if (resumed)
      restore();
    else if (init_) {
      load_model(*model_, init_->checkpoint + "/model.safetensors");
      parent_ = init_->checkpoint;
      if (leader_ && !refit_)
        core::log_info("fine-tuning " + init_->checkpoint +
                       ": its weights, transform plan and model.* keys, a new optimizer and "
                       "schedule");
    }
    if (group_) {
      group_->broadcast(model_->parameters());  // every rank starts from rank 0's weights
      sync_ = std::make_unique<GradientSync>(*group_, *model_,
                                             static_cast<int64_t>(t_.dist_bucket_mb * (1 << 20)));
      if (leader_)
        core::log_info(detail::concat("gradients all-reduced in ", sync_->buckets(), " bucket",
                                      sync_->buckets() == 1 ? "" : "s", " (train.dist_bucket_mb ",
                                      t_.dist_bucket_mb, ")"));
    }
    run_.write("config.resolved.yaml", yaml_);
    write_run_json();

    feed::FeedOptions fo;
    fo.batch_size = config.data.batch_size.get();
    fo.shuffle_window = config.data.shuffle_window;
    fo.seed = static_cast<uint64_t>(config.run.seed);
    fo.threads = config.data.threads;
    fo.device_shuffle = config.data.device_shuffle;
    if (group_) {
      fo.rank = group_->rank();
      fo.world_size = group_->world_size();
    }
    feed_ = std::make_unique<TorchFeed>(refit_ ? std::vector{train_, valid_} : std::vector{train_},
                                        compiled, fo, device_);
    feed_->feed().seek(state_.cursor);
    stepper_ = TrainStep::make(*model_, *optimizer_, config, device_, state_.pos_weight,
                               state_.step, feed_->buffers(), sync_.get());
    losses_.emplace(device_, stepper_->loss_ring());
    metrics_ = run_.metrics_from(state_.step);
    if (leader_ && config.log.tensorboard) {
      events_.emplace(core::TfEventsWriter::open(run_.path(), state_.step));
      last_point_ = state_.step;
    }
  }

  // `signals` (SIGTERM, SIGUSR1) stop it with a checkpoint.
  FitResult train(core::StopSignals& signals) {
    core::ProgressBar bar("fit", stop_);
    start_ = std::chrono::steady_clock::now();
    FitResult result;
    // A run that early stopping ended is over: resumed, it trains no further.
    result.stopped_early = t_.patience.get() > 0 && state_.evals_without_gain >= t_.patience.get();
    // A fine-tuning run's start is a candidate: evaluated and checkpointed at step 0, so that
    // its model is never worse on the validation split than the model it started from.
    if (init_ && !refit_ && state_.step == 0 && !run_.resumed()) evaluate();
    while (!result.stopped_early && state_.step < stop_) {
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
      run_.heartbeat(state_.step, last_loss_, static_cast<double>(rows_seen_) / train_seconds());
      if ((state_.step % t_.eval_every.get() == 0 || state_.step == stop_) && evaluate()) {
        result.stopped_early = true;
        break;
      }
      if (const int signal = stop_signal(signals); signal != 0 && state_.step < stop_)
        preempt(signal, bar);
    }
    read_losses(true);
    trace_.finish();
    bar.finish();
    return finish(result);
  }

 private:
  // Ranks check for a signal together every kAgreeEvery steps: SIGTERM to any rank stops every
  // rank at the same step. A collective: only at steps that every rank reaches.
  static constexpr int64_t kAgreeEvery = 16;

  // The signal that stops the run at this step, or 0; with several ranks, the signal any rank
  // received (SIGTERM where it was another rank).
  int stop_signal(core::StopSignals& signals) {
    const int signal = signals.received();
    if (!group_) return signal;
    if (state_.step % kAgreeEvery != 0) return 0;
    return group_->any(signal != 0) ? (signal != 0 ? signal : SIGTERM) : 0;
  }

  // The train split's reference profile.json, for drift checks against any checkpoint: the
  // resumed checkpoint's (of the same data), else profiled beside the training loop; "" on
  // the ranks that follow rank 0 (it writes the checkpoints).
  std::shared_future<std::string> train_profile() const {
    if (!leader_ || (run_.resumed() && fs::exists(checkpoint_file("profile.json")))) {
      std::promise<std::string> text;
      text.set_value(leader_ ? core::read_file(checkpoint_file("profile.json"), "profile") : "");
      return text.get_future().share();
    }
    return std::async(std::launch::async,
                      [train = train_] { return data::profile_dataset(*train).dump(); })
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
    const int rank = group_ ? group_->rank() : 0;
    const std::string& rng =
        rank == 0 ? state_.rng_cpu : state_.rng_cpu_ranks[static_cast<std::size_t>(rank - 1)];
    if (!rng.empty()) {
      torch::Tensor bytes = torch::empty({static_cast<int64_t>(rng.size())}, torch::kUInt8);
      std::memcpy(bytes.data_ptr<uint8_t>(), rng.data(), rng.size());
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
                {"cpu_threads", at::get_num_threads()},
                {"host", core::host_name()},
                {"started", core::utc_timestamp()},
                {"train", dataset(config_.data.train, *train_)},
                {"valid", dataset(config_.data.valid, *valid_)},
                {"pos_weight", state_.pos_weight},
                {"parameters", parameters}};
    if (group_) {
      run["world_size"] = group_->world_size();
      run["backend"] = group_->backend_name();
    }
    for (const AutoChoice& c : choices_)
      run["auto"][c.key] = {{"value", json::parse(c.value)}, {"why", c.why}};
    const ModelInput input = model_input(plan_);
    for (std::size_t c = 0; c < plan_.categoricals.size(); ++c)  // 0: one-hot
      run["embedding_widths"][plan_.categoricals[c].name] =
          embedding_width(config_.model, input.cardinality[c], input.rows);
    if (refit_)
      run["refit"] = {{"of", refit_->of},
                      {"steps", stop_},
                      {"rows", train_->rows() + valid_->rows()},
                      {"datasets", {config_.data.train, config_.data.valid}}};
    if (run_.resumed()) run["resumed_from"] = run_.resumed()->path;
    if (run_.resumed_version()) run["resumed_from_registry"] = run_.resumed_version()->to_json();
    if (init_) run["initialized_from"] = init_->record;
    run_.write("run.json", run.dump(1) + "\n");
  }

  double train_seconds() const { return seconds_since(start_) - outside_training_; }

  std::string progress() const {
    char text[64];
    std::snprintf(text, sizeof text, "loss %.4f %.0f rows/s", last_loss_,
                  static_cast<double>(rows_seen_) / train_seconds());
    return text;
  }

  // The losses read back (all of them, else those a full window has ready), into the
  // evaluation's window and the event file's train/loss and lr points: one at each multiple
  // of log.tensorboard_every (on a GPU, at the first read past it), and one at every full
  // read (evaluations, stops).
  void read_losses(bool all) {
    const LossWindow::Sum sum = losses_->read(all);
    loss_sum_ += sum.sum;
    loss_count_ += sum.count;
    if (sum.count > 0) last_loss_ = sum.last;
    if (!events_) return;
    point_sum_ += sum.sum;
    point_count_ += sum.count;
    const int64_t step = last_point_ + point_count_, every = config_.log.tensorboard_every;
    if (point_count_ == 0 || (!all && step / every == last_point_ / every)) return;
    events_->add(step, {{"train/loss", point_sum_ / static_cast<double>(point_count_)},
                        {"lr", learning_rate(config_.optim, step - 1, t_.steps.get())}});
    last_point_ = step;
    point_sum_ = 0;
    point_count_ = 0;
  }

  // The evaluation on the validation split and its checkpoint; true when early stopping
  // ends the run.
  // With several ranks every rank comes here at the same steps: each scores its share of
  // the validation split (on the weights all ranks share), rank 0 computes the metrics from
  // every rank's scores and decides, the others take part in the checkpoint and learn the
  // decision.
  bool evaluate() {
    read_losses(true);
    if (refit_) {
      scores_ = refit_->scores;
      scores_step_ = scores_.empty() ? -1 : state_.step;
      save(refit_->metrics, true);
      return false;
    }
    const auto eval_start = std::chrono::steady_clock::now();
    const double elapsed = seconds_since(start_), train_s = train_seconds();
    const auto [train_loss, rows_per_s] = window_totals(train_s);
    const ScoringOptions scoring{config_.data.eval_batch_size, config_.data.threads,
                                 std::log(state_.pos_weight)};
    const ValidationMetrics m =
        group_
            ? validation_metrics_in_shares(*group_, *model_, valid_plan_, valid_, device_, scoring)
            : validation_metrics(*model_, valid_plan_, valid_, device_, scoring);
    if (!leader_) {
      save(json::object(), false);
      outside_training_ += seconds_since(eval_start);
      if (state_.step < stop_) outside_training_ += trace_.after_evaluation(state_.step);
      return share_decision(false);
    }
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
    // Step 0 (a fine-tuning run's start) has trained nothing: no loss, rate or lr yet.
    const bool trained = state_.step > 0;
    json line = {{"step", state_.step}, {"epoch", feed_->feed().cursor().epoch}};
    if (trained) {
      line["train/loss"] = train_loss;
      line["lr"] = learning_rate(config_.optim, state_.step - 1, t_.steps.get());
    }
    line["val/auroc"] = m.auroc;
    line["val/ap"] = m.average_precision;
    line["val/log_loss"] = m.log_loss;
    if (trained) line["rows_per_s"] = rows_per_s;
    line["data_wait_s"] = feed_->feed().data_wait_seconds();
    line["train_s"] = train_s;
    line["elapsed_s"] = elapsed;
    if (device_.is_cuda()) {
      line["copy_wait_s"] = feed_->feed().copy_wait_seconds();
      line["gpu_wait_s"] = losses_->wait_seconds();
    }
    if (sync_) line["comm_wait_s"] = sync_->exposed_seconds();  // rank 0's, since the start
    step_times_.report(line);
    metrics_->write(line);
    run_.evaluated(metric_name(t_.metric), state_.best_value.value_or(NAN));
    if (events_) {  // train/loss and lr have their points from read_losses
      std::vector<std::pair<std::string, double>> scalars;
      for (const auto& [key, value] : line.items())
        if (value.is_number() && key != "step" && key != "train/loss" && key != "lr")
          scalars.emplace_back(key, value.get<double>());
      events_->add(state_.step, scalars);
    }
    save(line, is_best);
    outside_training_ += seconds_since(eval_start);
    if (state_.step < stop_) outside_training_ += trace_.after_evaluation(state_.step);
    const bool stop = t_.patience.get() > 0 && state_.evals_without_gain >= t_.patience.get();
    if (stop)
      core::log_info(detail::concat("early stopping at step ", state_.step, ": val/",
                                    metric_name(t_.metric), " has not improved for ",
                                    state_.evals_without_gain, " evaluations"));
    return share_decision(stop);
  }

  // Rank 0's early-stopping state and decision `stop`, on every rank (a collective with
  // several), so that every rank's TrainingState and result are rank 0's.
  bool share_decision(bool stop) {
    if (!group_) return stop;
    torch::Tensor t = torch::zeros({5}, torch::kFloat64);
    if (leader_)
      t = torch::tensor(
          {stop ? 1.0 : 0.0, state_.best_value ? 1.0 : 0.0, state_.best_value.value_or(0.0),
           static_cast<double>(state_.best_step), static_cast<double>(state_.evals_without_gain)},
          torch::kFloat64);
    group_->all_reduce_sum(t);
    if (t[1].item<double>() > 0) state_.best_value = t[2].item<double>();
    state_.best_step = static_cast<int64_t>(t[3].item<double>());
    state_.evals_without_gain = static_cast<int64_t>(t[4].item<double>());
    return t[0].item<double>() > 0;
  }

  // The mean train loss since the last evaluation (which starts a new window) and the rows a
  // second trained, over all ranks (a collective with several).
  std::pair<double, double> window_totals(double train_s) {
    double loss_sum = loss_sum_, loss_count = static_cast<double>(loss_count_),
           rows = static_cast<double>(rows_seen_);
    loss_sum_ = 0;
    loss_count_ = 0;
    if (group_) {
      torch::Tensor sums = torch::tensor({loss_sum, loss_count, rows}, torch::kFloat64);
      group_->all_reduce_sum(sums);
      loss_sum = sums[0].item<double>();
      loss_count = sums[1].item<double>();
      rows = sums[2].item<double>();
    }
    return {loss_sum / loss_count, rows / train_s};
  }

  // A checkpoint of where the run stands; `metrics` go into its manifest. With several
  // ranks, a collective: rank 0 writes it, with every rank's generator state, and every rank
  // returns once it is complete (so that a launcher that stops the job when one rank exits
  // never cuts the write short). "" on the other ranks.
  std::string save(const json& metrics, bool best) {
    state_.cursor = feed_->feed().cursor();
    state_.lr = learning_rate(config_.optim, state_.step, t_.steps.get());
    const torch::Tensor rng = torch::globalContext().defaultGenerator(torch::kCPU).get_state();
    state_.rng_cpu.assign(reinterpret_cast<const char*>(rng.data_ptr<uint8_t>()),
                          static_cast<std::size_t>(rng.numel()));
    if (group_) {
      std::vector<std::string> states = group_->all_gather(state_.rng_cpu);
      state_.rng_cpu = states[0];
      state_.rng_cpu_ranks.assign(states.begin() + 1, states.end());
      state_.world_size = group_->world_size();
    }
    stepper_->sync_optimizer_state();
    saved_step_ = state_.step;
    if (!leader_) {
      group_->barrier();
      return "";
    }
    core::CheckpointContents c;
    c.step = state_.step;
    c.files["model.safetensors"] = model_file(*model_);
    c.files["optimizer.safetensors"] = optimizer_file(*model_, *optimizer_, state_.optimizer_steps);
    c.files["state.json"] = state_.to_json_text();
    c.files["transform.json"] = plan_.to_json().dump(1) + "\n";
    c.files["config.yaml"] = yaml_;
    c.files["profile.json"] = profile_.get();
    c.files["dictionaries.json"] = dictionaries_;
    if (scores_step_ == state_.step) c.files["scores.json"] = scores_;
    c.metrics = metrics;
    c.data_fingerprint = train_->fingerprint();
    c.parent = parent_;
    const std::string path = core::write_checkpoint(run_.checkpoints(), c, best);
    run_.checkpoint_written();
    parent_ = fs::path(path).filename().string();
    core::apply_retention(run_.checkpoints(), t_.keep_last);
    if (group_) group_->barrier();
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
  ProcessGroup* const group_;           // several processes: the job's group; else nullptr
  const bool leader_;                   // rank 0 (or the only process): writes the run's files
  const Init* const init_;              // a fine-tuning run's start (--init); else nullptr
  const Refit* const refit_;            // a refit: what it refits; else nullptr
  std::unique_ptr<GradientSync> sync_;  // with group_
  std::shared_ptr<const data::Dataset> train_, valid_;
  transform::FittedPlan plan_;
  kernels::CompiledPlan valid_plan_;
  std::shared_ptr<TabularModelImpl> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<TorchFeed> feed_;
  std::unique_ptr<TrainStep> stepper_;  // after the feed: its graphs read the feed's buffers
  std::optional<LossWindow> losses_;
  StepTimes step_times_{device_};
  StepTrace trace_{leader_ ? t_.profile_steps : 0, device_.is_cuda(),
                   run_.file("reports/trace.json")};
  std::unique_ptr<core::JsonLinesWriter> metrics_;
  std::optional<core::TfEventsWriter> events_;  // rank 0 with log.tensorboard
  int64_t last_point_ = 0;                      // the step of the last train/loss point
  double point_sum_ = 0;                        // and the losses since
  int64_t point_count_ = 0;
  std::shared_future<std::string> profile_;  // the train split's profile.json
  std::string dictionaries_;                 // the splits' dictionaries.json
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

// The run directory: opened by rank 0 (or the only process), which tells the other ranks
// where it is and what it resumes from, or why it could not open it.
RunDirectory open_run(const RunOptions& options, const registry::ModelSource& from,
                      ProcessGroup* group) {
  if (group == nullptr) return RunDirectory::open(options, from.path, from.registry);
  if (group->rank() == 0) {
    std::optional<RunDirectory> run;
    try {
      run.emplace(RunDirectory::open(options, from.path, from.registry));
    } catch (const Error& e) {
      group->from_rank0("run", json{{"error", e.what()}, {"code", e.exit_code()}}.dump());
      throw;
    }
    const json opened = {{"path", run->path()},
                         {"resumed", run->resumed() ? run->resumed()->path : ""}};
    group->from_rank0("run", opened.dump());
    return std::move(*run);
  }
  const json opened = json::parse(group->from_rank0("run", ""));
  if (opened.contains("error"))
    throw Error(static_cast<ExitCode>(opened["code"].get<int>()),
                "rank 0 could not open the run: " + opened["error"].get<std::string>());
  return RunDirectory::follow(opened["path"], opened["resumed"], from.registry);
}

// The resolved config as "key: value" lines, one per dotted key, for the ranks to compare.
std::string config_lines(const KilnConfig& config) {
  std::string out;
  auto walk = [&](auto&& self, const nlohmann::ordered_json& value,
                  const std::string& key) -> void {
    if (value.is_object() && !value.empty()) {
      for (const auto& [name, child] : value.items())
        self(self, child, key.empty() ? name : key + "." + name);
      return;
    }
    out += key + ": " + value.dump() + "\n";
  };
  walk(walk, core::schema::to_json(config), "");
  return out;
}

// reports/run.html of a run that has stopped (eval/run_report.h); a run's result does not
// depend on it, so a report that cannot be written is a warning.
void write_run_report(const RunDirectory& run) {
  if (!run.writes()) return;
  try {
    eval::write_run_report({run.path()}, run.file("reports/run.html"));
  } catch (const std::exception& e) {
    core::log_warn(std::string("run report not written: ") + e.what());
  }
}

// train.refit: the model trained again from its initialization on the train and validation
// splits together in RUN/refit, to the best checkpoint's epoch (its step and the schedule's
// steps scaled by the rows; the config otherwise the run's), without evaluations; its
// checkpoint is then the run's model (core::model_checkpoint) and result.json says so.
// Resumes a refit a signal stopped. Skipped, with a warning, when the splits' columns differ
// or they are the same data.
FitResult refit(const KilnConfig& selected, const FitArgs& args, RunDirectory& run,
                const std::shared_ptr<const data::Dataset>& train, torch::Device device,
                const Init* init, core::StopSignals& signals, FitResult result) {
  auto valid = data::Dataset::open(selected.data.valid);
  auto write_result = [&] { run.write("result.json", result.result.dump(1) + "\n"); };
  const bool same_data = valid->fingerprint() == train->fingerprint();
  if (same_data || !valid->schema().same_columns(train->schema())) {
    const std::string why = same_data
                                ? "data.valid is data.train's data: it adds no rows"
                                : "data.valid's columns are not data.train's, in the same order";
    core::log_warn("train.refit: skipped: " + why);
    result.result["refit"] = {{"skipped", why}};
    write_result();
    return result;
  }
  const core::VerifiedCheckpoint best = core::verify_checkpoint(result.best_checkpoint, false);
  const fs::path scores = fs::path(best.path) / "scores.json";
  const Refit what{best.path, best.manifest.value("metrics", nlohmann::json::object()),
                   fs::exists(scores) ? core::read_file(scores.string(), "scores") : ""};
  const int64_t rows = train->rows() + valid->rows();
  const double scale = static_cast<double>(rows) / static_cast<double>(train->rows());
  auto scaled = [&](int64_t steps) {
    return std::max<int64_t>(1, std::llround(static_cast<double>(steps) * scale));
  };
  KilnConfig config = selected;
  TrainOptions& t = config.train;
  t.steps = scaled(t.steps.get());
  t.stop_at = std::min(scaled(result.best_step), t.steps.get());
  t.eval_every = t.stop_at;
  t.patience = 0;
  t.refit = false;
  config.optim.warmup_steps = std::min(scaled(config.optim.warmup_steps.get()), t.steps.get());
  config.run.dir = run.path();
  config.run.experiment = "";
  config.run.name = "refit";
  config.log.prometheus_textfile = "";  // the run's file goes on saying where it stands
  // A refit of another checkpoint (the run was resumed and went on since) is replaced.
  const fs::path dir = fs::path(run.path()) / "refit";
  if (fs::exists(dir / "run.json")) {
    const json earlier =
        json::parse(core::read_file((dir / "run.json").string(), "run.json"), nullptr, false);
    const bool same = earlier.is_object() && earlier.contains("refit") &&
                      earlier["refit"].is_object() && earlier["refit"].contains("of") &&
                      earlier["refit"]["of"] == best.path && earlier["refit"].contains("steps") &&
                      earlier["refit"]["steps"] == t.stop_at;
    if (!same) {
      core::log_info("refit: replacing " + dir.string() + ", the refit of another checkpoint");
      core::remove_tree(dir.string());
    }
  }
  RunDirectory again = RunDirectory::open(config.run, "auto", std::nullopt);
  TrainingState state;
  if (again.resumed()) state = TrainingState::read(again.resumed()->path);
  core::log_info(detail::concat("refit: ", t.stop_at, " steps on ", rows,
                                " rows (train and valid; the best checkpoint was at step ",
                                result.best_step, ") in ", again.path()));
  again.status("running", state.step);
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));  // the run's initialization
  try {
    Trainer trainer(config, args, again, state, train, core::schema::to_yaml_text(config), {},
                    device, nullptr, init, &what);
    const FitResult refitted = trainer.train(signals);
    again.status("done", state.step, "", 0);
    result.result["selected_checkpoint"] = result.best_checkpoint;
    result.best_checkpoint = refitted.best_checkpoint;
    result.result["checkpoint"] = refitted.best_checkpoint;
    result.result["refit"] = {{"run", again.path()}, {"steps", t.stop_at}, {"rows", rows}};
    write_result();
    return result;
  } catch (const PreemptedError& e) {
    run.status("preempted", result.steps, e.what(), static_cast<int>(ExitCode::kPreempted));
    throw;
  } catch (const Error& e) {
    again.status("failed", state.step, e.what(), e.exit_code());
    throw;
  }
}

}  // namespace

double learning_rate(const OptimOptions& o, int64_t step, int64_t steps) {
  return kernels::scheduled_lr(lr_schedule(o, steps), step);
}

FitResult fit(const KilnConfig& given, const FitArgs& args) {
  KILN_CHECK(!given.data.train.empty(), ConfigError, "data.train: no training dataset given");
  KILN_CHECK(!given.data.valid.empty(), ConfigError, "data.valid: no validation dataset given");
  KILN_CHECK(args.init.empty() || args.resume.empty() || args.resume == "auto", ConfigError,
             "--init and --resume ", args.resume,
             ": give one (--init starts a new run from a model's weights, --resume continues a "
             "run; --resume auto continues a fine-tuning run)");
  const registry::ModelSource from = args.resume == "auto"
                                         ? registry::ModelSource{args.resume, std::nullopt}
                                         : registry::resolve_model(args.resume, args.registry);
  std::optional<Init> init;
  if (!args.init.empty()) {
    init = read_init(args.init, args.registry);
    check_init_model(given.model, *init);
  }
  const core::Topology topology = core::detect_topology();
  if (!topology.note.empty()) core::log_warn(topology.note);
  const torch::Device device = prepare_device(given, topology);
  std::unique_ptr<ProcessGroup> group;
  if (topology.world_size > 1)
    group = std::make_unique<ProcessGroup>(topology, given.train.backend, device,
                                           std::chrono::seconds(given.train.dist_timeout_s));
  RunDirectory run = open_run(given.run, from, group.get());
  if (init && run.resumed()) {
    keep_started_init(run, *init);
    check_init_model(given.model, *init);
  }
  TrainingState state;
  if (run.resumed()) state = TrainingState::read(run.resumed()->path);
  run.export_metrics(given.log.prometheus_textfile, given.run.experiment, topology.rank);
  run.status("running", state.step);
  // From here a signal stops the run with a checkpoint (the refit's included).
  core::StopSignals signals({SIGTERM, SIGUSR1});
  try {
    auto train = data::Dataset::open(given.data.train);
    KilnConfig config = given;
    if (init) config.model = init->model;  // the weights' architecture
    DataFacts facts = data_facts(*train);
    facts.world_size = topology.world_size;
    facts.fine_tuning = init.has_value();
    std::vector<AutoChoice> choices;
    if (run.resumed()) choices = adopt_run_autos(config, checkpoint_config(run.resumed()->path));
    for (AutoChoice& c : resolve_auto(config, facts))
      choices.push_back(std::move(c));
    if (topology.rank == 0 && !choices.empty()) {  // what `auto` became, as overrides
      std::string chosen = detail::concat("auto for ", facts.path, " (", facts.rows, " rows):");
      for (const AutoChoice& c : choices)
        chosen += " " + c.key + "=" + c.value;
      core::log_info(chosen + " (each with its reason in " + run.file("config.resolved.yaml") +
                     ")");
    }
    KILN_CHECK(state.step <= config.train.steps.get(), DataError, run.resumed()->path,
               "/state.json: 'step' is ", state.step, ", outside [0, ", config.train.steps.get(),
               "] (train.steps)");
    if (group) group->check_same_config(config_lines(config));
    const Init* start = init ? &*init : nullptr;
    Trainer trainer(config, args, run, state, train, resolved_yaml(config, choices, facts), choices,
                    device, group.get(), start);
    FitResult result = trainer.train(signals);
    if (init && result.best_step == 0)
      core::log_info("no step improved on the model the run started from: it is the run's model");
    if (config.train.refit.get() && result.best_step > 0 &&
        (result.stopped_early || state.step >= config.train.steps.get()))
      result = refit(config, args, run, train, device, start, signals, std::move(result));
    run.status("done", state.step, "", 0);
    write_run_report(run);
    return result;
  } catch (const PreemptedError&) {
    write_run_report(run);
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

// The config sections of training (docs/CONFIG.md, docs/TRAINING.md): data, model, optim and
// train. Plain structs, no LibTorch, so that the config code compiles without it. Keys with
// a fixed set of values are enums, read by name (core/config.h: a bad name is refused where
// it is written, naming the file and line).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config_types.h"

namespace kiln::trainer {

enum class ModelType { kLogistic, kMlp, kDcn };
enum class OptimizerName { kAdamW, kSgd };
enum class Schedule { kCosine, kStep, kConstant };
enum class Metric { kAuroc, kAp, kLogLoss };
enum class DeviceChoice { kAuto, kCpu, kCuda };
enum class DistBackend { kAuto, kNccl, kGloo };
enum class Precision { kAuto, kFp32, kBf16 };

// Their names in configs, for core/config.h.
inline core::EnumNames<ModelType> enum_names(ModelType) {
  static constexpr std::pair<ModelType, std::string_view> names[] = {
      {ModelType::kLogistic, "logistic"}, {ModelType::kMlp, "mlp"}, {ModelType::kDcn, "dcn"}};
  return names;
}
inline core::EnumNames<OptimizerName> enum_names(OptimizerName) {
  static constexpr std::pair<OptimizerName, std::string_view> names[] = {
      {OptimizerName::kAdamW, "adamw"}, {OptimizerName::kSgd, "sgd"}};
  return names;
}
inline core::EnumNames<Schedule> enum_names(Schedule) {
  static constexpr std::pair<Schedule, std::string_view> names[] = {
      {Schedule::kCosine, "cosine"}, {Schedule::kStep, "step"}, {Schedule::kConstant, "constant"}};
  return names;
}
inline core::EnumNames<Metric> enum_names(Metric) {
  static constexpr std::pair<Metric, std::string_view> names[] = {
      {Metric::kAuroc, "auroc"}, {Metric::kAp, "ap"}, {Metric::kLogLoss, "log_loss"}};
  return names;
}
inline core::EnumNames<DeviceChoice> enum_names(DeviceChoice) {
  static constexpr std::pair<DeviceChoice, std::string_view> names[] = {
      {DeviceChoice::kAuto, "auto"}, {DeviceChoice::kCpu, "cpu"}, {DeviceChoice::kCuda, "cuda"}};
  return names;
}
inline core::EnumNames<DistBackend> enum_names(DistBackend) {
  static constexpr std::pair<DistBackend, std::string_view> names[] = {
      {DistBackend::kAuto, "auto"}, {DistBackend::kNccl, "nccl"}, {DistBackend::kGloo, "gloo"}};
  return names;
}
inline core::EnumNames<Precision> enum_names(Precision) {
  static constexpr std::pair<Precision, std::string_view> names[] = {
      {Precision::kAuto, "auto"}, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}};
  return names;
}

// A metric's name as metrics.jsonl and result.json write it: "auroc", "ap", "log_loss".
inline std::string metric_name(Metric m) {
  return std::string(core::enum_name(m));
}
// Whether a lower value of `m` is better (log loss), else a higher one.
inline bool lower_is_better(Metric m) {
  return m == Metric::kLogLoss;
}

struct DataOptions {
  std::string train;                // dataset directory (or matrix file) to train on
  std::string valid;                // dataset to evaluate on every train.eval_every steps
  core::Auto<int64_t> batch_size;   // rows per training step; auto: from the train rows
  int64_t eval_batch_size = 65536;  // rows per evaluation batch
  int64_t shuffle_window = 262144;  // rows permuted together each epoch
  int threads = 0;                  // loader threads; 0: one per core
  bool device_shuffle = true;       // on a GPU: whole windows to the GPU, rows gathered there

  template <class V>
  void visit(V& v) {
    v("train", train, "dataset to train on (a `kiln data` dataset directory or a matrix file)");
    v("valid", valid, "dataset evaluated every train.eval_every steps (early stopping, best)");
    v("batch_size", batch_size,
      "rows per training step; auto: about 1/128 of the train rows as a power of two, from 256 "
      "to 4096 (and no more than the rows)");
    v("eval_batch_size", eval_batch_size, "rows per batch when evaluating");
    v("shuffle_window", shuffle_window, "rows shuffled together each epoch (memory: one window)");
    v("threads", threads, "loader threads; 0 means one per core");
    v("device_shuffle", device_shuffle,
      "on a GPU, copy whole windows of rows to it once and put the rows in batch order there "
      "(the fused transform gathers them); false: the CPU orders and copies every batch; no "
      "effect on the CPU");
  }
};

struct ModelOptions {
  ModelType type = ModelType::kMlp;          // logistic | mlp | dcn
  std::vector<int64_t> hidden = {256, 128};  // the MLP's (and DCN's deep part's) layer widths
  core::Auto<int64_t> embedding_dim;         // per categorical column; auto, 0: a rule
  int64_t one_hot_max = 0;                   // categorical columns this small are one-hot
  core::Auto<bool> linear_term;              // mlp: a linear function of the input in the logit
  core::Auto<int64_t> numeric_embedding;     // periodic features per float feature; 0: none
  int64_t cross_layers = 3;                  // DCN-v2 cross layers
  core::Auto<double> dropout;                // after each hidden layer; auto: from the rows
  core::Auto<int64_t> ensemble;              // mlp: members trained as one model; auto: by rows

  template <class V>
  void visit(V& v) {
    v("type", type, "logistic, mlp or dcn (DCN-v2: cross layers beside an MLP)");
    v("hidden", hidden, "widths of the hidden layers (mlp, and dcn's deep part)");
    v("embedding_dim", embedding_dim,
      "embedding width per categorical column; auto: min(32, round(1.6 * cardinality^0.56), "
      "floor(log2(train rows / cardinality))), at least 1, so that a category seen in few rows "
      "gets a narrow vector; 0: the same without the rows term");
    v("one_hot_max", one_hot_max,
      "mlp and dcn: a categorical column of at most this many indices (missing and "
      "out-of-vocabulary included) is one-hot instead of embedded; 0 means none");
    v("linear_term", linear_term,
      "mlp: add a linear function of the input (the float features, not embedded, and the "
      "categorical vectors) to the logit, beside the hidden layers (wide and deep); auto: "
      "true for mlp");
    v("numeric_embedding", numeric_embedding,
      "mlp and dcn: each float feature x becomes [x, 3 learned linear functions of this many "
      "periodic features cos(2 pi w x + b)] (PBLD, RealMLP); 0: the features as they are; "
      "auto: 16 for mlp from 20000 train rows, else 0");
    v("cross_layers", cross_layers, "number of DCN-v2 cross layers");
    v("dropout", dropout, "dropout after each hidden layer, 0 to 1; auto: from the train rows");
    v("ensemble", ensemble,
      "mlp: k MLPs with shared weights trained as one model (per-member input scaling and "
      "head, TabM-mini), which predicts their mean logit; 1 is a single MLP; auto: from the "
      "train rows");
  }
};

struct OptimOptions {
  OptimizerName name = OptimizerName::kAdamW;  // adamw | sgd
  core::Auto<double> lr;                       // peak learning rate; auto: 1e-3, fine-tuning less
  core::Auto<double> weight_decay;             // decoupled (adamw) or L2 (sgd); auto: from rows
  double momentum = 0.9;                       // sgd
  double beta1 = 0.9;                          // adamw
  double beta2 = 0.999;                        // adamw
  double eps = 1e-8;                           // adamw
  double grad_clip = 1.0;                      // max global L2 norm of the gradients; 0: off
  Schedule schedule = Schedule::kCosine;       // cosine | step | constant, after a linear warmup
  core::Auto<int64_t> warmup_steps;            // linear warmup from 0 to lr; auto: from steps
  double min_lr_ratio = 0.0;                   // cosine: the final lr as a fraction of lr
  int64_t step_every = 1000;                   // step: multiply by step_gamma every this many steps
  double step_gamma = 0.5;                     // step

  template <class V>
  void visit(V& v) {
    v("name", name, "optimizer: adamw or sgd");
    v("lr", lr, "peak learning rate; auto: 0.001, and 0.0003 when fine-tuning (kiln fit --init)");
    v("weight_decay", weight_decay,
      "weight decay (decoupled for adamw, L2 for sgd); auto: from the train rows");
    v("momentum", momentum, "sgd momentum");
    v("beta1", beta1, "adamw beta1");
    v("beta2", beta2, "adamw beta2");
    v("eps", eps, "adamw epsilon");
    v("grad_clip", grad_clip, "clip the gradients' global L2 norm to this; 0 means off");
    v("schedule", schedule, "learning-rate schedule after the warmup: cosine, step or constant");
    v("warmup_steps", warmup_steps,
      "steps of linear warmup from 0 to optim.lr; auto: a twentieth of train.steps, at most 100");
    v("min_lr_ratio", min_lr_ratio, "cosine: the last step's lr as a fraction of optim.lr");
    v("step_every", step_every,
      "step schedule: multiply the lr by step_gamma every this many steps");
    v("step_gamma", step_gamma, "step schedule: the factor");
  }
};

struct TrainOptions {
  core::Auto<int64_t> steps;        // optimizer steps in all (the schedule's length)
  core::Auto<int64_t> epochs;       // the budget in passes over the train rows (auto: steps)
  int64_t max_steps = 30000;        // the most steps epochs may make
  int64_t stop_at = 0;              // pause after this many steps (a sweep's rung); 0: steps
  core::Auto<int64_t> eval_every;   // steps between evaluations (and checkpoints)
  std::string pos_weight = "auto";  // auto | none | a number
  Metric metric = Metric::kAuroc;   // early stopping and `best`: auroc | ap | log_loss
  core::Auto<int64_t> patience;     // evaluations without improvement before stopping; 0: off
  int64_t keep_last = 3;            // checkpoints kept besides the best
  core::Auto<bool> refit;           // the model trained again on train + valid to the best step
  DeviceChoice device = DeviceChoice::kAuto;  // auto | cpu | cuda
  Precision precision = Precision::kAuto;     // auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
  bool cuda_graph = true;                     // CUDA with adamw: capture the whole step in a graph
  int64_t profile_steps = 0;                  // steps traced after the first evaluation; 0: none
  DistBackend backend = DistBackend::kAuto;  // several processes: auto (nccl on CUDA) | nccl | gloo
  int64_t dist_timeout_s = 300;              // several processes: rendezvous and collectives
  double dist_bucket_mb = 25;                // several processes: gradient buckets (MiB)

  template <class V>
  void visit(V& v) {
    v("steps", steps,
      "optimizer steps in all; the learning-rate schedule spans them; auto: train.epochs passes "
      "over the train rows, at most train.max_steps");
    v("epochs", epochs,
      "the training budget in passes over the train rows when train.steps is auto; auto: 100, "
      "or more where 100 passes make fewer than 1000 steps");
    v("max_steps", max_steps, "the most steps train.epochs may make (a cap for large tables)");
    v("stop_at", stop_at,
      "stop after this many steps with a checkpoint, keeping the schedule of train.steps, so "
      "that --resume auto with a larger stop_at continues the same run (ASHA rungs); 0 means "
      "train.steps");
    v("eval_every", eval_every,
      "steps between evaluations on data.valid; each writes a checkpoint; auto: one epoch, and "
      "no more than 100 evaluations in all");
    v("pos_weight", pos_weight,
      "weight of positive rows in the loss: auto (negatives/positives when positives are under "
      "10% of the train rows, else 1), none, or a number");
    v("metric", metric,
      "validation metric for early stopping and the best checkpoint: auroc, ap or log_loss");
    v("patience", patience,
      "evaluations without improvement before training stops (the best checkpoint is the "
      "model); 0 means never; auto: 16");
    v("keep_last", keep_last, "checkpoints kept besides the best (at least 1)");
    v("refit", refit,
      "when the run ends, train the model again from the start on data.train and data.valid "
      "together, for the epochs that found the best checkpoint, in RUN/refit; its checkpoint "
      "is then the run's model (docs/TRAINING.md, Refit); auto: true under 20000 train rows "
      "in one process");
    v("device", device, "auto (cuda when a GPU is present), cpu or cuda");
    v("precision", precision,
      "auto (bf16 on CUDA, fp32 on the CPU), fp32, or bf16 (the forward pass under bf16 "
      "autocast; CUDA only; weights, gradients and optimizer state stay float32)");
    v("cuda_graph", cuda_graph,
      "on CUDA with optim.name adamw: capture the whole training step (forward, backward, "
      "clipping, update) in one CUDA graph after 3 eager steps and replay it");
    v("profile_steps", profile_steps,
      "trace this many steps after the first evaluation with PyTorch's profiler (host "
      "operators; on a GPU every kernel and copy with its stream) into reports/trace.json, "
      "Chrome trace format; 0 means no trace");
    v("backend", backend,
      "with several processes (torchrun, srun, RANK and WORLD_SIZE): the c10d backend that "
      "all-reduces the gradients; auto (nccl on CUDA, gloo on the CPU), nccl or gloo "
      "(docs/DISTRIBUTED.md)");
    v("dist_timeout_s", dist_timeout_s,
      "with several processes: seconds the rendezvous and each collective may wait for the "
      "other ranks before the run fails (exit 69) naming the ranks that are gone");
    v("dist_bucket_mb", dist_bucket_mb,
      "with several processes: the gradients are all-reduced in buckets of at most this many "
      "MiB (the first, of the last layers, at most 1 MiB), each started as soon as backward "
      "has filled it; as DistributedDataParallel's bucket_cap_mb");
  }
};

}  // namespace kiln::trainer

#include "trainer/auto_config.h"

#include <algorithm>
#include <cmath>

#include "core/config.h"
#include "core/errors.h"

namespace kiln::trainer {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Sets `field` when it is auto, recording the choice.
template <class T>
void choose(core::Auto<T>& field, const char* key, T value, std::string why,
            std::vector<AutoChoice>& out) {
  if (!field.is_auto()) return;
  field.value = value;
  out.push_back({key, core::schema::to_json(field).dump(), std::move(why)});
}

}  // namespace

KilnConfig checkpoint_config(const std::string& dir) {
  KilnConfig c = resolve_kiln_config({dir + "/config.yaml"}, {});
  if (c.model.ensemble.is_auto()) c.model.ensemble = 1;
  if (c.model.linear_term.is_auto()) c.model.linear_term = false;
  if (c.model.numeric_embedding.is_auto()) c.model.numeric_embedding = 0;
  if (c.train.refit.is_auto()) c.train.refit = false;
  return c;
}

std::vector<AutoChoice> adopt_run_autos(KilnConfig& config, const KilnConfig& saved) {
  std::vector<std::pair<std::string, nlohmann::ordered_json>> filled;
  core::schema::fill_autos(config, core::schema::to_json(saved), "", filled);
  std::vector<AutoChoice> out;
  for (const auto& [key, value] : filled)
    out.push_back({key, value.dump(), "the value of the checkpoint resumed from"});
  return out;
}

DataFacts data_facts(const data::Dataset& train) {
  DataFacts f;
  f.path = train.path();
  f.rows = train.rows();
  for (const data::Column& c : train.schema().columns) {
    f.numeric += c.role == data::Role::kNumeric ? 1 : 0;
    f.categorical += c.role == data::Role::kCategorical ? 1 : 0;
  }
  return f;
}

std::vector<AutoChoice> resolve_auto(KilnConfig& config, const DataFacts& train) {
  KILN_CHECK(train.rows > 0, DataError, train.path, ": no rows to train on");
  std::vector<AutoChoice> out;
  DataOptions& d = config.data;
  TrainOptions& t = config.train;

  // Batches: about 128 steps an epoch until the batch reaches 4096 (512K rows); small
  // tables get 256-row batches (the size the tabular MLP literature trains with), and a
  // batch is never more than the table.
  const double per_128 = std::max(1.0, static_cast<double>(train.rows) / 128.0);
  const auto power = static_cast<int64_t>(1) << std::lround(std::log2(per_128));
  // With W ranks, the global batch is that and each rank's data.batch_size 1/W of it, so that
  // a job's schedule is the same at any world size.
  const int64_t global = std::min(std::clamp<int64_t>(power, 256, 4096), train.rows);
  const int64_t batch = std::max<int64_t>(1, global / train.world_size);
  choose(d.batch_size, "data.batch_size", batch,
         detail::concat(train.rows, " rows / 128 as a power of two, within [256, 4096]",
                        global == train.rows ? ", at most the rows" : "",
                        train.world_size > 1
                            ? detail::concat(", shared by ", train.world_size, " ranks")
                            : std::string()),
         out);
  const int64_t per_epoch = ceil_div(train.rows, d.batch_size.get() * train.world_size);

  // The budget: 100 epochs, and at least 1000 steps (a few epochs of a small table are too
  // few updates), at most train.max_steps; early stopping ends most runs sooner.
  const int64_t epochs = std::max<int64_t>(100, ceil_div(1000, per_epoch));
  choose(t.epochs, "train.epochs", epochs,
         epochs == 100 ? std::string("100 passes over the rows")
                       : detail::concat("at least 1000 steps at ", per_epoch, " steps an epoch"),
         out);
  const int64_t steps = std::min(t.epochs.get() * per_epoch, t.max_steps);
  choose(t.steps, "train.steps", steps,
         detail::concat(t.epochs.get(), " epochs of ", per_epoch, " steps",
                        steps == t.max_steps ? ", capped by train.max_steps" : ""),
         out);
  KILN_CHECK(t.stop_at <= t.steps.get(), ConfigError, "train.stop_at: ", t.stop_at,
             " is beyond train.steps (", t.steps.get(), ")");

  const int64_t every = std::max(per_epoch, ceil_div(t.steps.get(), 100));
  choose(t.eval_every, "train.eval_every", every,
         every == per_epoch
             ? std::string("one epoch")
             : detail::concat("at most 100 evaluations in ", t.steps.get(), " steps"),
         out);
  choose(t.patience, "train.patience", int64_t{16},
         std::string("16 evaluations without improvement stop the run; the best checkpoint is "
                     "the model"),
         out);
  // Fine-tuning starts near a good model of similar data: a third of the rate keeps it
  // there while the new rows move it (on four tables' folds, 1e-3 lost to it on every one).
  choose(config.optim.lr, "optim.lr", train.fine_tuning ? 3e-4 : 1e-3,
         std::string(train.fine_tuning ? "fine-tuning (kiln fit --init): a third of 0.001"
                                       : "AdamW's usual rate for a new model"),
         out);
  const int64_t warmup = std::min<int64_t>(100, t.steps.get() / 20);
  choose(config.optim.warmup_steps, "optim.warmup_steps", warmup,
         std::string("a twentieth of train.steps, at most 100"), out);

  // Regularization that falls as the rows grow: small tables overfit a 256-wide MLP.
  const bool small = train.rows < 20000;
  const std::string rows_class =
      detail::concat(train.rows, small ? " rows: under 20000" : " rows: 20000 or more");
  choose(config.model.dropout, "model.dropout", small ? 0.1 : 0.0, rows_class, out);
  choose(config.optim.weight_decay, "optim.weight_decay", small ? 1e-2 : 1e-4, rows_class, out);
  // The validation split only chooses the step: on a small table the model trained again on
  // train and valid to that step has a quarter more rows (at a 80/20 cut) for about the cost
  // of the first run; on a large one the rows add little and the cost is large.
  choose(t.refit, "train.refit", small && train.world_size == 1,
         train.world_size > 1 ? std::string("several processes: a refit is for one") : rows_class,
         out);
  KILN_CHECK(!t.refit.get() || train.world_size == 1, ConfigError,
             "train.refit: true is for one process; this job has ", train.world_size,
             " (refit the model in one process, or set train.refit=false)");
  // An ensemble where its variance reduction pays: small tables. On large ones a single MLP
  // (the ensemble's passes are k times the rows).
  const bool mlp = config.model.type == ModelType::kMlp;
  const bool under = train.rows < 100000;
  choose(config.model.ensemble, "model.ensemble", int64_t{mlp && under ? 8 : 1},
         mlp ? detail::concat(train.rows, under ? " rows: under 100000" : " rows: 100000 or more")
             : std::string("model.type is not mlp"),
         out);
  // A linear function of the input beside the hidden layers (wide and deep): what a
  // logistic regression finds stays within reach when the data are small or mostly linear.
  choose(config.model.linear_term, "model.linear_term", mlp,
         std::string(mlp ? "the MLP's logit has a linear part" : "model.type is not mlp"), out);
  // Periodic embeddings of the float features (RealMLP's PBLD) where the rows can fit their
  // parameters: a threshold or a bump in one feature is a few periodic features away, where a
  // ReLU layer on the raw value must build it from many units. On small tables the 83
  // parameters a feature overfit (docs/TRAINING.md).
  choose(config.model.numeric_embedding, "model.numeric_embedding", int64_t{mlp && !small ? 16 : 0},
         mlp ? rows_class : std::string("model.type is not mlp"), out);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

std::string resolved_yaml(const KilnConfig& config, const std::vector<AutoChoice>& choices,
                          const DataFacts& train) {
  std::string text = core::schema::to_yaml_text(config);
  if (choices.empty()) return text;
  text += detail::concat("# auto, for ", train.path, " (", train.rows, " rows, ", train.numeric,
                         " numeric and ", train.categorical, " categorical columns):\n");
  for (const AutoChoice& c : choices)
    text += "#   " + c.key + ": " + c.value + "  (" + c.why + ")\n";
  return text;
}

}  // namespace kiln::trainer

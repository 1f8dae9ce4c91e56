#include "trainer/config.h"

#include <algorithm>
#include <cstdlib>

#include "core/config.h"

namespace kiln::trainer {
namespace {

template <class T>
void check_positive(T value, const char* key) {
  KILN_CHECK(value > 0, ConfigError, key, ": must be positive, got ", value);
}

// The checks of a value that may be auto apply when it is given.
template <class T>
void check_positive(const core::Auto<T>& value, const char* key) {
  if (!value.is_auto()) check_positive(*value.value, key);
}

template <class T>
void check_at_least(const core::Auto<T>& value, T least, const char* key) {
  KILN_CHECK(value.is_auto() || *value.value >= least, ConfigError, key,
             ": must be auto or >= ", least, ", got ", value.value.value_or(least));
}

void validate(const DataOptions& d) {
  check_positive(d.batch_size, "data.batch_size");
  check_positive(d.eval_batch_size, "data.eval_batch_size");
  KILN_CHECK(d.shuffle_window >= 0, ConfigError, "data.shuffle_window: must be >= 0, got ",
             d.shuffle_window);
  KILN_CHECK(d.threads >= 0, ConfigError, "data.threads: must be >= 0, got ", d.threads);
}

void validate(const ModelOptions& m) {
  for (int64_t h : m.hidden)
    check_positive(h, "model.hidden");
  check_at_least(m.embedding_dim, int64_t{0}, "model.embedding_dim");
  KILN_CHECK(m.one_hot_max >= 0, ConfigError, "model.one_hot_max: must be >= 0, got ",
             m.one_hot_max);
  check_at_least(m.ensemble, int64_t{1}, "model.ensemble");
  check_at_least(m.numeric_embedding, int64_t{0}, "model.numeric_embedding");
  KILN_CHECK(m.cross_layers >= 0, ConfigError, "model.cross_layers: must be >= 0, got ",
             m.cross_layers);
  KILN_CHECK(m.dropout.is_auto() || (*m.dropout.value >= 0 && *m.dropout.value < 1), ConfigError,
             "model.dropout: must be in [0, 1), got ", m.dropout.value.value_or(0));
}

void validate(const OptimOptions& o) {
  check_positive(o.lr, "optim.lr");
  check_at_least(o.weight_decay, 0.0, "optim.weight_decay");
  KILN_CHECK(o.grad_clip >= 0, ConfigError, "optim.grad_clip: must be >= 0 (0: off), got ",
             o.grad_clip);
  check_at_least(o.warmup_steps, int64_t{0}, "optim.warmup_steps");
  check_positive(o.step_every, "optim.step_every");
  KILN_CHECK(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1, ConfigError,
             "optim.min_lr_ratio: must be in [0, 1], got ", o.min_lr_ratio);
}

void validate(const TrainOptions& t) {
  check_positive(t.steps, "train.steps");
  check_positive(t.epochs, "train.epochs");
  check_positive(t.max_steps, "train.max_steps");
  check_positive(t.eval_every, "train.eval_every");
  KILN_CHECK(t.stop_at >= 0 && (t.steps.is_auto() || t.stop_at <= *t.steps.value), ConfigError,
             "train.stop_at: must be 0 (train.steps) or 1 to train.steps (",
             t.steps.value.value_or(0), "), got ", t.stop_at);
  check_positive(t.keep_last, "train.keep_last");
  check_positive(t.dist_timeout_s, "train.dist_timeout_s");
  KILN_CHECK(t.dist_bucket_mb > 0 && t.dist_bucket_mb <= 1024, ConfigError,
             "train.dist_bucket_mb: must be in (0, 1024], got ", t.dist_bucket_mb);
  check_at_least(t.patience, int64_t{0}, "train.patience");
  KILN_CHECK(t.profile_steps >= 0, ConfigError, "train.profile_steps: must be >= 0, got ",
             t.profile_steps);
  if (t.pos_weight != "auto" && t.pos_weight != "none") {
    char* end = nullptr;
    double w = std::strtod(t.pos_weight.c_str(), &end);
    KILN_CHECK(end != t.pos_weight.c_str() && *end == 0 && w > 0, ConfigError,
               "train.pos_weight: '", t.pos_weight, "' is not auto, none or a positive number");
  }
}

}  // namespace

KilnConfig resolve_kiln_config(const std::vector<std::string>& files,
                               const std::vector<std::string>& overrides) {
  KilnConfig config = core::resolve_config<KilnConfig>(files, overrides);
  // Per-column entries are checked when a dataset's schema gives their columns' roles.
  transform::parse_steps(config.transform.numeric, data::Role::kNumeric, "transform.numeric");
  transform::parse_steps(config.transform.categorical, data::Role::kCategorical,
                         "transform.categorical");
  validate(config.data);
  validate(config.model);
  validate(config.optim);
  validate(config.train);
  check_positive(config.log.tensorboard_every, "log.tensorboard_every");
  eval::report_options(config.eval, static_cast<uint64_t>(config.run.seed));
  return config;
}

}  // namespace kiln::trainer

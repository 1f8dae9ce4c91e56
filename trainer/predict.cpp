#include "trainer/predict.h"

#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/files.h"
#include "data/dataset.h"
#include "data/shard.h"
#include "registry/registry.h"
#include "trainer/device.h"
#include "trainer/model_io.h"
#include "trainer/scoring.h"
#include "transform/plan.h"

namespace kiln::trainer {
namespace {

// The scores of predict() as they come, batch by batch, into a CSV text or a shard file;
// nothing is at `path` until finish().
class ScoresWriter {
 public:
  ScoresWriter(const std::string& path, bool id, bool label)
      : path_(path), csv_(std::filesystem::path(path).extension() == ".csv") {
    if (csv_) {
      text_ = std::string(id ? "id," : "") + (label ? "label," : "") + "score\n";
      return;
    }
    data::Schema schema;
    if (id) schema.columns.push_back({"id", data::Role::kId, 0});
    if (label) schema.columns.push_back({"label", data::Role::kLabel, 0});
    schema.columns.push_back({"score", data::Role::kNumeric, 0});
    shard_ = std::make_unique<data::ShardWriter>(path, schema, data::ShardWriteOptions{});
  }

  // `ids` and `labels` may be null (the data has no such column).
  void add(const int64_t* ids, const float* labels, const double* scores, int64_t rows) {
    if (csv_) {
      char line[96];
      for (int64_t r = 0; r < rows; ++r) {
        int n = 0;
        if (ids)
          n += std::snprintf(line + n, sizeof line - n, "%lld,", static_cast<long long>(ids[r]));
        if (labels) n += std::snprintf(line + n, sizeof line - n, "%.9g,", labels[r]);
        std::snprintf(line + n, sizeof line - n, "%.17g\n", scores[r]);
        text_ += line;
      }
      return;
    }
    scores32_.assign(scores, scores + rows);
    std::vector<const void*> columns;
    if (ids) columns.push_back(ids);
    if (labels) columns.push_back(labels);
    columns.push_back(scores32_.data());
    shard_->append(rows, columns);
  }

  void finish() {
    if (csv_)
      core::atomic_write(path_, text_);
    else
      shard_->finish();
  }

 private:
  std::string path_;
  bool csv_;
  std::string text_;
  std::unique_ptr<data::ShardWriter> shard_;
  std::vector<float> scores32_;
};

}  // namespace

PredictResult predict(const PredictOptions& options) {
  const torch::Device device = choose_device(options.device);
  const registry::ModelSource source = registry::resolve_model(options.model, options.registry);
  CheckpointModel m = load_checkpoint_model(source.path, device);
  data::check_not_csv(options.data, registry::model_words(options.model, options.registry));
  auto dataset = data::Dataset::open(options.data);
  const kernels::CompiledPlan plan = compile_for(m, *dataset);
  const int id = dataset->schema().find_role(data::Role::kId);
  const int label = dataset->schema().find_role(data::Role::kLabel);
  ScoresWriter out(options.out, id >= 0, label >= 0);
  PredictResult result;
  result.checkpoint = m.checkpoint.path;
  result.model = source.registry ? source.registry->text() : m.checkpoint.path;
  score_dataset(*m.model, plan, dataset, device,
                {options.batch_rows, options.threads, m.logit_shift},
                [&](const data::Batch& b, const double* scores) {
                  out.add(id >= 0 ? b.column<int64_t>(static_cast<std::size_t>(id)) : nullptr,
                          label >= 0 ? b.column<float>(static_cast<std::size_t>(label)) : nullptr,
                          scores, b.rows);
                  result.rows += b.rows;
                });
  out.finish();
  return result;
}

}  // namespace kiln::trainer

// kiln drift's model scoring, the one part of trainer/monitor.h that needs LibTorch.
#include "data/dataset.h"
#include "trainer/device.h"
#include "trainer/model_io.h"
#include "trainer/monitor.h"
#include "trainer/scoring.h"
#include "transform/plan.h"

namespace kiln::trainer {

eval::ModelScores model_scores(const ModelReference& reference,
                               const std::shared_ptr<const data::Dataset>& dataset,
                               const CurrentScores& options) {
  eval::ModelScores out;
  out.reference = reference.scores;
  const torch::Device device = choose_device(options.device);
  CheckpointModel m = load_checkpoint_model(reference.checkpoint, device);
  const kernels::CompiledPlan plan = compile_for(m, *dataset);
  const int label = dataset->schema().find_role(data::Role::kLabel);
  ScoringOptions scoring;
  scoring.threads = options.threads;
  scoring.logit_shift = m.logit_shift;
  score_dataset(*m.model, plan, dataset, device, scoring,
                [&](const data::Batch& b, const double* scores) {
                  out.scores.insert(out.scores.end(), scores, scores + b.rows);
                  if (label < 0) return;
                  const float* y = b.column<float>(static_cast<std::size_t>(label));
                  out.labels.insert(out.labels.end(), y, y + b.rows);
                });
  out.source = reference.source;
  return out;
}

}  // namespace kiln::trainer

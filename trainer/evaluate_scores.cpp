// `kiln eval`'s checkpoint scoring, the one part of trainer/evaluate.h that needs LibTorch.
#include "data/dataset.h"
#include "registry/registry.h"
#include "trainer/device.h"
#include "trainer/evaluate.h"
#include "trainer/model_io.h"
#include "trainer/scoring.h"
#include "transform/plan.h"

namespace kiln::trainer {

eval::Scored checkpoint_scores(const std::string& name, const std::string& checkpoint,
                               const EvaluateOptions& options, nlohmann::ordered_json* lineage) {
  const torch::Device device = choose_device(options.device);
  const registry::ModelSource source = registry::resolve_model(checkpoint, options.registry);
  CheckpointModel m = load_checkpoint_model(source.path, device);
  data::check_not_csv(options.data, registry::model_words(checkpoint, options.registry));
  auto dataset = data::Dataset::open(options.data);
  const kernels::CompiledPlan plan = compile_for(m, *dataset);
  eval::Scored out{name, source.registry ? source.registry->text() : m.checkpoint.path,
                   score_labelled(*m.model, plan, dataset, device, {65536, 0, m.logit_shift})};
  if (lineage != nullptr) {
    const auto& manifest = m.checkpoint.manifest;
    *lineage = {{"checkpoint", m.checkpoint.path},
                {"step", m.checkpoint.step},
                {"model", std::string(core::enum_name(m.config.model.type))},
                {"kiln_version", manifest.value("kiln_version", "")},
                {"git_revision", manifest.value("git_revision", "")},
                {"created", manifest.value("created", "")},
                {"trained_on", manifest.value("data_fingerprint", "")},
                {"parent", manifest.value("parent", nlohmann::json(nullptr))},
                {"data", options.data},
                {"data_fingerprint", dataset->fingerprint()}};
    if (source.registry) (*lineage)["registry"] = source.registry->to_json();
  }
  return out;
}

}  // namespace kiln::trainer

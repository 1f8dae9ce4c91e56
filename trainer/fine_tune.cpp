#include "trainer/fine_tune.h"

#include <filesystem>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "registry/registry.h"
#include "trainer/auto_config.h"

namespace kiln::trainer {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

Init read_init(const std::string& text, const std::string& registry_flag) {
  const registry::ModelSource from = registry::resolve_model(text, registry_flag);
  const core::VerifiedCheckpoint c = core::verify_checkpoint(core::model_checkpoint(from.path));
  const std::string dir = fs::absolute(c.path).lexically_normal().string();
  return {dir,
          transform::FittedPlan::read(dir + "/transform.json"),
          data::checkpoint_dictionaries(dir),
          checkpoint_config(dir).model,
          {{"checkpoint", dir},
           {"registry", from.registry ? json(from.registry->to_json()) : json(nullptr)}}};
}

void keep_started_init(const RunDirectory& run, Init& init) {
  const std::string path = run.file("run.json");
  if (!fs::exists(path)) return;
  const json recorded = json::parse(core::read_file(path, "run.json"), nullptr, false);
  if (!recorded.is_object() || !recorded.contains("initialized_from")) return;
  const json& from = recorded["initialized_from"];
  KILN_CHECK(from.is_object() && from.contains("checkpoint") && from["checkpoint"].is_string(),
             DataError, path, ": initialized_from has no checkpoint path");
  const std::string started = from["checkpoint"];
  if (started == init.checkpoint) return;
  core::log_warn("--init " + init.checkpoint + ": the run resumed started from " + started +
                 ", which it goes on from");
  init = read_init(started, "");
  init.record = from;
}

void check_init_model(const ModelOptions& given, const Init& init) {
  const json defaults = core::schema::to_json(ModelOptions{});
  const json theirs = core::schema::to_json(init.model);
  const json mine = core::schema::to_json(given);
  for (const auto& [key, value] : mine.items())
    KILN_CHECK(value == defaults[key] || value == theirs[key], ConfigError, "model.", key, ": ",
               value.dump(), " is not the model of --init ", init.checkpoint, " (",
               theirs[key].dump(), "): a fine-tuning run trains that model as it is");
}

}  // namespace kiln::trainer

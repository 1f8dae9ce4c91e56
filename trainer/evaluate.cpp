#include "trainer/evaluate.h"

#include <filesystem>

#include "core/errors.h"
#include "core/sha256.h"
#include "registry/registry.h"

namespace kiln::trainer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

bool is_checkpoint(const std::string& path) {
  return registry::is_ref(path) || fs::exists(fs::path(path) / "MANIFEST.json") ||
         fs::exists(fs::path(path) / "checkpoints" / "latest");
}

// A baseline reference: `prior`, a scores file or a checkpoint `PATH` (named by its file
// stem), or `NAME=PATH`. A checkpoint scores `options.data`.
eval::Scored baseline(const std::string& ref, const eval::Scored& model,
                      const EvaluateOptions& options) {
  if (ref == "prior") return eval::prior_baseline(model.rows);
  const std::size_t eq = registry::is_ref(ref) ? std::string::npos : ref.find('=');
  std::string name = eq == std::string::npos ? fs::path(ref).stem().string() : ref.substr(0, eq);
  if (registry::is_ref(ref)) {  // by its alias, else its version
    const registry::Ref r = registry::parse_ref(ref);
    name = r.alias.empty() ? "v" + std::to_string(r.version) : r.alias;
  }
  const std::string path = eq == std::string::npos ? ref : ref.substr(eq + 1);
  KILN_CHECK(!name.empty() && !path.empty(), UsageError, "--baseline '", ref,
             "': expected prior, PATH or NAME=PATH");
  const bool checkpoint = is_checkpoint(path);
  KILN_CHECK(!checkpoint || !options.data.empty(), UsageError, "--baseline '", ref,
             "' is a checkpoint: give the rows to score with --data");
  eval::Scored b = checkpoint ? checkpoint_scores(name, path, options, nullptr)
                              : eval::scored_file(name, path, options.columns);
  KILN_CHECK(b.rows.rows() == model.rows.rows() && b.rows.labels() == model.rows.labels(),
             DataError, "baseline '", path,
             "' does not score the same rows with the same labels as '", model.source, "' (",
             b.rows.rows(), " vs ", model.rows.rows(), " rows)");
  return b;
}

}  // namespace

json evaluate(const EvaluateOptions& options) {
  KILN_CHECK(!options.scores.empty() || !options.model.empty(), UsageError,
             "give the scores to evaluate: --scores FILE, or --model CKPT --data PATH");
  KILN_CHECK(options.model.empty() || !options.data.empty(), UsageError,
             "--model needs --data: the dataset to score");
  json provenance;
  eval::Scored model;
  if (options.model.empty()) {
    model = eval::scored_file("model", options.scores, options.columns);
    provenance = {{"scores", options.scores}};
    if (fs::is_regular_file(options.scores))
      provenance["scores_sha256"] = core::sha256_file(options.scores);
  } else {
    json lineage;
    model = checkpoint_scores("model", options.model, options, &lineage);
    provenance = {{"model", lineage}};
  }
  std::vector<eval::Scored> baselines;
  for (const auto& ref : options.baselines)
    baselines.push_back(baseline(ref, model, options));
  return eval::evaluate(model, baselines, options.report, provenance);
}

}  // namespace kiln::trainer

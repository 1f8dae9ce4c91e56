#include "trainer/promote.h"

#include <stdlib.h>

#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "registry/registry.h"
#include "trainer/evaluate.h"

namespace kiln::trainer {

PromoteResult promote(const PromoteOptions& options) {
  registry::Registry reg(options.registry);
  registry::check_alias(options.to);
  const registry::ModelState state = reg.state(options.name);
  const registry::Resolved candidate =
      reg.resolve(registry::version_or_alias(options.name, options.from));
  PromoteResult result;
  result.candidate = candidate.version;
  result.champion = state.alias(options.to);
  KILN_CHECK(result.champion != candidate.version, UsageError, options.name, "@", options.to,
             " already holds ", candidate.text(), "; nothing to promote");
  registry::MoveOptions move{options.name, options.to, candidate.version,
                             result.champion.value_or(0), "promote"};
  if (options.force) {
    move.forced = true;
    reg.move_alias(move);
    result.moved = true;
    return result;
  }
  KILN_CHECK(!options.data.empty(), UsageError,
             "promote needs --data: the labelled rows both versions score (or --force)");
  EvaluateOptions eval;
  eval.model = "registry:" + candidate.ref.text();
  eval.registry = options.registry;
  eval.data = options.data;
  eval.device = options.device;
  eval.report = options.report;
  if (result.champion) {
    eval.baselines = {"champion=registry:" + options.name + "/v" +
                      std::to_string(*result.champion)};
    if (eval.report.gates.empty()) eval.report.gates = {kDefaultPromoteGate};
  }
  result.report = evaluate(eval);
  result.report["promotion"] = {
      {"name", options.name},
      {"alias", options.to},
      {"candidate", candidate.version},
      {"champion", result.champion ? nlohmann::json(*result.champion) : nlohmann::json(nullptr)}};
  // The evidence is kept whatever it says: attached to the candidate.
  std::string temp = (std::filesystem::temp_directory_path() / "kiln-promote-XXXXXX").string();
  KILN_CHECK(::mkdtemp(temp.data()) != nullptr, OutputError, "cannot create '", temp,
             "': ", errno_text(errno));
  try {
    eval::write_report(temp, result.report);
    result.report_id = reg.attach_report(options.name, candidate.version, temp);
  } catch (...) {
    core::remove_tree(temp);
    throw;
  }
  core::remove_tree(temp);
  bool passed = true;
  for (const auto& g : result.report["gates"])
    passed = passed && g.value("passed", false);
  if (!passed) return result;
  move.report = result.report_id;
  reg.move_alias(move);
  result.moved = true;
  return result;
}

}  // namespace kiln::trainer

#include "trainer/monitor.h"

#include <exception>
#include <filesystem>
#include <future>
#include <optional>
#include <utility>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/process.h"
#include "data/dataset.h"
#include "eval/drift_report.h"
#include "eval/report.h"
#include "eval/scores.h"
#include "kernels/device.h"
#include "registry/ref.h"
#include "registry/registry.h"

namespace kiln::trainer {

namespace fs = std::filesystem;

bool names_a_model(const std::string& reference) {
  if (registry::is_ref(reference)) return true;
  return fs::is_directory(reference) && (fs::exists(fs::path(reference) / "MANIFEST.json") ||
                                         fs::exists(fs::path(reference) / "checkpoints") ||
                                         fs::exists(fs::path(reference) / "latest"));
}

ModelReference read_model_reference(const std::string& model, const std::string& registry_flag) {
  const registry::ModelSource source = registry::resolve_model(model, registry_flag);
  const core::VerifiedCheckpoint checkpoint =
      core::verify_checkpoint(core::model_checkpoint(source.path));
  ModelReference r;
  r.checkpoint = checkpoint.path;
  r.source = source.registry ? source.registry->text() : checkpoint.path;
  const fs::path dir(checkpoint.path);
  for (const char* name : {"profile.json", "scores.json"})
    KILN_CHECK(fs::exists(dir / name), DataError, checkpoint.path, ": no ", name,
               " (a checkpoint written at an evaluation by this Kiln holds it; use a profile "
               "or a dataset as --reference instead)");
  r.profile = data::Profile::read((dir / "profile.json").string());
  const std::string scores_path = (dir / "scores.json").string();
  const auto scores =
      nlohmann::json::parse(core::read_file(scores_path, "scores reference"), nullptr, false);
  KILN_CHECK(!scores.is_discarded(), DataError, scores_path, ": not JSON");
  r.scores = eval::ScoreReference::from_json(scores, scores_path);
  r.dictionaries = data::checkpoint_dictionaries(checkpoint.path);
  return r;
}

eval::ModelScores current_scores(const ModelReference& reference,
                                 const std::shared_ptr<const data::Dataset>& data,
                                 const CurrentScores& options) {
  if (options.scores.empty()) return model_scores(reference, data, options);
  eval::ModelScores out;
  out.reference = reference.scores;
  eval::ScoreColumns columns;
  columns.need_labels = false;
  eval::Scores file = eval::read_scores(options.scores, columns);
  KILN_CHECK(file.rows() == data->rows(), DataError, options.scores, ": ", file.rows(),
             " scores for the ", data->rows(), " rows of ", data->path(),
             "; a scores file must score --data's rows, in order");
  out.scores = std::move(file.scores);
  out.labels = std::move(file.labels);
  out.source = options.scores;
  return out;
}

namespace {

// Whether the pass counts on the GPU: asked for (UsageError without one), or `auto` with a
// GPU and at least 10^8 numeric values to count. Below that the CPU's pass (some 4 * 10^7
// values a second a core) ends about when CUDA has started (0.2 to 0.5 s).
bool gpu_pass(DeviceChoice device, const data::Profile& reference, const data::Dataset& current) {
  if (device == DeviceChoice::kCpu) return false;
  if (device == DeviceChoice::kCuda) {
    KILN_CHECK(
        kernels::gpu_available(), UsageError, "--device cuda, but ",
        kernels::built_with_cuda() ? "there is no GPU here" : "this Kiln is built without CUDA");
    return true;
  }
  int64_t numeric = 0;
  for (const data::ColumnProfile& c : reference.columns)
    numeric += c.is_categorical() ? 0 : 1;
  return current.rows() * numeric >= 100'000'000 && kernels::gpu_available();
}

// The model's strings stand for its profile's record of them (a digest): `current`'s codes are
// compared with them string by string, so data whose dictionary is shorter but the same
// passes, and the record is dropped from `profile` for profile_against.
void check_model_codes(const ModelReference& model, const data::Dataset& current,
                       data::Profile& profile) {
  for (data::ColumnProfile& c : profile.columns) {
    if (c.is_categorical() && c.categorical.dictionary &&
        data::check_codes_with_model(current, c.name, *c.categorical.dictionary, model.dictionaries,
                                     model.checkpoint))
      c.categorical.dictionary.reset();
  }
}

}  // namespace

DriftResult check_drift(const DriftOptions& o) {
  const bool is_model = names_a_model(o.reference);
  KILN_CHECK(o.scores.empty() || is_model, UsageError,
             "--scores needs a model as --reference (a checkpoint, run or registry reference)");
  KILN_CHECK(o.by.empty() || !o.window.empty(), UsageError, "--by needs --window");
  const std::optional<data::WindowOptions> window =
      o.window.empty() ? std::nullopt : std::optional(eval::parse_window(o.by, o.window));
  // The reference is read (its JSON parsed, a dataset profiled) while --data's shards are
  // opened and proven; its errors come first, as when one followed the other.
  auto reading = std::async(std::launch::async, [&] {
    std::optional<ModelReference> model;
    if (is_model) model = read_model_reference(o.reference, o.registry);
    data::Profile profile = model ? model->profile
                            : fs::is_regular_file(o.reference)
                                ? data::Profile::read(o.reference)
                                : data::profile_dataset(*data::Dataset::open(o.reference));
    return std::pair(std::move(model), std::move(profile));
  });
  std::shared_ptr<const data::Dataset> current;
  std::exception_ptr open_error;
  try {
    // A CSV as --data: imported --like a model or dataset reference (a profile has no codes).
    if (is_model || fs::is_directory(o.reference))
      data::check_not_csv(o.data, is_model ? registry::model_words(o.reference, o.registry)
                                           : core::shell_word(o.reference));
    current = data::Dataset::open(o.data);
  } catch (...) {
    open_error = std::current_exception();
  }
  auto loaded = reading.get();
  const std::optional<ModelReference>& model = loaded.first;
  data::Profile& reference = loaded.second;
  if (open_error) std::rethrow_exception(open_error);
  eval::check_drift_options(o.drift, reference);  // 78 before the pass
  eval::drift_gates(o.drift.gates, reference, model.has_value());
  data::ProfileOptions pass;
  pass.gpu = gpu_pass(o.device, reference, *current);
  std::optional<eval::ModelScores> scores;
  if (model) {
    check_model_codes(*model, *current, reference);
    scores = current_scores(*model, current, {o.scores, o.device});
  }
  const eval::ModelScores* model_scores = scores ? &*scores : nullptr;
  eval::WindowedDrift pass_result;  // without windows, only its current profile
  auto run_pass = [&] {
    if (window)
      pass_result = eval::windowed_drift(reference, *current, *window, o.drift, model_scores, pass);
    else
      pass_result.current = data::profile_against(reference, *current, pass);
  };
  try {
    run_pass();
  } catch (const InternalError& e) {
    // `auto` chose the GPU, which failed (out of memory, another process's): the CPU's pass
    // gives the same profile. Asked for by name, the failure is the answer.
    if (!pass.gpu || o.device != DeviceChoice::kAuto) throw;
    core::log_warn(std::string("--device auto: the pass on the GPU failed (") + e.what() +
                   "); counting on the CPU");
    pass.gpu = false;
    run_pass();
  }
  // The current profile is written while the statistics and the reports are made.
  const data::Profile& profile = pass_result.current;
  core::make_directories(o.out);
  auto writing = std::async(std::launch::async,
                            [&] { profile.write((fs::path(o.out) / "profile.json").string()); });
  DriftResult result;
  if (window) {
    result.drift = std::move(pass_result.whole);
    result.report = result.drift.to_json(reference, profile, o.drift);
    eval::add_windows(result.report, pass_result.windows, *window, o.window);
  } else {
    result.drift = eval::data_drift(reference, profile, o.drift, model_scores);
    result.report = result.drift.to_json(reference, profile, o.drift);
  }
  // The HTML rendered while the Markdown is and the files are written.
  auto html =
      std::async(std::launch::async, [&] { return eval::render_drift_html(result.report); });
  const std::string markdown = eval::render_drift_markdown(result.report);
  result.report_text = eval::write_report_files(o.out, result.report, markdown, html.get());
  writing.get();
  return result;
}

}  // namespace kiln::trainer

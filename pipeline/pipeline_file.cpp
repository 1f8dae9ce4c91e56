// Reading a pipeline file: its keys, each step's fields for its kind, the names it uses and
// the graph (pipeline.h).
#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "core/config.h"
#include "core/errors.h"
#include "pipeline/pipeline.h"
#include "registry/registry.h"

namespace kiln::pipeline {

core::EnumNames<StepKind> enum_names(StepKind) {
  static constexpr std::pair<StepKind, std::string_view> names[] = {
      {StepKind::kValidate, "validate"}, {StepKind::kFit, "fit"},
      {StepKind::kSweep, "sweep"},       {StepKind::kEvaluate, "evaluate"},
      {StepKind::kRegister, "register"}, {StepKind::kPromote, "promote"},
      {StepKind::kReport, "report"}};
  return names;
}

namespace {

namespace fs = std::filesystem;

// The fields each kind takes (besides kind and after), and the ones it needs.
struct KindFields {
  std::set<std::string> takes, needs;
};
const KindFields& fields_of(StepKind kind) {
  static const std::map<StepKind, KindFields> fields = {
      {StepKind::kValidate, {{"datasets", "reference", "gates"}, {"datasets"}}},
      {StepKind::kFit, {{"config", "overrides", "init", "train", "valid"}, {"train", "valid"}}},
      {StepKind::kSweep,
       {{"config", "overrides", "train", "valid", "space", "trials", "workers"},
        {"train", "valid", "space"}}},
      {StepKind::kEvaluate, {{"model", "data", "baselines", "gates"}, {"model", "data"}}},
      {StepKind::kRegister, {{"model", "name", "alias", "reports", "tags"}, {"model", "name"}}},
      {StepKind::kPromote, {{"version", "to", "data", "gates"}, {"version", "data"}}},
      {StepKind::kReport, {{"steps"}, {}}}};
  return fields.at(kind);
}

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  Pipeline read() {
    const YAML::Node root = core::load_config_file(path_);
    Pipeline p;
    p.path = path_;
    core::schema::decode_root(root, p.file, path_, true);
    KILN_CHECK(!p.file.steps.empty(), ConfigError, path_, ": no steps");
    // Relative paths are the file's: a scheduled job runs it from anywhere.
    const fs::path base = fs::path(path_).parent_path();
    auto anchor = [&](std::string& path) {
      if (!path.empty() && fs::path(path).is_relative())
        path = (base / path).lexically_normal().string();
    };
    anchor(p.file.registry);
    for (auto& [name, path] : p.file.datasets)
      anchor(path);
    for (auto& [name, step] : p.file.steps) {
      anchor(step.config);
      anchor(step.space);
      // Models and references: registry references and `prior` are not paths.
      auto anchor_model = [&](std::string& text) {
        if (text.rfind("registry:", 0) != 0 && text != "prior") anchor(text);
      };
      anchor_model(step.init);
      anchor_model(step.reference);
      for (std::string& b : step.baselines) {  // PATH or NAME=PATH
        const std::size_t eq = b.find('=');
        std::string model = eq == std::string::npos ? b : b.substr(eq + 1);
        anchor_model(model);
        b = eq == std::string::npos ? model : b.substr(0, eq + 1) + model;
      }
    }
    steps_ = root["steps"];
    std::vector<std::string> file_order;
    for (const auto& item : steps_)
      file_order.push_back(item.first.Scalar());
    for (std::size_t i = 0; i < file_order.size(); ++i) {
      StepSpec& s = p.file.steps.at(file_order[i]);
      if (s.kind == StepKind::kReport && !steps_[file_order[i]]["steps"])
        s.steps.assign(file_order.begin(), file_order.begin() + static_cast<std::ptrdiff_t>(i));
      check_step(p, file_order[i]);
    }
    p.order = topological_order(p, file_order);
    return p;
  }

 private:
  // "<file>:<line>: steps.NAME[.FIELD]: "
  std::string where(const std::string& step, const std::string& field = "") const {
    YAML::Node node = steps_[step];
    if (!field.empty() && node[field]) node = node[field];
    const int line = node.Mark().line + 1;
    return path_ + ":" + std::to_string(line) + ": steps." + step + (field.empty() ? "" : ".") +
           field + ": ";
  }

  void check_step(Pipeline& p, const std::string& name) {
    KILN_CHECK(!name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                                    std::string::npos,
               ConfigError, where(name), "a step's name is letters, digits, '_' and '-'");
    const StepSpec& s = p.file.steps.at(name);
    const KindFields& kind = fields_of(s.kind);
    for (const auto& item : steps_[name]) {
      const std::string key = item.first.Scalar();
      KILN_CHECK(key == "kind" || key == "after" || kind.takes.contains(key), ConfigError,
                 where(name, key), "a ", core::enum_name(s.kind), " step takes no '", key,
                 "' (it takes ", join(kind.takes), ")");
    }
    for (const std::string& key : kind.needs)
      KILN_CHECK(steps_[name][key], ConfigError, where(name), "a ", core::enum_name(s.kind),
                 " step needs '", key, "'");
    auto dataset = [&](const std::string& field, const std::string& value) {
      KILN_CHECK(p.file.datasets.contains(value), ConfigError, where(name, field), "no dataset '",
                 value, "' in `datasets`", suggestion(value, keys(p.file.datasets)));
    };
    for (const std::string& d : s.datasets)
      dataset("datasets", d);
    for (const auto* field : {&s.train, &s.valid, &s.data})
      if (!field->empty())
        dataset(field == &s.train ? "train" : field == &s.valid ? "valid" : "data", *field);
    std::vector<std::string>& inputs = p.inputs[name];
    auto step = [&](const std::string& field, const std::string& value,
                    std::optional<StepKind> must_be) {
      KILN_CHECK(value != name, ConfigError, where(name, field), "a step cannot read itself");
      const auto it = p.file.steps.find(value);
      KILN_CHECK(it != p.file.steps.end(), ConfigError, where(name, field), "no step '", value, "'",
                 suggestion(value, keys(p.file.steps)));
      // A sweep step's model is its best trial's config fitted: it stands where a fit does.
      const bool trains = must_be == StepKind::kFit && it->second.kind == StepKind::kSweep;
      KILN_CHECK(!must_be || it->second.kind == *must_be || trains, ConfigError, where(name, field),
                 "step '", value, "' is of kind ", core::enum_name(it->second.kind), ", not ",
                 core::enum_name(*must_be));
      if (std::find(inputs.begin(), inputs.end(), value) == inputs.end()) inputs.push_back(value);
    };
    for (const std::string& a : s.after)
      step("after", a, std::nullopt);
    if (!s.model.empty()) step("model", s.model, StepKind::kFit);
    for (const std::string& r : s.reports)
      step("reports", r, StepKind::kEvaluate);
    if (!s.version.empty()) step("version", s.version, StepKind::kRegister);
    for (const std::string& shown : s.steps)
      step("steps", shown, std::nullopt);
    KILN_CHECK(s.trials >= 1 && s.trials <= 100000, ConfigError, where(name, "trials"),
               "trials must be 1 to 100000");
    KILN_CHECK(s.workers >= 1 && s.workers <= 1024, ConfigError, where(name, "workers"),
               "workers must be 1 to 1024");
    if (s.kind == StepKind::kRegister) registry::check_name(s.name, "steps." + name + ".name");
    if (s.kind == StepKind::kRegister && !s.alias.empty()) registry::check_alias(s.alias);
    if (s.kind == StepKind::kPromote) registry::check_alias(s.to);
    if (s.kind == StepKind::kPromote) {
      KILN_CHECK(p.file.steps.at(s.version).name.size() > 0, ConfigError, where(name, "version"),
                 "step '", s.version, "' names no model");
    }
  }

  // Kahn's order, ties in the file's order; a cycle names its steps.
  std::vector<std::string> topological_order(const Pipeline& p,
                                             const std::vector<std::string>& file_order) const {
    std::vector<std::string> order;
    std::set<std::string> done;
    while (order.size() < file_order.size()) {
      bool progressed = false;
      for (const std::string& name : file_order) {
        if (done.contains(name)) continue;
        bool ready = true;
        for (const std::string& input : p.inputs.at(name))
          ready = ready && done.contains(input);
        if (!ready) continue;
        order.push_back(name);
        done.insert(name);
        progressed = true;
      }
      if (!progressed) throw ConfigError(cycle_message(p, file_order, done));
    }
    return order;
  }

  // A cycle among the steps not done: from the first, follow inputs not done until a step
  // repeats; the steps from its first visit on are the cycle.
  std::string cycle_message(const Pipeline& p, const std::vector<std::string>& file_order,
                            const std::set<std::string>& done) const {
    std::string at;
    for (const std::string& name : file_order)
      if (!done.contains(name) && at.empty()) at = name;
    std::vector<std::string> path;
    while (std::find(path.begin(), path.end(), at) == path.end()) {
      path.push_back(at);
      for (const std::string& input : p.inputs.at(at))
        if (!done.contains(input)) {
          at = input;
          break;
        }
    }
    std::vector<std::string> cycle(std::find(path.begin(), path.end(), at), path.end());
    cycle.push_back(cycle.front());
    std::string chain;
    for (const std::string& name : cycle)
      chain += (chain.empty() ? "" : " -> ") + name;
    return where(cycle.front()) + "a cycle: " + chain + " (each reads the next)";
  }

  template <class M>
  static std::vector<std::string> keys(const M& map) {
    std::vector<std::string> out;
    for (const auto& [k, v] : map)
      out.push_back(k);
    return out;
  }
  static std::string suggestion(const std::string& value, const std::vector<std::string>& known) {
    const std::string nearest = core::nearest_key(value, known);
    return nearest.empty() ? "" : " (did you mean '" + nearest + "'?)";
  }

  std::string path_;
  YAML::Node steps_;
};

}  // namespace

Pipeline read_pipeline(const std::string& path) {
  return Reader(path).read();
}

}  // namespace kiln::pipeline

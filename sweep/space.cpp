#include "sweep/space.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>

#include "core/config.h"
#include "core/errors.h"
#include "core/utf8.h"
#include "data/random.h"

namespace kiln::sweep {
namespace {

using json = nlohmann::json;

double number(const json& v, const std::string& where) {
  KILN_CHECK(v.is_number(), ConfigError, where, ": expected a number, got ", v.dump());
  return v.get<double>();
}

Param parse_param(const std::string& key, const YAML::Node& spec, const std::string& source) {
  const std::string where = source + ": " + key;
  Param p;
  p.key = key;
  if (spec.IsSequence()) {
    p.kind = Param::Kind::kGrid;
    for (const auto& item : spec)
      p.values.push_back(core::yaml_to_json(item));
  } else {
    KILN_CHECK(spec.IsMap() && spec.size() == 1, ConfigError, where,
               ": expected a list of values or one of {grid: [...]}, {choice: [...]}, "
               "{uniform: [lo, hi]}, {log_uniform: [lo, hi]}, {int: [lo, hi]} (fixed values "
               "belong in the base config; keys are dotted, e.g. optim.lr)");
    const std::string kind = spec.begin()->first.as<std::string>();
    const json body = core::yaml_to_json(spec.begin()->second);
    KILN_CHECK(body.is_array(), ConfigError, where, ".", kind, ": expected a list, got ",
               body.dump());
    if (kind == "grid" || kind == "choice") {
      p.kind = kind == "grid" ? Param::Kind::kGrid : Param::Kind::kChoice;
      p.values.assign(body.begin(), body.end());
    } else {
      KILN_CHECK(kind == "uniform" || kind == "log_uniform" || kind == "int", ConfigError, where,
                 ": unknown kind '", kind, "'; expected grid, choice, uniform, log_uniform or int");
      KILN_CHECK(body.size() == 2, ConfigError, where, ".", kind, ": expected [lo, hi], got ",
                 body.dump());
      p.kind = kind == "uniform"       ? Param::Kind::kUniform
               : kind == "log_uniform" ? Param::Kind::kLogUniform
                                       : Param::Kind::kInt;
      p.low = number(body[0], where + ".lo");
      p.high = number(body[1], where + ".hi");
      KILN_CHECK(std::isfinite(p.low) && std::isfinite(p.high) && p.low <= p.high, ConfigError,
                 where, ": expected finite lo <= hi, got [", p.low, ", ", p.high, "]");
      KILN_CHECK(p.kind != Param::Kind::kLogUniform || p.low > 0, ConfigError, where,
                 ": log_uniform needs lo > 0, got ", p.low);
      KILN_CHECK(p.kind != Param::Kind::kInt ||
                     (p.low == std::floor(p.low) && p.high == std::floor(p.high)),
                 ConfigError, where, ": int needs integer bounds, got [", p.low, ", ", p.high, "]");
    }
  }
  if (p.kind == Param::Kind::kGrid || p.kind == Param::Kind::kChoice)
    KILN_CHECK(!p.values.empty(), ConfigError, where, ": the list of values is empty");
  return p;
}

json draw(const Param& p, data::CounterRng& rng) {
  switch (p.kind) {
    case Param::Kind::kGrid:
    case Param::Kind::kChoice:
      return p.values[rng.below(p.values.size())];
    case Param::Kind::kUniform:
      return p.low + (p.high - p.low) * rng.uniform();
    case Param::Kind::kLogUniform:
      return std::exp(std::log(p.low) + (std::log(p.high) - std::log(p.low)) * rng.uniform());
    case Param::Kind::kInt:
      return static_cast<int64_t>(p.low) +
             static_cast<int64_t>(rng.below(static_cast<uint64_t>(p.high - p.low) + 1));
  }
  return nullptr;
}

}  // namespace

SearchSpace parse_space(const std::string& yaml_text, const std::string& source) {
  const std::string fault = core::utf8_fault(yaml_text);  // its values go into JSON
  KILN_CHECK(fault.empty(), ConfigError, source, ": the file is ", fault);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": not valid YAML: " + e.what());
  }
  KILN_CHECK(root.IsMap() && root.size() > 0, ConfigError, source,
             ": expected a map from config keys to their ranges");
  SearchSpace space;
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    for (const Param& p : space.params)
      KILN_CHECK(p.key != key, ConfigError, source, ": ", key, " is given twice");
    space.params.push_back(parse_param(key, item.second, source));
  }
  return space;
}

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> names = {"grid", "random"};
  return names;
}

std::vector<Params> sample(const SearchSpace& space, const std::string& sampler, int64_t trials,
                           uint64_t seed) {
  std::vector<Params> out;
  if (sampler == "grid") {
    std::size_t combinations = 1;
    for (const Param& p : space.params) {
      KILN_CHECK(p.kind == Param::Kind::kGrid || p.kind == Param::Kind::kChoice, ConfigError, p.key,
                 ": a grid sweep needs a list of values, not a range (use --sampler random)");
      combinations *= p.values.size();
      KILN_CHECK(combinations <= 100000, ConfigError, "the grid has over 100000 combinations");
    }
    KILN_CHECK(trials == 0 || static_cast<std::size_t>(trials) == combinations, ConfigError,
               "--trials: a grid sweep runs every combination (", combinations,
               "); leave --trials out");
    for (std::size_t i = 0; i < combinations; ++i) {
      Params params = Params::object();
      std::size_t rest = i;
      std::vector<json> values(space.params.size());
      for (std::size_t k = space.params.size(); k-- > 0;) {
        const auto& v = space.params[k].values;
        values[k] = v[rest % v.size()];
        rest /= v.size();
      }
      for (std::size_t k = 0; k < space.params.size(); ++k)
        params[space.params[k].key] = values[k];
      out.push_back(std::move(params));
    }
    return out;
  }
  KILN_CHECK(sampler == "random", ConfigError, "--sampler: unknown sampler '", sampler,
             "'; expected grid or random");
  KILN_CHECK(trials > 0 && trials <= 100000, ConfigError,
             "--trials: a random sweep needs 1 to 100000 trials, got ", trials);
  for (int64_t i = 0; i < trials; ++i) {
    data::CounterRng rng(data::mix_keys(seed, static_cast<uint64_t>(i)));
    Params params = Params::object();
    for (const Param& p : space.params)
      params[p.key] = draw(p, rng);
    out.push_back(std::move(params));
  }
  return out;
}

std::vector<std::string> overrides_of(const Params& params) {
  std::vector<std::string> out;
  for (const auto& [key, value] : params.items())
    out.push_back(key + "=" + value.dump());
  return out;
}

}  // namespace kiln::sweep

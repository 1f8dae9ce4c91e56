// Feature-transform steps from the config: the step registry, parsing, and matching
// columns to their steps.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/errors.h"
#include "core/glob.h"
#include "transform/spec.h"

namespace kiln::transform {
namespace {

using data::Role;

// ---- steps: `name` or `name(arg, key=value, ...)` ----

struct StepInfo {
  const char* name;
  std::vector<const char*> params;  // the first one may also be given without `key=`
  bool numeric;                     // allowed on numeric columns
  bool categorical;                 // allowed on categorical columns
  int order;                        // numeric steps must come in ascending order
};

const std::vector<StepInfo>& step_table() {
  static const std::vector<StepInfo> table = {
      {"log1p", {}, true, false, 0},
      {"impute", {"strategy", "value", "indicator"}, true, false, 1},
      {"standardize", {"method"}, true, false, 2},
      {"clip", {"mode", "low", "high", "bound"}, true, false, 3},
      {"bucketize", {"buckets"}, true, false, 4},
      {"vocabulary", {"top_k", "min_count"}, false, true, 0},
      {"hash", {"buckets", "seed"}, false, true, 0},
      {"drop", {}, true, true, 0},
  };
  return table;
}

std::string trim(std::string_view text) {
  std::size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return "";
  std::size_t end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

// One step's arguments by parameter name, read with type and range checks.
class StepArgs {
 public:
  StepArgs(const std::string& text, const std::string& where) : text_(text), where_(where) {
    std::size_t open = text.find('(');
    name_ = trim(text.substr(0, open));
    if (open != std::string::npos) {
      KILN_CHECK(text.back() == ')', ConfigError, where, ": step '", text,
                 "' must end with ')' (in a YAML flow list [a, b], quote a step whose arguments "
                 "contain commas)");
      std::string inside = text.substr(open + 1, text.size() - open - 2);
      std::stringstream parts(inside);
      std::string part;
      bool first = true;
      while (std::getline(parts, part, ',')) {
        std::size_t eq = part.find('=');
        std::string key = eq == std::string::npos ? "" : trim(part.substr(0, eq));
        std::string value = trim(eq == std::string::npos ? part : part.substr(eq + 1));
        KILN_CHECK(!value.empty() && (eq == std::string::npos || !key.empty()), ConfigError, where,
                   ": step '", text, "': empty argument");
        KILN_CHECK(!key.empty() || first, ConfigError, where, ": step '", text,
                   "': only the first argument may be given without a name");
        args_.push_back({key, value});
        first = false;
      }
    }
    for (const StepInfo& info : step_table()) {
      if (name_ == info.name) info_ = &info;
    }
    if (info_ == nullptr) {
      std::string known;
      for (const StepInfo& info : step_table())
        known += std::string(known.empty() ? "" : ", ") + info.name;
      throw ConfigError(detail::concat(where, ": unknown step '", name_, "' (known: ", known, ")"));
    }
    for (auto& arg : args_) {
      std::string& key = arg.first;
      if (key.empty()) {
        KILN_CHECK(!info_->params.empty(), ConfigError, where, ": step '", name_,
                   "' takes no arguments");
        key = info_->params.front();
      }
      bool known = false;
      for (const char* p : info_->params)
        known = known || key == p;
      KILN_CHECK(known, ConfigError, where, ": step '", name_, "' has no argument '", key, "'");
    }
  }

  const StepInfo& info() const { return *info_; }
  const std::string& name() const { return name_; }
  bool has(const char* key) const { return find(key) != nullptr; }

  std::string word(const char* key, std::string fallback,
                   std::initializer_list<const char*> allowed) const {
    const std::string* value = find(key);
    std::string result = value ? *value : std::move(fallback);
    for (const char* a : allowed) {
      if (result == a) return result;
    }
    std::string list;
    for (const char* a : allowed)
      list += std::string(list.empty() ? "" : ", ") + a;
    throw ConfigError(detail::concat(where_, ": step '", text_, "': ", key, " must be one of ",
                                     list, ", got '", result, "'"));
  }

  double number(const char* key, double fallback) const {
    const std::string* value = find(key);
    if (value == nullptr) return fallback;
    double result = 0;
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), result);
    KILN_CHECK(ec == std::errc() && end == value->data() + value->size() && std::isfinite(result),
               ConfigError, where_, ": step '", text_, "': ", key,
               " must be a finite number, got '", *value, "'");
    return result;
  }

  int64_t integer(const char* key, int64_t fallback, int64_t min, int64_t max) const {
    double value = number(key, static_cast<double>(fallback));
    KILN_CHECK(value == std::floor(value) && value >= static_cast<double>(min) &&
                   value <= static_cast<double>(max),
               ConfigError, where_, ": step '", text_, "': ", key, " must be an integer in [", min,
               ", ", max, "]");
    return static_cast<int64_t>(value);
  }

 private:
  const std::string* find(const char* key) const {
    for (const auto& [k, v] : args_) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  std::string text_, where_, name_;
  const StepInfo* info_ = nullptr;
  std::vector<std::pair<std::string, std::string>> args_;
};

void read_step(const StepArgs& args, ColumnSpec& spec, const std::string& where) {
  const std::string& name = args.name();
  if (name == "drop") {
    spec.drop = true;
  } else if (name == "log1p") {
    spec.log1p = true;
  } else if (name == "impute") {
    std::string strategy = args.word("strategy", "median", {"mean", "median", "constant"});
    spec.impute = strategy == "mean"     ? ColumnSpec::Impute::kMean
                  : strategy == "median" ? ColumnSpec::Impute::kMedian
                                         : ColumnSpec::Impute::kConstant;
    KILN_CHECK(!args.has("value") || spec.impute == ColumnSpec::Impute::kConstant, ConfigError,
               where, ": impute takes a value only with the constant strategy");
    spec.impute_value = args.number("value", 0);
    std::string indicator = args.word("indicator", "auto", {"auto", "true", "false"});
    spec.indicator = indicator == "auto"   ? ColumnSpec::Indicator::kAuto
                     : indicator == "true" ? ColumnSpec::Indicator::kOn
                                           : ColumnSpec::Indicator::kOff;
  } else if (name == "standardize") {
    spec.standardize = args.word("method", "z", {"z", "robust"}) == "z"
                           ? ColumnSpec::Standardize::kZ
                           : ColumnSpec::Standardize::kRobust;
  } else if (name == "clip") {
    std::string mode = args.word("mode", "quantile", {"quantile", "value", "smooth"});
    spec.clip = mode == "smooth"  ? ColumnSpec::Clip::kSmooth
                : mode == "value" ? ColumnSpec::Clip::kValue
                                  : ColumnSpec::Clip::kQuantile;
    if (spec.clip == ColumnSpec::Clip::kSmooth) {
      KILN_CHECK(!args.has("low") && !args.has("high"), ConfigError, where,
                 ": clip(smooth) takes bound=, not low= or high=");
      spec.clip_bound = args.number("bound", 3);
      KILN_CHECK(spec.clip_bound > 0 && spec.clip_bound <= std::numeric_limits<float>::max(),
                 ConfigError, where, ": clip(smooth) needs a bound > 0, got ", spec.clip_bound);
    } else {
      bool quantile = spec.clip == ColumnSpec::Clip::kQuantile;
      KILN_CHECK(!args.has("bound"), ConfigError, where, ": clip(", mode,
                 ") takes low= and high=; bound= is clip(smooth)'s");
      KILN_CHECK(quantile || (args.has("low") && args.has("high")), ConfigError, where,
                 ": clip(value) needs low= and high=");
      spec.clip_low = args.number("low", 0.001);
      spec.clip_high = args.number("high", 0.999);
      KILN_CHECK(spec.clip_low <= spec.clip_high, ConfigError, where,
                 ": clip needs low <= high, got ", spec.clip_low, " > ", spec.clip_high);
      KILN_CHECK(!quantile || (spec.clip_low >= 0 && spec.clip_high <= 1), ConfigError, where,
                 ": clip(quantile) needs 0 <= low <= high <= 1");
    }
  } else if (name == "bucketize") {
    spec.bucketize = args.integer("buckets", 10, 2, 65536);
  } else if (name == "vocabulary") {
    spec.encode = ColumnSpec::Encode::kVocabulary;
    spec.top_k = args.integer("top_k", 100000, 1, std::numeric_limits<int32_t>::max() - 2);
    spec.min_count = args.integer("min_count", 1, 1, std::numeric_limits<int64_t>::max() / 2);
  } else if (name == "hash") {
    spec.encode = ColumnSpec::Encode::kHash;
    spec.hash_buckets = args.integer("buckets", 1024, 1, std::numeric_limits<int32_t>::max() - 1);
    spec.hash_seed = args.integer("seed", 0, 0, std::numeric_limits<uint32_t>::max());
  }
}

}  // namespace

const std::vector<std::string>& registered_steps() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const StepInfo& info : step_table())
      out.push_back(info.name);
    return out;
  }();
  return names;
}

ColumnSpec parse_steps(const std::vector<std::string>& steps, Role role, const std::string& where) {
  ColumnSpec spec;
  bool numeric = role == Role::kNumeric;
  int last_order = -1;
  std::string last;
  for (const std::string& text : steps) {
    StepArgs args(trim(text), where);
    const StepInfo& info = args.info();
    KILN_CHECK(numeric ? info.numeric : info.categorical, ConfigError, where, ": step '",
               args.name(), "' does not apply to ", numeric ? "numeric" : "categorical",
               " columns");
    KILN_CHECK(numeric || last.empty(), ConfigError, where,
               ": a categorical column takes exactly one step: vocabulary(...), hash(...) or drop");
    KILN_CHECK(info.order > last_order, ConfigError, where, ": step '", args.name(),
               "' cannot follow '", last,
               "' (the order is log1p, impute, standardize, clip or bucketize; each at most once)");
    last_order = info.order;
    last = args.name();
    read_step(args, spec, where);
  }
  KILN_CHECK(numeric || !steps.empty(), ConfigError, where,
             ": a categorical column takes exactly one step: vocabulary(...), hash(...) or drop");
  KILN_CHECK(!spec.drop || steps.size() == 1, ConfigError, where, ": 'drop' must be the only step");
  KILN_CHECK(spec.bucketize == 0 || (spec.standardize == ColumnSpec::Standardize::kNone &&
                                     spec.clip == ColumnSpec::Clip::kNone),
             ConfigError, where,
             ": bucketize takes log1p and impute before it, not standardize or clip");
  return spec;
}

std::vector<ColumnSpec> resolve_specs(const TransformOptions& options, const data::Schema& schema) {
  std::vector<ColumnSpec> specs;
  std::map<std::string, bool> used;
  for (const auto& [key, steps] : options.columns)
    used[key] = false;
  for (const data::Column& column : schema.columns) {
    bool feature = column.role == Role::kNumeric || column.role == Role::kCategorical;
    const std::string* key = core::matching_key(options.columns, column.name);
    if (key != nullptr) {
      used[*key] = true;
      KILN_CHECK(feature || !options.columns.count(column.name), ConfigError, "transform.columns.",
                 *key, ": column '", column.name, "' is the ", data::role_name(column.role),
                 " column, not a feature");
    }
    if (!feature) {
      ColumnSpec none;
      none.drop = true;
      specs.push_back(none);
      continue;
    }
    std::string where = key ? "transform.columns." + *key
                            : std::string("transform.") +
                                  (column.role == Role::kNumeric ? "numeric" : "categorical");
    const auto& steps =
        key ? options.columns.at(*key)
            : (column.role == Role::kNumeric ? options.numeric : options.categorical);
    specs.push_back(parse_steps(steps, column.role, where + " (column '" + column.name + "')"));
  }
  for (const auto& [key, was_used] : used) {
    KILN_CHECK(was_used, ConfigError, "transform.columns.", key,
               ": matches no column of the dataset");
  }
  return specs;
}

}  // namespace kiln::transform

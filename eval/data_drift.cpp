#include "eval/data_drift.h"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

#include "core/config.h"
#include "core/errors.h"
#include "core/glob.h"
#include "core/json_fields.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "eval/drift.h"

namespace kiln::eval {
namespace {

std::vector<double> as_doubles(const std::vector<int64_t>& counts) {
  return {counts.begin(), counts.end()};
}

// A categorical column's counts: its listed codes in order, then other.
std::vector<double> code_counts(const data::CategoricalProfile& p) {
  std::vector<double> out;
  for (const auto& [code, n] : p.codes)
    out.push_back(static_cast<double>(n));
  out.push_back(static_cast<double>(p.other));
  return out;
}

double share(int64_t part, int64_t rows) {
  return rows > 0 ? static_cast<double>(part) / static_cast<double>(rows) : 0;
}

// Distinct values among a quantile function's points (every value that holds at least one
// grid step of the mass appears); a profile's quantiles never decrease.
std::size_t distinct(const std::vector<double>& quantiles) {
  std::size_t n = quantiles.empty() ? 0 : 1;
  for (std::size_t i = 1; i < quantiles.size(); ++i)
    n += quantiles[i] != quantiles[i - 1] ? 1 : 0;
  return n;
}

// A column's entry in a `drift.methods` or `drift.thresholds` map (core::matching_key).
template <class T>
std::optional<T> rule_for(const std::map<std::string, T>& rules, const std::string& name) {
  const std::string* key = core::matching_key(rules, name);
  return key ? std::optional<T>(rules.at(*key)) : std::nullopt;
}

ColumnDrift column_drift(const data::ColumnProfile& r, const data::ColumnProfile& c,
                         int64_t reference_rows, int64_t current_rows, const DataDriftOptions& o) {
  ColumnDrift d;
  d.name = r.name;
  d.role = r.role;
  const bool small = reference_rows <= o.small_reference;
  std::vector<double> ref_counts, cur_counts;
  bool as_categories = r.is_categorical();
  if (r.is_categorical()) {
    ref_counts = code_counts(r.categorical);
    cur_counts = code_counts(c.categorical);
    d.missing_reference = share(r.categorical.missing, reference_rows);
    d.missing_current = share(c.categorical.missing, current_rows);
  } else {
    ref_counts = as_doubles(r.numeric.counts);
    cur_counts = as_doubles(c.numeric.counts);
    d.missing_reference = share(r.numeric.missing, reference_rows);
    d.missing_current = share(c.numeric.missing, current_rows);
    d.ks = ks_statistic(r.numeric.quantiles, c.numeric.quantiles);
    d.ks_p = ks_p_value(d.ks, r.numeric.count, c.numeric.count);
    const double grid = r.numeric.quantiles.size() > 1
                            ? 1.0 / static_cast<double>(r.numeric.quantiles.size() - 1)
                            : 0;
    d.ks_bound = r.numeric.rank_error + c.numeric.rank_error + grid;
    if (r.numeric.quantiles.size() == c.numeric.quantiles.size() && !r.numeric.quantiles.empty()) {
      const double n = static_cast<double>(r.numeric.count);
      const double std = std::sqrt(r.numeric.variance * (n > 1 ? (n - 1) / n : 1));  // np.std
      d.wasserstein =
          wasserstein1(r.numeric.quantiles, c.numeric.quantiles, false) / (std > 0 ? std : 1.0);
    }
    as_categories = distinct(r.numeric.quantiles) <= 5;  // Evidently: 5 values or fewer
  }
  d.psi = psi(ref_counts, cur_counts);
  d.js = js_distance(ref_counts, cur_counts);
  const ChiSquare chi = chi_square(ref_counts, cur_counts);
  d.chi2 = chi.statistic;
  d.chi2_p = chi.p_value;
  DriftMethod method = rule_for(o.methods, r.name).value_or(o.method);
  if (r.is_categorical() && (method == DriftMethod::kKs || method == DriftMethod::kWasserstein))
    method = DriftMethod::kAuto;  // the global method is for numeric columns only (checked)
  if (method == DriftMethod::kAuto)
    method = small ? (as_categories ? DriftMethod::kChiSquare : DriftMethod::kKs)
                   : (as_categories ? DriftMethod::kJensenShannon : DriftMethod::kWasserstein);
  const bool tested = method == DriftMethod::kKs || method == DriftMethod::kChiSquare;
  d.method = std::string(core::enum_name(method));
  d.threshold =
      rule_for(o.thresholds, r.name).value_or(tested ? o.p_threshold : o.distance_threshold);
  d.score = method == DriftMethod::kPsi             ? d.psi
            : method == DriftMethod::kJensenShannon ? d.js
            : method == DriftMethod::kWasserstein   ? d.wasserstein
            : method == DriftMethod::kKs            ? d.ks_p
                                                    : d.chi2_p;
  d.drifted = tested ? d.score < d.threshold : d.score >= d.threshold;
  // A side with no values (all missing or infinite): no distribution to compare. It drifts
  // when the other side has values; every statistic of the values is undefined.
  const int64_t ref_values = r.is_categorical() ? r.categorical.count : r.numeric.count;
  const int64_t cur_values = r.is_categorical() ? c.categorical.count : c.numeric.count;
  if (ref_values == 0 || cur_values == 0) {
    const double undefined = std::numeric_limits<double>::quiet_NaN();
    d.psi = d.js = d.chi2 = d.chi2_p = d.ks = d.ks_p = d.wasserstein = d.score = undefined;
    d.drifted = (ref_values == 0) != (cur_values == 0);
    d.note = ref_values == 0 ? "the reference has no values" : "no values";
    if (ref_values == 0 && cur_values == 0) d.note = "no values on either side";
  }
  return d;
}

// A gate's name split into its statistic and column ("psi.amount": psi, amount); the column
// is "" for the dataset's names.
std::pair<std::string, std::string> split_name(const std::string& name) {
  for (const std::string& prefix : drift_gate_names().prefixes)
    if (name.starts_with(prefix))
      return {prefix.substr(0, prefix.size() - 1), name.substr(prefix.size())};
  return {name, ""};
}

// The model's names: prediction.STATISTIC and estimated|reference|realized.auroc.
bool model_name(const std::string& name) {
  return name.starts_with("prediction.") || name.ends_with(".auroc");
}

std::optional<double> column_value(const ColumnDrift& c, const std::string& statistic) {
  if (statistic == "psi") return c.psi;
  if (statistic == "js") return c.js;
  if (statistic == "ks") return c.ks;
  if (statistic == "wasserstein") return c.wasserstein;
  if (statistic == "chi2_p") return c.chi2_p;
  if (statistic == "score") return c.score;
  if (statistic == "missing") return c.missing_current;
  return std::nullopt;
}

std::string short_number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", v);
  return buffer;
}

// A column's histogram on the reference's bins or codes, for the report's charts: a label
// per bar and the two sides' counts, with missing values (and infinities) as bars of their
// own when either side has any.
nlohmann::ordered_json histogram(const data::ColumnProfile& r, const data::ColumnProfile& c) {
  std::vector<std::string> labels;
  std::vector<double> ref, cur;
  int64_t ref_missing = 0, cur_missing = 0, ref_inf = 0, cur_inf = 0;
  if (r.is_categorical()) {
    for (const auto& [code, n] : r.categorical.codes)
      labels.push_back(std::to_string(code));
    labels.push_back("other");
    ref = code_counts(r.categorical);
    cur = code_counts(c.categorical);
    ref_missing = r.categorical.missing;
    cur_missing = c.categorical.missing;
  } else {
    const auto& edges = r.numeric.edges;
    for (std::size_t i = 0; i <= edges.size(); ++i)
      labels.push_back(edges.empty()       ? "all"
                       : i == 0            ? "< " + short_number(edges[0])
                       : i == edges.size() ? ">= " + short_number(edges.back())
                                           : "[" + short_number(edges[i - 1]) + ", " +
                                                 short_number(edges[i]) + ")");
    ref = as_doubles(r.numeric.counts);
    cur = as_doubles(c.numeric.counts);
    ref_missing = r.numeric.missing;
    cur_missing = c.numeric.missing;
    ref_inf = r.numeric.pos_inf + r.numeric.neg_inf;
    cur_inf = c.numeric.pos_inf + c.numeric.neg_inf;
  }
  auto extra = [&](const char* label, int64_t a, int64_t b) {
    if (a == 0 && b == 0) return;
    labels.push_back(label);
    ref.push_back(static_cast<double>(a));
    cur.push_back(static_cast<double>(b));
  };
  extra("missing", ref_missing, cur_missing);
  extra("inf", ref_inf, cur_inf);
  return {{"labels", labels}, {"reference", ref}, {"current", cur}};
}

nlohmann::ordered_json column_json(const ColumnDrift& c, const data::ColumnProfile& reference,
                                   const data::ColumnProfile& current) {
  nlohmann::ordered_json j = {{"name", c.name},
                              {"role", std::string(data::role_name(c.role))},
                              {"method", c.method},
                              {"score", core::finite_or_null(c.score)},
                              {"threshold", c.threshold},
                              {"drifted", c.drifted},
                              {"psi", core::finite_or_null(c.psi)},
                              {"js", core::finite_or_null(c.js)},
                              {"chi2", core::finite_or_null(c.chi2)},
                              {"chi2_p", core::finite_or_null(c.chi2_p)},
                              {"missing_reference", c.missing_reference},
                              {"missing_current", c.missing_current}};
  if (!c.note.empty()) j["note"] = c.note;
  if (c.role != data::Role::kCategorical)
    j.update({{"ks", core::finite_or_null(c.ks)},
              {"ks_p", core::finite_or_null(c.ks_p)},
              {"ks_bound", c.ks_bound},
              {"wasserstein", core::finite_or_null(c.wasserstein)}});
  j["histogram"] = histogram(reference, current);
  return j;
}

}  // namespace

void check_drift_options(const DataDriftOptions& o, const data::Profile& reference) {
  KILN_CHECK(o.share_threshold >= 0 && o.share_threshold <= 1, ConfigError,
             "drift.share_threshold must be in [0, 1], got ", o.share_threshold);
  KILN_CHECK(o.p_threshold > 0 && o.p_threshold < 1, ConfigError,
             "drift.p_threshold must be in (0, 1), got ", o.p_threshold);
  KILN_CHECK(o.distance_threshold > 0, ConfigError,
             "drift.distance_threshold must be positive, got ", o.distance_threshold);
  KILN_CHECK(o.small_reference >= 0, ConfigError, "drift.small_reference must not be negative");
  std::vector<std::string> names = {"prediction"};  // a model's scores
  for (const auto& c : reference.columns)
    names.push_back(c.name);
  auto matches = [&](const std::string& pattern) {
    std::vector<const data::ColumnProfile*> out;
    for (const auto& c : reference.columns)
      if (::fnmatch(pattern.c_str(), c.name.c_str(), 0) == 0) out.push_back(&c);
    return out;
  };
  auto known = [&](const char* key, const std::string& pattern) {
    KILN_CHECK(pattern == "prediction" || !matches(pattern).empty(), ConfigError, "drift.", key,
               ": '", pattern, "' matches no column of the reference; nearest: '",
               core::nearest_key(pattern, names), "'");
  };
  for (const auto& [pattern, method] : o.methods) {
    known("methods", pattern);
    if (method != DriftMethod::kKs && method != DriftMethod::kWasserstein) continue;
    for (const data::ColumnProfile* c : matches(pattern))
      KILN_CHECK(!c->is_categorical(), ConfigError, "drift.methods: '", pattern, "' gives ",
                 core::enum_name(method), " to '", c->name,
                 "', a categorical column; ks and wasserstein are for numeric columns");
  }
  for (const auto& [pattern, threshold] : o.thresholds) {
    known("thresholds", pattern);
    KILN_CHECK(threshold > 0 && std::isfinite(threshold), ConfigError, "drift.thresholds: '",
               pattern, "' must be a positive number, got ", threshold);
  }
}

const GateNames& drift_gate_names() {
  static const GateNames names{
      {"drift_share", "drifted_columns", "prediction.psi", "prediction.js", "prediction.ks",
       "prediction.wasserstein", "prediction.score", "estimated.auroc", "reference.auroc",
       "realized.auroc"},
      {"psi.", "js.", "ks.", "wasserstein.", "chi2_p.", "score.", "missing."},
      false,
      "'drift_share < 0.3' or 'psi.amount < 0.2'; see docs/MONITORING.md"};
  return names;
}

std::vector<Gate> drift_gates(const std::vector<std::string>& texts, const data::Profile& reference,
                              bool with_model) {
  std::vector<std::string> columns;
  for (const auto& c : reference.columns)
    columns.push_back(c.name);
  std::vector<Gate> gates;
  for (const std::string& text : texts) {
    gates.push_back(parse_gate(text, drift_gate_names()));
    for (const GateSide* side : {&gates.back().left, &gates.back().right}) {
      if (!side->ref) continue;
      KILN_CHECK(with_model || !model_name(side->ref->metric), ConfigError, "gate '", text, "': '",
                 side->ref->metric,
                 "' needs a model: give a checkpoint, run or registry reference as --reference");
      const auto [statistic, column] = split_name(side->ref->metric);
      if (column.empty()) continue;
      const data::ColumnProfile* c = reference.find(column);
      KILN_CHECK(c != nullptr, ConfigError, "gate '", text, "': no column '", column,
                 "' in the reference; nearest: '", core::nearest_key(column, columns), "'");
      KILN_CHECK(!c->is_categorical() || (statistic != "ks" && statistic != "wasserstein"),
                 ConfigError, "gate '", text, "': '", column, "' is categorical; ", statistic,
                 " is for numeric columns");
    }
  }
  return gates;
}

ModelDrift model_drift(const ModelScores& m, const DataDriftOptions& o) {
  ModelDrift d;
  d.source = m.source;
  d.reference_scores = m.reference.profile.columns.at(0);
  d.reference_scores.name = "prediction";  // drift.methods and drift.thresholds call it so
  const std::vector<float> scores(m.scores.begin(), m.scores.end());
  d.current_scores.name = "prediction";
  d.current_scores.numeric = data::profile_values_against(d.reference_scores.numeric, scores.data(),
                                                          static_cast<int64_t>(scores.size()));
  d.prediction = column_drift(d.reference_scores, d.current_scores, m.reference.rows,
                              static_cast<int64_t>(scores.size()), o);
  d.prediction.name = "prediction";
  d.reference_auroc = m.reference.auroc;
  d.estimated_auroc = estimated_auroc(m.reference, m.scores);
  d.realized_auroc = std::numeric_limits<double>::quiet_NaN();
  // Labels known for every row, both classes among them (unknown labels may be NaN).
  const auto& y = m.labels;
  const bool known = y.size() == m.scores.size() &&
                     std::all_of(y.begin(), y.end(), [](float v) { return v == 0 || v == 1; });
  const bool both = std::find(y.begin(), y.end(), 0.0f) != y.end() &&
                    std::find(y.begin(), y.end(), 1.0f) != y.end();
  if (known && both) {
    BinaryAccumulator rows;
    rows.add(m.scores.data(), m.labels.data(), nullptr, static_cast<int64_t>(m.scores.size()),
             m.source);
    d.realized_auroc = rows.value().auroc;
  }
  return d;
}

DataDrift data_drift(const data::Profile& reference, const data::Profile& current,
                     const DataDriftOptions& o, const ModelScores* model) {
  KILN_ASSERT(reference.columns.size() == current.columns.size(),
              "data_drift: the current profile is not the reference's columns");
  // Every column but a label without values (data to score has none).
  std::vector<std::size_t> compared;
  for (std::size_t i = 0; i < reference.columns.size(); ++i)
    if (reference.columns[i].role != data::Role::kLabel || current.columns[i].numeric.count > 0)
      compared.push_back(i);
  DataDrift out;
  out.columns.resize(compared.size());
  core::ThreadPool(0).parallel_for(static_cast<int64_t>(out.columns.size()), [&](int64_t k) {
    const std::size_t i = compared[static_cast<std::size_t>(k)];
    out.columns[static_cast<std::size_t>(k)] =
        column_drift(reference.columns[i], current.columns[i], reference.rows, current.rows, o);
  });
  for (std::size_t k = 0; k < compared.size(); ++k) {
    if (reference.columns[compared[k]].role == data::Role::kLabel) continue;
    ++out.features;
    out.drifted += out.columns[k].drifted ? 1 : 0;
  }
  out.share = out.features > 0 ? static_cast<double>(out.drifted) / out.features : 0;
  out.dataset_drifted = out.features > 0 && out.share >= o.share_threshold;
  std::stable_sort(out.columns.begin(), out.columns.end(), [](const auto& a, const auto& b) {
    return a.drifted != b.drifted ? a.drifted : a.psi > b.psi;
  });
  if (model != nullptr) out.model = model_drift(*model, o);
  const GateLookup lookup = [&out](const GateRef& ref) -> std::optional<double> {
    if (model_name(ref.metric)) {
      if (!out.model) return std::nullopt;
      const ModelDrift& m = *out.model;
      if (ref.metric == "estimated.auroc") return m.estimated_auroc;
      if (ref.metric == "reference.auroc") return m.reference_auroc;
      if (ref.metric == "realized.auroc") return m.realized_auroc;
      return column_value(m.prediction, ref.metric.substr(std::string("prediction.").size()));
    }
    const auto [statistic, column] = split_name(ref.metric);
    if (column.empty())
      return statistic == "drift_share" ? out.share : static_cast<double>(out.drifted);
    for (const ColumnDrift& c : out.columns)
      if (c.name == column) return column_value(c, statistic);
    return std::nullopt;
  };
  for (const Gate& gate : drift_gates(o.gates, reference, model != nullptr)) {
    out.gates.push_back(evaluate_gate(gate, lookup));
    out.passed = out.passed && out.gates.back().passed;
  }
  return out;
}

nlohmann::ordered_json DataDrift::to_json(const data::Profile& reference,
                                          const data::Profile& current,
                                          const DataDriftOptions& o) const {
  auto side = [](const data::Profile& p) {
    return nlohmann::ordered_json{
        {"path", p.path}, {"fingerprint", p.fingerprint}, {"rows", p.rows}};
  };
  nlohmann::ordered_json out = {{"format", "kiln.drift_report"},
                                {"version", 1},
                                {"reference", side(reference)},
                                {"current", side(current)},
                                {"method", std::string(core::enum_name(o.method))},
                                {"thresholds",
                                 {{"share", o.share_threshold},
                                  {"small_reference_rows", o.small_reference},
                                  {"p_value", o.p_threshold},
                                  {"distance", o.distance_threshold}}},
                                {"methods", nlohmann::ordered_json::object()},
                                {"column_thresholds", o.thresholds},
                                {"drift_share", share},
                                {"drifted_columns", drifted},
                                {"feature_columns", features},
                                {"dataset_drifted", dataset_drifted},
                                {"gates", nlohmann::ordered_json::array()},
                                {"passed", passed},
                                {"columns", nlohmann::ordered_json::array()}};
  for (const GateResult& g : gates)
    out["gates"].push_back(g.to_json());
  for (const auto& [pattern, method] : o.methods)
    out["methods"][pattern] = std::string(core::enum_name(method));
  for (const ColumnDrift& c : columns)
    out["columns"].push_back(column_json(c, *reference.find(c.name), *current.find(c.name)));
  if (model) {
    out["model"] = {{"source", model->source},
                    {"prediction", column_json(model->prediction, model->reference_scores,
                                               model->current_scores)},
                    {"reference_auroc", model->reference_auroc},
                    {"estimated_auroc", core::finite_or_null(model->estimated_auroc)},
                    {"realized_auroc", core::finite_or_null(model->realized_auroc)}};
  }
  return out;
}

data::WindowOptions parse_window(const std::string& by, const std::string& size) {
  data::WindowOptions w;
  w.by = by;
  int64_t n = 0;
  const char* end = size.data() + size.size();
  const auto [rest, ec] = std::from_chars(size.data(), end, n);
  KILN_CHECK(ec == std::errc() && n > 0, UsageError, "--window '", size,
             "': expected a row count (10000) or a duration (30m, 6h, 1d, 1w)");
  const std::string unit(rest, end);
  if (unit.empty()) {
    w.rows = n;
    return w;
  }
  static const std::pair<const char*, int64_t> units[] = {
      {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800}};
  for (const auto& [name, seconds] : units) {
    if (unit != name) continue;
    KILN_CHECK(n <= INT64_MAX / seconds, UsageError, "--window '", size, "' is too long");
    w.seconds = n * seconds;
  }
  KILN_CHECK(w.seconds > 0, UsageError, "--window '", size,
             "': the unit must be s, m, h, d or w (or none, for a row count)");
  KILN_CHECK(!by.empty(), UsageError, "--window ", size, " needs --by, a time column");
  return w;
}

WindowedDrift windowed_drift(const data::Profile& reference, const data::Dataset& current,
                             const data::WindowOptions& window, const DataDriftOptions& o,
                             const ModelScores* model, const data::ProfileOptions& pass) {
  WindowedDrift out;
  int64_t offset = 0;  // the first row of the next window
  auto each = [&](data::Window&& w) {
    WindowDrift d;
    d.index = w.index;
    d.rows = w.profile.rows;
    d.first = w.first;
    d.last = w.last;
    std::optional<ModelScores> slice;
    if (model != nullptr) {
      slice.emplace();
      slice->reference = model->reference;
      slice->source = model->source;
      const auto from = static_cast<std::size_t>(offset),
                 to = from + static_cast<std::size_t>(d.rows);
      slice->scores.assign(model->scores.begin() + from, model->scores.begin() + to);
      if (model->labels.size() == model->scores.size())
        slice->labels.assign(model->labels.begin() + from, model->labels.begin() + to);
    }
    d.drift = data_drift(reference, w.profile, o, slice ? &*slice : nullptr);
    offset += d.rows;
    out.windows.push_back(std::move(d));
  };
  out.current = data::profile_windows(reference, current, window, each, pass);
  out.whole = data_drift(reference, out.current, o, model);
  return out;
}

void add_windows(nlohmann::ordered_json& report, const std::vector<WindowDrift>& windows,
                 const data::WindowOptions& window, const std::string& size) {
  nlohmann::ordered_json series = nlohmann::ordered_json::array();
  for (const WindowDrift& w : windows) {
    const std::string start =
        window.seconds > 0 ? core::utc_timestamp(static_cast<double>(w.index * window.seconds))
                           : "row " + std::to_string(w.index * window.rows);
    nlohmann::ordered_json j = {{"index", w.index},
                                {"start", start},
                                {"first", w.first},
                                {"last", w.last},
                                {"rows", w.rows},
                                {"drift_share", w.drift.share},
                                {"drifted_columns", w.drift.drifted},
                                {"dataset_drifted", w.drift.dataset_drifted},
                                {"passed", w.drift.passed}};
    if (w.drift.model)
      j["model"] = {{"prediction_score", w.drift.model->prediction.score},
                    {"prediction_psi", w.drift.model->prediction.psi},
                    {"prediction_drifted", w.drift.model->prediction.drifted},
                    {"estimated_auroc", core::finite_or_null(w.drift.model->estimated_auroc)},
                    {"realized_auroc", core::finite_or_null(w.drift.model->realized_auroc)}};
    nlohmann::ordered_json columns = nlohmann::ordered_json::object();
    for (const ColumnDrift& c : w.drift.columns)
      columns[c.name] = {{"method", c.method},
                         {"score", core::finite_or_null(c.score)},
                         {"psi", c.psi},
                         {"drifted", c.drifted}};
    j["columns"] = std::move(columns);
    series.push_back(std::move(j));
    for (const GateResult& g : w.drift.gates) {
      if (g.passed) continue;
      GateResult failed = g;
      failed.gate += " [window " + start + "]";
      report["gates"].push_back(failed.to_json());
      report["passed"] = false;
    }
  }
  report["windows"] = {{"by", window.by}, {"size", size}, {"series", std::move(series)}};
}

}  // namespace kiln::eval

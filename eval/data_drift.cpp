#include "eval/data_drift.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/errors.h"
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
// grid step of the mass appears).
std::size_t distinct(const std::vector<double>& quantiles) {
  return std::set<double>(quantiles.begin(), quantiles.end()).size();
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
  if (small) {
    d.method = as_categories ? "chi_square" : "ks";
    d.score = as_categories ? d.chi2_p : d.ks_p;
    d.threshold = o.p_threshold;
    d.drifted = d.score < o.p_threshold;
  } else {
    d.method = as_categories ? "jensen_shannon" : "wasserstein";
    d.score = as_categories ? d.js : d.wasserstein;
    d.threshold = o.distance_threshold;
    d.drifted = d.score >= o.distance_threshold;
  }
  return d;
}

}  // namespace

DataDrift data_drift(const data::Profile& reference, const data::Profile& current,
                     const DataDriftOptions& o) {
  KILN_ASSERT(reference.columns.size() == current.columns.size(),
              "data_drift: the current profile is not the reference's columns");
  DataDrift out;
  for (std::size_t i = 0; i < reference.columns.size(); ++i) {
    out.columns.push_back(
        column_drift(reference.columns[i], current.columns[i], reference.rows, current.rows, o));
    if (reference.columns[i].role == data::Role::kLabel) continue;
    ++out.features;
    out.drifted += out.columns.back().drifted ? 1 : 0;
  }
  out.share = out.features > 0 ? static_cast<double>(out.drifted) / out.features : 0;
  out.dataset_drifted = out.features > 0 && out.share >= o.share_threshold;
  std::stable_sort(out.columns.begin(), out.columns.end(), [](const auto& a, const auto& b) {
    return a.drifted != b.drifted ? a.drifted : a.psi > b.psi;
  });
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
                                {"method", "auto"},
                                {"thresholds",
                                 {{"share", o.share_threshold},
                                  {"small_reference_rows", o.small_reference},
                                  {"p_value", o.p_threshold},
                                  {"distance", o.distance_threshold}}},
                                {"drift_share", share},
                                {"drifted_columns", drifted},
                                {"feature_columns", features},
                                {"dataset_drifted", dataset_drifted},
                                {"columns", nlohmann::ordered_json::array()}};
  for (const ColumnDrift& c : columns) {
    nlohmann::ordered_json j = {{"name", c.name},
                                {"role", std::string(data::role_name(c.role))},
                                {"method", c.method},
                                {"score", c.score},
                                {"threshold", c.threshold},
                                {"drifted", c.drifted},
                                {"psi", c.psi},
                                {"js", c.js},
                                {"chi2", c.chi2},
                                {"chi2_p", c.chi2_p},
                                {"missing_reference", c.missing_reference},
                                {"missing_current", c.missing_current}};
    if (c.role != data::Role::kCategorical)
      j.update({{"ks", c.ks},
                {"ks_p", c.ks_p},
                {"ks_bound", c.ks_bound},
                {"wasserstein", c.wasserstein}});
    out["columns"].push_back(std::move(j));
  }
  return out;
}

}  // namespace kiln::eval

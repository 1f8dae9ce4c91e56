// Drift of current data against a reference profile (docs/MONITORING.md): every column's
// statistics (eval/drift.h) from the two profiles, a verdict per column by Evidently's
// default rule set (`auto`), and the dataset's share of drifted columns. No raw reference
// rows are needed: the current profile is data::profile_against's.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config_types.h"
#include "data/profile.h"
#include "eval/gates.h"
#include "eval/performance_estimate.h"

namespace kiln::eval {

// A column's drift rule: Evidently's default rule set, or one statistic with a threshold.
enum class DriftMethod { kAuto, kPsi, kJensenShannon, kWasserstein, kKs, kChiSquare };
inline core::EnumNames<DriftMethod> enum_names(DriftMethod) {
  static constexpr std::pair<DriftMethod, std::string_view> names[] = {
      {DriftMethod::kAuto, "auto"},
      {DriftMethod::kPsi, "psi"},
      {DriftMethod::kJensenShannon, "jensen_shannon"},
      {DriftMethod::kWasserstein, "wasserstein"},
      {DriftMethod::kKs, "ks"},
      {DriftMethod::kChiSquare, "chi_square"}};
  return names;
}

// The config's `drift` section (docs/MONITORING.md).
struct DataDriftOptions {
  double share_threshold = 0.5;     // the dataset drifts when this share of columns does
  int64_t small_reference = 1000;   // auto: up to this many reference rows, tests with p-values
  double p_threshold = 0.05;        // KS, chi-square: drift below this p-value
  double distance_threshold = 0.1;  // Wasserstein (normalized), Jensen-Shannon, PSI: at or above
  DriftMethod method = DriftMethod::kAuto;     // every column's, unless `methods` says
  std::map<std::string, DriftMethod> methods;  // column name or glob pattern -> method
  std::map<std::string, double> thresholds;    // column name or glob pattern -> threshold
  std::vector<std::string> gates;              // e.g. "drift_share < 0.3", "psi.amount < 0.2"

  template <class V>
  void visit(V& v) {
    v("share_threshold", share_threshold,
      "the dataset drifts when at least this share of its feature columns drifts");
    v("small_reference", small_reference,
      "method auto: references of up to this many rows are tested with p-values (KS, "
      "chi-square), larger ones with distances (Wasserstein, Jensen-Shannon)");
    v("p_threshold", p_threshold, "ks and chi_square: a column drifts below this p-value");
    v("distance_threshold", distance_threshold,
      "psi, jensen_shannon and wasserstein (normalized): a column drifts at or above this");
    v("method", method,
      "every column's rule: auto (Evidently's defaults), psi, jensen_shannon, wasserstein, ks "
      "or chi_square");
    v("methods", methods,
      "per column name or glob pattern (amount, noise_*): its method; an exact name wins, "
      "else the longest matching pattern");
    v("thresholds", thresholds,
      "per column name or glob pattern: its threshold (a p-value for ks and chi_square)");
    v("gates", gates,
      "gates such as 'drift_share < 0.3' or 'psi.amount < 0.2'; a failed gate exits 3");
  }
};

// Checks `options` against the reference's columns: a name or pattern in `methods` or
// `thresholds` that matches no column, a method a column's kind cannot take (ks or
// wasserstein for a categorical column), thresholds out of range: ConfigError (78) naming
// the key and the nearest column. Cheap: call it before the pass over the data.
void check_drift_options(const DataDriftOptions& options, const data::Profile& reference);

// What drift gates may name: drift_share and drifted_columns, and per column
// psi.COLUMN, js.COLUMN, ks.COLUMN, wasserstein.COLUMN, chi2_p.COLUMN, score.COLUMN (its
// method's statistic) and missing.COLUMN (the current share of missing values); with a
// model, prediction.psi|js|ks|wasserstein|score (its scores' drift) and
// estimated.auroc, reference.auroc and realized.auroc.
const GateNames& drift_gate_names();

// The gates parsed, each column they name checked against the reference (ks and
// wasserstein only for numeric columns), model names only `with_model`: ConfigError (78)
// naming the gate and the nearest column. Cheap: call it before the pass over the data.
std::vector<Gate> drift_gates(const std::vector<std::string>& gates, const data::Profile& reference,
                              bool with_model);

// What a model adds when the reference is a checkpoint: its validation scores' reference
// (scores.json) and its scores of the current rows.
struct ModelScores {
  ScoreReference reference;
  std::vector<double> scores;  // the current rows', in order
  std::vector<float> labels;   // theirs when known (a realized AUROC), else empty
  std::string source;          // what scored: a checkpoint, a registry version, a scores file
};

struct ColumnDrift {
  std::string name;
  data::Role role = data::Role::kNumeric;
  std::string method;  // ks, chi_square, wasserstein, jensen_shannon
  double score = 0;    // the method's statistic (a p-value for ks and chi_square)
  double threshold = 0;
  bool drifted = false;
  double psi = 0, js = 0;                             // on the reference's bins or codes, always
  double ks = 0, ks_p = 1, ks_bound = 0;              // numeric: KS statistic and its error bound
  double wasserstein = 0;                             // numeric: W1 / the reference's std
  double chi2 = 0, chi2_p = 1;                        // on bins or codes
  double missing_reference = 0, missing_current = 0;  // shares of rows
  std::string note;  // why the statistics are undefined (NaN): a side with no values
};

struct ModelDrift {
  std::string source;
  ColumnDrift prediction;  // the current scores against the validation scores, by the rules
  data::ColumnProfile reference_scores, current_scores;
  double reference_auroc = 0;  // on the validation split
  double estimated_auroc = 0;  // CBPE, from the current scores alone (NaN: undefined)
  double realized_auroc = 0;   // from the current labels; NaN without both classes
};

struct DataDrift {
  std::vector<ColumnDrift> columns;   // most severe first: drifted, then by PSI
  int64_t drifted = 0, features = 0;  // drifted feature columns (the label is apart)
  double share = 0;
  bool dataset_drifted = false;
  std::optional<ModelDrift> model;
  std::vector<GateResult> gates;
  bool passed = true;  // every gate
  nlohmann::ordered_json to_json(const data::Profile& reference, const data::Profile& current,
                                 const DataDriftOptions& options) const;
};

// One window of a drift check over time (data::profile_windows).
struct WindowDrift {
  int64_t index = 0, rows = 0;
  double first = 0, last = 0;  // the --by values of its first and last rows
  DataDrift drift;
};

struct WindowedDrift {
  data::Profile current;  // all of --data, through the reference
  DataDrift whole;
  std::vector<WindowDrift> windows;
};

// `size`: "N" rows, or a duration "N" followed by s, m, h, d or w. UsageError otherwise.
data::WindowOptions parse_window(const std::string& by, const std::string& size);

// The drift of all of `current` and of each window, in one pass over it; the gates are
// evaluated on the whole and on every window (with `model`, each window gets its rows'
// scores: the windows are runs of rows in dataset order). `pass`: how the rows are counted
// (data::ProfileOptions: on the GPU or not).
WindowedDrift windowed_drift(const data::Profile& reference, const data::Dataset& current,
                             const data::WindowOptions& window, const DataDriftOptions& options,
                             const ModelScores* model = nullptr,
                             const data::ProfileOptions& pass = {});

// report.json with the windows: "windows" (by, size, and per window its index, start, first,
// last, rows, drift_share, dataset_drifted, passed, the model's statistics, and each column's
// method, score, psi and drifted), and every gate a window failed added to "gates" as
// "GATE [window W]" (so that the exit code and the gate table count them).
void add_windows(nlohmann::ordered_json& report, const std::vector<WindowDrift>& windows,
                 const data::WindowOptions& window, const std::string& size);

// `current` must have the reference's columns in its order (data::profile_against).
DataDrift data_drift(const data::Profile& reference, const data::Profile& current,
                     const DataDriftOptions& options = {}, const ModelScores* model = nullptr);

}  // namespace kiln::eval

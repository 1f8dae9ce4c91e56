// A model's reference for label-free monitoring (docs/MONITORING.md), and NannyML's CBPE
// (confidence-based performance estimation) of its AUROC on unlabelled data.
//
// The reference holds the profile of the model's validation scores (what prediction drift
// compares against) and an isotonic calibration fitted on the validation labels: pool
// adjacent violators on the scores sorted (equal scores pooled first), each block kept as
// its first and last score, and a score mapped by linear interpolation between those
// points, clipped at the ends (scikit-learn's IsotonicRegression(out_of_bounds="clip")).
// With p_i the calibrated probability of row i, the expected ROC counts p_i as a positive
// and 1 - p_i as a negative, rows ranked by p (ties as ties): the estimated AUROC is
//   sum_i p_i (sum_{j: p_j < p_i} (1 - p_j) + (1/2) sum_{j: p_j = p_i} (1 - p_j))
//   / (sum_i p_i * sum_j (1 - p_j)),
// the area under NannyML's estimated ROC curve (the trapezoid over its expected counts,
// j = i included).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "data/profile.h"
#include "eval/binary_metrics.h"

namespace kiln::eval {

inline constexpr const char* kScoresFormat = "kiln.scores";
inline constexpr int kScoresVersion = 1;

struct ScoreReference {
  int64_t rows = 0;
  double auroc = 0;                                                   // on the validation rows
  double positive_rate = 0;                                           // weighted
  data::Profile profile;                                              // one numeric column, "score"
  std::vector<double> calibration_scores, calibration_probabilities;  // increasing scores

  double calibrated(double score) const;
  nlohmann::ordered_json to_json() const;
  // DataError naming `where` and the field: untrusted like a profile.
  static ScoreReference from_json(const nlohmann::json& json, const std::string& where);
};

// From a model's scored validation rows (labels and weights). DataError when they have no
// rows or one class.
ScoreReference score_reference(const BinaryAccumulator& validation,
                               const data::ProfileOptions& options = {});

// The expected AUROC of scores whose labels are unknown, from the reference's calibration;
// NaN when the calibrated probabilities are all 0 or all 1.
double estimated_auroc(const ScoreReference& reference, const std::vector<double>& scores);

}  // namespace kiln::eval

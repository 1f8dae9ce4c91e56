// Binary-classification metrics, exact: one sort serves AUROC, average precision, KS,
// best-F1 and the curves (ties grouped: rows with equal scores move a curve together);
// unweighted counts are int64 and the AUROC area an exact integer, weighted sums are fp64.
// Probability metrics (log loss, Brier, ECE) need every score in [0, 1] and are NaN
// otherwise. Semantics follow scikit-learn (docs/EVAL.md).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace kiln::eval {

struct BinaryOptions {
  double threshold = 0.5;     // precision / recall / F1 "at the threshold": score >= threshold
  int calibration_bins = 10;  // equal-width bins on [0, 1] for ECE and the reliability curve
  int curve_points = 200;     // ROC and PR points kept for plots (at least)
  int histogram_bins = 20;    // score histograms by class
  int threads = 0;            // threads for the sort; 0: one per core (results do not depend on it)
};

struct CurvePoint {
  double threshold = 0;
  double fpr = 0, tpr = 0;           // ROC
  double precision = 1, recall = 0;  // PR
};

struct CalibrationBin {
  double lower = 0, upper = 0;
  double mean_score = 0, positive_rate = 0;
  double weight = 0;  // rows (weighted) in the bin
};

struct ThresholdMetrics {
  double threshold = 0;
  double precision = 0, recall = 0, f1 = 0;
};

struct BinaryMetrics {
  int64_t rows = 0;
  double positives = 0, negatives = 0;  // weighted
  double auroc = 0;
  double average_precision = 0;
  double ks = 0, ks_threshold = 0;
  bool probabilities = false;               // every score in [0, 1]
  double log_loss = 0, brier = 0, ece = 0;  // NaN unless probabilities
  ThresholdMetrics at_threshold;
  ThresholdMetrics best_f1;
  std::vector<CurvePoint> curve;  // from the highest threshold down; ROC and PR together
  std::vector<CalibrationBin> calibration;
  double histogram_low = 0, histogram_high = 1;
  std::vector<double> histogram_positive, histogram_negative;  // weighted counts per bin
};

// Collects rows (add, merge) and computes every metric from them (value). Not thread-safe.
class BinaryAccumulator {
 public:
  // Appends n rows; weights may be null (all 1). Labels must be 0 or 1, scores finite,
  // weights finite and >= 0: DataError naming `source` (the rows' file or dataset) and the
  // row (counted from the first add, from 0).
  void add(const double* scores, const float* labels, const double* weights, int64_t n,
           std::string_view source = "scores");
  void merge(const BinaryAccumulator& other);
  int64_t rows() const { return static_cast<int64_t>(scores_.size()); }
  bool weighted() const { return !weights_.empty(); }
  const std::vector<double>& scores() const { return scores_; }
  const std::vector<uint8_t>& labels() const { return labels_; }
  const std::vector<double>& weights() const { return weights_; }  // empty: all 1

  // DataError when there are no rows, or only one class (AUROC is undefined).
  BinaryMetrics value(const BinaryOptions& options = {}) const;

 private:
  std::vector<double> scores_;
  std::vector<uint8_t> labels_;
  std::vector<double> weights_;
};

}  // namespace kiln::eval

#include "eval/binary_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/errors.h"
#include "eval/sort.h"

namespace kiln::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The ranking pass over rows in descending score order. W is int64_t for unweighted rows
// (exact counts; the doubled AUROC area as an exact 128-bit integer) or double.
template <class W, class WeightOf>
void ranking_pass(const Ranking& ranked, const std::vector<uint8_t>& labels, WeightOf weight_of,
                  const BinaryOptions& options, BinaryMetrics& m) {
  using Area = std::conditional_t<std::is_integral_v<W>, __int128, double>;
  W positives = 0, negatives = 0;
  for (std::size_t i = 0; i < labels.size(); ++i)
    (labels[i] ? positives : negatives) += weight_of(i);
  KILN_CHECK(positives > 0 && negatives > 0, DataError, "the labels have only one class (",
             positives > 0 ? "all positive" : "all negative",
             "): AUROC and average precision are undefined");
  m.positives = static_cast<double>(positives);
  m.negatives = static_cast<double>(negatives);
  const double p = m.positives, n = m.negatives;
  const double step = 1.0 / std::max(options.curve_points, 1);
  W tp = 0, fp = 0;
  Area area2 = 0;  // twice the area under the ROC curve, in units of positives x negatives
  double ap = 0, best_f1 = -1;
  m.curve.push_back({kNaN, 0, 0, 1, 0});
  double last_fpr = 0, last_tpr = 0;
  const std::size_t rows = ranked.size();
  std::size_t i = 0;
  while (i < rows) {
    const uint64_t key = ranked.keys[i];
    const double score = ranked.score(i);
    W group_tp = 0, group_fp = 0;
    for (; i < rows && ranked.keys[i] == key; ++i) {
      (ranked.positive(i) ? group_tp : group_fp) += weight_of(ranked.row(i));
    }
    area2 += static_cast<Area>(group_fp) * static_cast<Area>(2 * tp + group_tp);
    tp += group_tp;
    fp += group_fp;
    const double tpr = static_cast<double>(tp) / p, fpr = static_cast<double>(fp) / n;
    const double precision = static_cast<double>(tp) / static_cast<double>(tp + fp);
    ap += static_cast<double>(group_tp) / p * precision;
    if (std::fabs(tpr - fpr) > m.ks) {
      m.ks = std::fabs(tpr - fpr);
      m.ks_threshold = score;
    }
    const double f1 = 2.0 * static_cast<double>(tp) / (static_cast<double>(tp + fp) + p);
    if (f1 > best_f1) {
      best_f1 = f1;
      m.best_f1 = {score, precision, tpr, f1};
    }
    if (fpr - last_fpr >= step || tpr - last_tpr >= step || i == rows) {
      m.curve.push_back({score, fpr, tpr, precision, tpr});
      last_fpr = fpr;
      last_tpr = tpr;
    }
  }
  m.auroc = static_cast<double>(
      static_cast<long double>(area2) /
      (2.0L * static_cast<long double>(positives) * static_cast<long double>(negatives)));
  m.average_precision = ap;
}

}  // namespace

void BinaryAccumulator::add(const double* scores, const float* labels, const double* weights,
                            int64_t n, std::string_view source) {
  const int64_t first = rows();
  for (int64_t i = 0; i < n; ++i) {
    KILN_CHECK(std::isfinite(scores[i]), DataError, source, ": the score at row ", first + i,
               " is ", scores[i], "; scores must be finite");
    KILN_CHECK(labels[i] == 0.0f || labels[i] == 1.0f, DataError, source, ": the label at row ",
               first + i, " is ", labels[i], "; binary labels must be 0 or 1");
    KILN_CHECK(weights == nullptr || (std::isfinite(weights[i]) && weights[i] >= 0), DataError,
               source, ": the weight at row ", first + i, " is ", weights ? weights[i] : 0.0,
               "; weights must be finite and >= 0");
  }
  if (weights != nullptr && weights_.empty()) weights_.assign(scores_.size(), 1.0);
  scores_.insert(scores_.end(), scores, scores + n);
  for (int64_t i = 0; i < n; ++i)
    labels_.push_back(labels[i] == 1.0f ? 1 : 0);
  if (weights != nullptr) {
    weights_.insert(weights_.end(), weights, weights + n);
  } else if (!weights_.empty()) {
    weights_.resize(scores_.size(), 1.0);
  }
}

void BinaryAccumulator::merge(const BinaryAccumulator& other) {
  if (other.weighted() && weights_.empty()) weights_.assign(scores_.size(), 1.0);
  scores_.insert(scores_.end(), other.scores_.begin(), other.scores_.end());
  labels_.insert(labels_.end(), other.labels_.begin(), other.labels_.end());
  if (other.weighted()) {
    weights_.insert(weights_.end(), other.weights_.begin(), other.weights_.end());
  } else if (!weights_.empty()) {
    weights_.resize(scores_.size(), 1.0);
  }
}

BinaryMetrics BinaryAccumulator::value(const BinaryOptions& options) const {
  KILN_CHECK(!scores_.empty(), DataError, "no rows to evaluate");
  BinaryMetrics m;
  m.rows = rows();
  Ranking ranked;
  {
    core::ThreadPool pool(options.threads);
    ranked = rank_descending(scores_.data(), labels_.data(), m.rows, &pool);
  }
  if (weighted()) {
    ranking_pass<double>(
        ranked, labels_, [this](std::size_t i) { return weights_[i]; }, options, m);
  } else {
    ranking_pass<int64_t>(
        ranked, labels_, [](std::size_t) { return int64_t{1}; }, options, m);
  }
  const double low = ranked.score(ranked.size() - 1), high = ranked.score(0);
  m.probabilities = low >= 0 && high <= 1;
  m.histogram_low = m.probabilities ? 0.0 : low;
  m.histogram_high = m.probabilities ? 1.0 : high;

  // One pass over the rows for the rest. At the threshold, a row is predicted positive when
  // its score is at least the threshold. Log loss clips scores to [eps, 1 - eps] (eps of
  // float64); ECE uses equal-width bins.
  const int hist_bins = std::max(options.histogram_bins, 1);
  const int bins = std::max(options.calibration_bins, 1);
  m.histogram_positive.assign(static_cast<std::size_t>(hist_bins), 0.0);
  m.histogram_negative.assign(static_cast<std::size_t>(hist_bins), 0.0);
  if (m.probabilities) m.calibration.resize(static_cast<std::size_t>(bins));
  const double width = m.histogram_high - m.histogram_low;
  const double eps = std::numeric_limits<double>::epsilon();
  double tp = 0, predicted = 0, total = 0, log_loss = 0, brier = 0;
  for (std::size_t i = 0; i < scores_.size(); ++i) {
    const double w = weights_.empty() ? 1.0 : weights_[i], s = scores_[i];
    const bool positive = labels_[i] != 0;
    if (s >= options.threshold) {
      predicted += w;
      tp += positive ? w : 0.0;
    }
    int h = width > 0 ? static_cast<int>((s - m.histogram_low) / width * hist_bins) : 0;
    (positive ? m.histogram_positive
              : m.histogram_negative)[static_cast<std::size_t>(std::clamp(h, 0, hist_bins - 1))] +=
        w;
    if (!m.probabilities) continue;
    const double clipped = std::clamp(s, eps, 1 - eps), y = positive ? 1.0 : 0.0;
    total += w;
    log_loss -= w * (positive ? std::log(clipped) : std::log(1 - clipped));
    brier += w * (y - s) * (y - s);
    CalibrationBin& bin =
        m.calibration[static_cast<std::size_t>(std::min(static_cast<int>(s * bins), bins - 1))];
    bin.weight += w;
    bin.mean_score += w * s;
    bin.positive_rate += w * y;
  }
  ThresholdMetrics& t = m.at_threshold;
  t.threshold = options.threshold;
  t.precision = predicted > 0 ? tp / predicted : 0.0;
  t.recall = tp / m.positives;
  t.f1 = t.precision + t.recall > 0 ? 2 * t.precision * t.recall / (t.precision + t.recall) : 0.0;
  if (!m.probabilities) {
    m.log_loss = m.brier = m.ece = kNaN;
    return m;
  }
  m.log_loss = log_loss / total;
  m.brier = brier / total;
  m.ece = 0;
  for (int b = 0; b < bins; ++b) {
    CalibrationBin& bin = m.calibration[static_cast<std::size_t>(b)];
    bin.lower = static_cast<double>(b) / bins;
    bin.upper = static_cast<double>(b + 1) / bins;
    if (bin.weight > 0) {
      bin.mean_score /= bin.weight;
      bin.positive_rate /= bin.weight;
      m.ece += bin.weight / total * std::fabs(bin.positive_rate - bin.mean_score);
    }
  }
  return m;
}

}  // namespace kiln::eval

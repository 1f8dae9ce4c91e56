#include "eval/performance_estimate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/errors.h"
#include "core/json_fields.h"

namespace kiln::eval {
namespace {

struct Block {
  double first = 0, last = 0;  // the scores it spans
  double sum = 0, weight = 0;  // of labels times weights, and of weights
  double value() const { return sum / weight; }
};

// Pool adjacent violators on the distinct scores in order, each the mean of its rows.
std::vector<Block> isotonic(const BinaryAccumulator& rows) {
  const auto& scores = rows.scores();
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  std::vector<Block> points;  // one per distinct score
  for (std::size_t i : order) {
    const double w = rows.weighted() ? rows.weights()[i] : 1.0;
    if (w <= 0) continue;
    const double y = rows.labels()[i];
    if (!points.empty() && points.back().last == scores[i]) {
      points.back().sum += w * y;
      points.back().weight += w;
    } else {
      points.push_back({scores[i], scores[i], w * y, w});
    }
  }
  std::vector<Block> blocks;
  for (const Block& point : points) {
    blocks.push_back(point);
    // A block whose mean is at or below the one before it merges with it: the fit must
    // not decrease (sklearn pools equal means too).
    while (blocks.size() > 1 && blocks.back().value() <= blocks[blocks.size() - 2].value()) {
      const Block top = blocks.back();
      blocks.pop_back();
      blocks.back().last = top.last;
      blocks.back().sum += top.sum;
      blocks.back().weight += top.weight;
    }
  }
  return blocks;
}

}  // namespace

double ScoreReference::calibrated(double score) const {
  const auto& x = calibration_scores;
  const auto& y = calibration_probabilities;
  if (x.empty()) return positive_rate;
  if (score <= x.front()) return y.front();
  if (score >= x.back()) return y.back();
  const std::size_t hi = static_cast<std::size_t>(std::upper_bound(x.begin(), x.end(), score) -
                                                  x.begin());  // x[hi - 1] <= score < x[hi]
  const double x0 = x[hi - 1], x1 = x[hi];
  return x1 > x0 ? y[hi - 1] + (y[hi] - y[hi - 1]) * (score - x0) / (x1 - x0) : y[hi];
}

ScoreReference score_reference(const BinaryAccumulator& validation,
                               const data::ProfileOptions& options) {
  const BinaryMetrics m = validation.value();  // DataError for no rows or one class
  ScoreReference r;
  r.rows = validation.rows();
  r.auroc = m.auroc;
  r.positive_rate = m.positives / (m.positives + m.negatives);
  const std::vector<float> scores(validation.scores().begin(), validation.scores().end());
  data::ColumnProfile column;
  column.name = "score";
  column.role = data::Role::kNumeric;
  column.numeric =
      data::profile_values(scores.data(), static_cast<int64_t>(scores.size()), options);
  r.profile.rows = r.rows;
  r.profile.columns.push_back(std::move(column));
  for (const Block& b : isotonic(validation)) {
    r.calibration_scores.push_back(b.first);
    r.calibration_probabilities.push_back(b.value());
    if (b.last > b.first) {
      r.calibration_scores.push_back(b.last);
      r.calibration_probabilities.push_back(b.value());
    }
  }
  return r;
}

double estimated_auroc(const ScoreReference& reference, const std::vector<double>& scores) {
  std::vector<double> p(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i)
    p[i] = reference.calibrated(scores[i]);
  std::sort(p.begin(), p.end());
  double positives = 0, negatives = 0, area = 0;
  for (std::size_t i = 0; i < p.size();) {
    std::size_t j = i;
    double pos = 0, neg = 0;  // the tie group's expected positives and negatives
    for (; j < p.size() && p[j] == p[i]; ++j) {
      pos += p[j];
      neg += 1 - p[j];
    }
    // The group's expected positives outrank the negatives below it and tie with its own
    // (half), as the trapezoid over NannyML's expected ROC counts them.
    area += pos * negatives + 0.5 * pos * neg;
    positives += pos;
    negatives += neg;
    i = j;
  }
  const double pairs = positives * negatives;
  return pairs > 0 ? area / pairs : std::numeric_limits<double>::quiet_NaN();
}

nlohmann::ordered_json ScoreReference::to_json() const {
  return {{"format", kScoresFormat},
          {"version", kScoresVersion},
          {"rows", rows},
          {"auroc", auroc},
          {"positive_rate", positive_rate},
          {"calibration",
           {{"scores", calibration_scores}, {"probabilities", calibration_probabilities}}},
          {"profile", profile.to_json()}};
}

ScoreReference ScoreReference::from_json(const nlohmann::json& j, const std::string& where) {
  KILN_CHECK(j.is_object() && j.value("format", nlohmann::json("")) == kScoresFormat, DataError,
             where, ": not a Kiln scores reference (format ", kScoresFormat, ")");
  const int64_t version = core::json_int(j, "version", where, 1);
  KILN_CHECK(version <= kScoresVersion, DataError, where, ": scores version ", version,
             " is newer than this Kiln reads (", kScoresVersion, "); upgrade Kiln");
  ScoreReference r;
  r.rows = core::json_int(j, "rows", where);
  r.auroc = core::json_number(j, "auroc", where);
  r.positive_rate = core::json_number(j, "positive_rate", where);
  KILN_CHECK(r.auroc >= 0 && r.auroc <= 1 && r.positive_rate >= 0 && r.positive_rate <= 1,
             DataError, where, ": 'auroc' and 'positive_rate' must be in [0, 1]");
  KILN_CHECK(j.contains("calibration") && j["calibration"].is_object(), DataError, where,
             ": 'calibration' must be an object");
  const std::string at = where + ": calibration";
  r.calibration_scores = core::json_numbers(j["calibration"], "scores", at);
  r.calibration_probabilities = core::json_numbers(j["calibration"], "probabilities", at);
  KILN_CHECK(r.calibration_scores.size() == r.calibration_probabilities.size(), DataError, at,
             ": 'scores' and 'probabilities' differ in length");
  for (std::size_t i = 0; i < r.calibration_scores.size(); ++i) {
    KILN_CHECK(r.calibration_probabilities[i] >= 0 && r.calibration_probabilities[i] <= 1,
               DataError, at, ": probability ", i, " is not in [0, 1]");
    KILN_CHECK(i == 0 || (r.calibration_scores[i] >= r.calibration_scores[i - 1] &&
                          r.calibration_probabilities[i] >= r.calibration_probabilities[i - 1]),
               DataError, at, ": scores and probabilities must not decrease (index ", i, ")");
  }
  KILN_CHECK(j.contains("profile"), DataError, where, ": no 'profile'");
  r.profile = data::Profile::from_json(j["profile"], where + ": profile");
  KILN_CHECK(r.profile.columns.size() == 1 && r.profile.columns[0].name == "score" &&
                 r.profile.columns[0].role == data::Role::kNumeric,
             DataError, where, ": 'profile' must have one numeric column, 'score'");
  return r;
}

}  // namespace kiln::eval

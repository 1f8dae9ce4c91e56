// The isotonic calibration and CBPE's AUROC estimate (eval/performance_estimate.h) against
// scikit-learn and numpy (tests/eval/cbpe_golden.py), the estimate against the realized
// AUROC of a calibrated model under covariate shift, and scores.json as untrusted input.
#include "eval/performance_estimate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

#include "core/errors.h"
#include "tests/temp_dir.h"

namespace kiln::eval {
namespace {

using kiln::testing::TempDir;

struct Rows {
  std::vector<double> scores, weights;
  std::vector<float> labels;
};

// Scores rounded to `digits` (ties), labels Bernoulli(score^power): a model calibrated when
// power is 1, over-confident otherwise.
Rows draw(std::mt19937_64& rng, int n, double power, int digits, bool weighted) {
  std::uniform_real_distribution<double> u(0, 1);
  Rows r;
  const double scale = std::pow(10.0, digits);
  for (int i = 0; i < n; ++i) {
    const double s = std::round(u(rng) * scale) / scale;
    r.scores.push_back(s);
    r.labels.push_back(u(rng) < std::pow(s, power) ? 1.0f : 0.0f);
    if (weighted) r.weights.push_back(0.5 + u(rng));
  }
  return r;
}

BinaryAccumulator accumulate(const Rows& r) {
  BinaryAccumulator a;
  a.add(r.scores.data(), r.labels.data(), r.weights.empty() ? nullptr : r.weights.data(),
        static_cast<int64_t>(r.scores.size()));
  return a;
}

TEST(PerformanceEstimate, CalibrationAndEstimateEqualScikitLearnAndNumpy) {
  TempDir dir;
  std::mt19937_64 rng(7);
  for (const bool weighted : {false, true}) {
    for (const int digits : {2, 6}) {
      const Rows validation = draw(rng, 3000, 2.0, digits, weighted);
      const Rows current = draw(rng, 2000, 1.0, 3, false);
      std::vector<double> probe = current.scores;
      probe.push_back(-1);  // below and above the fitted range: clipped
      probe.push_back(2);
      const nlohmann::json in = {
          {"scores", validation.scores},
          {"labels", validation.labels},
          {"weights", weighted ? nlohmann::json(validation.weights) : nlohmann::json(nullptr)},
          {"current", probe}};
      std::ofstream(dir / "in.json") << in.dump();
      const std::string cmd = std::string(KILN_PYTHON) + " " + KILN_SOURCE_DIR +
                              "/tests/eval/cbpe_golden.py " + (dir / "in.json") + " " +
                              (dir / "out.json");
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
      const auto golden = nlohmann::json::parse(std::ifstream(dir / "out.json"));
      const ScoreReference reference = score_reference(accumulate(validation));
      std::vector<double> calibrated;
      for (std::size_t i = 0; i < probe.size(); ++i) {
        calibrated.push_back(reference.calibrated(probe[i]));
        ASSERT_NEAR(calibrated.back(), golden["calibrated"][i].get<double>(), 1e-12)
            << "score " << probe[i] << " weighted " << weighted << " digits " << digits;
      }
      // The estimate on the probe: numpy's trapezoid over the expected ROC.
      EXPECT_NEAR(estimated_auroc(reference, probe), golden["estimated_auroc"].get<double>(), 1e-9);
    }
  }
}

// A calibrated model under covariate shift (its scores move, P(y | score) does not): the
// estimate follows the realized AUROC, which differs from the reference's.
TEST(PerformanceEstimate, FollowsTheRealizedAurocUnderCovariateShift) {
  std::mt19937_64 rng(11);
  const ScoreReference reference = score_reference(accumulate(draw(rng, 20000, 1.0, 6, false)));
  std::uniform_real_distribution<double> u(0, 1);
  Rows shifted;  // most scores low now
  for (int i = 0; i < 20000; ++i) {
    const double s = std::pow(u(rng), 3);
    shifted.scores.push_back(s);
    shifted.labels.push_back(u(rng) < s ? 1.0f : 0.0f);
  }
  const double realized = accumulate(shifted).value().auroc;
  const double estimated = estimated_auroc(reference, shifted.scores);
  EXPECT_NEAR(estimated, realized, 0.01);
  EXPECT_GT(std::abs(realized - reference.auroc), 0.02);  // the shift changed the AUROC
}

TEST(PerformanceEstimate, ScoresJsonRoundTripsAndIsUntrusted) {
  std::mt19937_64 rng(3);
  const ScoreReference reference = score_reference(accumulate(draw(rng, 2000, 1.0, 3, false)));
  const auto text = reference.to_json().dump();
  const ScoreReference back = ScoreReference::from_json(nlohmann::json::parse(text), "s.json");
  EXPECT_EQ(back.calibration_scores, reference.calibration_scores);
  EXPECT_EQ(back.calibration_probabilities, reference.calibration_probabilities);
  EXPECT_EQ(back.auroc, reference.auroc);
  EXPECT_EQ(back.profile.columns[0].numeric.counts, reference.profile.columns[0].numeric.counts);
  auto error = [&](const std::function<void(nlohmann::json&)>& damage) {
    nlohmann::json j = nlohmann::json::parse(text);
    damage(j);
    try {
      ScoreReference::from_json(j, "s.json");
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error([](auto& j) { j["format"] = "x"; }).find("s.json: not a Kiln scores"),
            std::string::npos);
  EXPECT_NE(error([](auto& j) { j["calibration"]["probabilities"][0] = 2; }).find("not in [0, 1]"),
            std::string::npos);
  EXPECT_NE(error([](auto& j) { j["calibration"]["scores"].erase(0); }).find("differ in length"),
            std::string::npos);
  EXPECT_NE(error([](auto& j) { j["calibration"]["scores"][1] = -5; }).find("must not decrease"),
            std::string::npos);
  EXPECT_NE(error([](auto& j) { j["profile"]["columns"][0]["name"] = "x"; }).find("'score'"),
            std::string::npos);
  EXPECT_NE(error([](auto& j) { j["version"] = 9; }).find("newer"), std::string::npos);
  EXPECT_NE(error([](auto& j) { j["auroc"] = "high"; }).find("auroc"), std::string::npos);
}

}  // namespace
}  // namespace kiln::eval

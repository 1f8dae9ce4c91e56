#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/errors.h"
#include "eval/binary_metrics.h"
#include "eval/bootstrap.h"
#include "eval/metrics_cuda.h"
#include "eval/regression_metrics.h"
#include "eval/sort.h"
#include "kernels/device.h"
#include "tests/error_of.h"

namespace kiln::eval {
namespace {

// The generator of tests/eval/metrics_golden.py.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  double uniform() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t state_;
};

struct Case {
  std::vector<double> scores, weights;
  std::vector<float> labels;
};

Case make_case(const nlohmann::json& p) {
  const int64_t n = p["n"];
  const double prevalence = p["prevalence"], signal = p["signal"];
  const int levels = p["levels"];
  const std::string kind = p["kind"];
  SplitMix64 rng(p["seed"].get<uint64_t>());
  Case c;
  for (int64_t i = 0; i < n; ++i) {
    double a = rng.uniform(), b = rng.uniform(), w = rng.uniform();
    float label = (a < prevalence || (prevalence == 0.0 && i == n / 3)) ? 1.0f : 0.0f;
    double raw = b + signal * label;
    double score = kind == "constant" ? 0.5
                   : kind == "logit"  ? (raw - 0.5) * 8.0
                   : levels > 0       ? std::floor(raw * levels) / levels / (1.0 + signal)
                                      : raw / (1.0 + signal);
    c.scores.push_back(score);
    c.labels.push_back(label);
    c.weights.push_back(p["weighted"].get<bool>() ? 0.25 + 2.0 * w : 1.0);
  }
  return c;
}

nlohmann::json golden() {
  return nlohmann::json::parse(
      std::ifstream(std::string(KILN_SOURCE_DIR) + "/tests/eval/metrics_golden.json"));
}

BinaryAccumulator accumulate(const Case& c, bool weighted, std::size_t chunk) {
  BinaryAccumulator acc;
  for (std::size_t at = 0; at < c.scores.size(); at += chunk) {
    auto n = static_cast<int64_t>(std::min(chunk, c.scores.size() - at));
    acc.add(c.scores.data() + at, c.labels.data() + at, weighted ? c.weights.data() + at : nullptr,
            n);
  }
  return acc;
}

TEST(BinaryMetrics, MatchScikitLearnWithin1e9OnTiesWeightsImbalanceAndConstantScores) {
  const nlohmann::json all = golden();  // a temporary's items() would dangle
  for (const auto& [name, g] : all["binary"].items()) {
    SCOPED_TRACE(name);
    Case c = make_case(g["params"]);
    BinaryMetrics m = accumulate(c, g["params"]["weighted"], 7777).value();
    EXPECT_NEAR(m.auroc, g["auroc"], 1e-9);
    EXPECT_NEAR(m.average_precision, g["average_precision"], 1e-9);
    EXPECT_NEAR(m.ks, g["ks"], 1e-9);
    EXPECT_NEAR(m.at_threshold.precision, g["precision_at_0.5"], 1e-9);
    EXPECT_NEAR(m.at_threshold.recall, g["recall_at_0.5"], 1e-9);
    EXPECT_NEAR(m.at_threshold.f1, g["f1_at_0.5"], 1e-9);
    EXPECT_NEAR(m.best_f1.f1, g["best_f1"], 1e-9);
    EXPECT_EQ(m.best_f1.threshold, g["best_f1_threshold"].get<double>());
    EXPECT_EQ(m.probabilities, g["probabilities"].get<bool>());
    if (m.probabilities) {
      EXPECT_NEAR(m.log_loss, g["log_loss"], 1e-9);
      EXPECT_NEAR(m.brier, g["brier"], 1e-9);
      EXPECT_NEAR(m.ece, g["ece"], 1e-9);
    } else {
      EXPECT_TRUE(std::isnan(m.log_loss));
    }
  }
}

TEST(BinaryMetrics, AreBitwiseIdenticalAcrossRunsChunkingsMergesAndThreadCounts) {
  nlohmann::json g = golden()["binary"]["continuous_weighted"];
  Case c = make_case(g["params"]);
  BinaryMetrics first = accumulate(c, true, 1000).value();
  BinaryAccumulator left = accumulate(c, true, 999), right;
  BinaryAccumulator whole;
  std::size_t half = c.scores.size() / 2;
  left = BinaryAccumulator();
  left.add(c.scores.data(), c.labels.data(), c.weights.data(), static_cast<int64_t>(half));
  right.add(c.scores.data() + half, c.labels.data() + half, c.weights.data() + half,
            static_cast<int64_t>(c.scores.size() - half));
  left.merge(right);
  BinaryOptions one_thread, three_threads;
  one_thread.threads = 1;
  three_threads.threads = 3;
  for (const BinaryMetrics& m :
       {accumulate(c, true, 1000).value(), accumulate(c, true, 4096).value(one_thread),
        accumulate(c, true, 4096).value(three_threads), left.value()}) {
    for (auto [a, b] : {std::pair{m.auroc, first.auroc},
                        {m.average_precision, first.average_precision},
                        {m.log_loss, first.log_loss},
                        {m.ece, first.ece},
                        {m.ks, first.ks}}) {
      EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);
    }
    EXPECT_EQ(m.curve.size(), first.curve.size());
  }
}

TEST(BinaryMetrics, RefusesOneClassAndNonFiniteScoresNamingTheRow) {
  std::vector<double> scores = {0.1, 0.7, 0.3};
  std::vector<float> zeros = {0, 0, 0}, mixed = {0, 1, 2};
  BinaryAccumulator acc;
  acc.add(scores.data(), zeros.data(), nullptr, 3);
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              acc.value();
            }).find("the labels have only one class (all negative)"),
            std::string::npos);
  BinaryAccumulator bad_label;
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              bad_label.add(scores.data(), mixed.data(), nullptr, 3, "data/valid");
            }).find("data/valid: the label at row 2 is 2"),
            std::string::npos);
  std::vector<double> nan_scores = {0.1, NAN, 0.3};
  std::vector<float> labels = {0, 1, 0};
  BinaryAccumulator with_nan;
  with_nan.add(scores.data(), labels.data(), nullptr, 3);
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              with_nan.add(nan_scores.data(), labels.data(), nullptr, 3);
            }).find("score at row 4 is nan"),
            std::string::npos);
  EXPECT_NE(
      kiln::testing::error_of<DataError>([&] { BinaryAccumulator().value(); }).find("no rows"),
      std::string::npos);
}

TEST(Sort, RanksDescendingStablyWithSignedZerosEqualAndDecodesScores) {
  std::vector<double> s = {0.0, -1.5, 2.0, -0.0, 2.0, 1e-300, -1e300, 0.5};
  std::vector<uint8_t> labels = {1, 0, 0, 1, 1, 0, 1, 0};
  Ranking r = rank_descending(s.data(), labels.data(), static_cast<int64_t>(s.size()));
  std::vector<uint32_t> order;
  for (std::size_t i = 0; i < r.size(); ++i) {
    order.push_back(r.row(i));
    EXPECT_EQ(r.positive(i), labels[r.row(i)] == 1);
    EXPECT_EQ(r.score(i), s[r.row(i)] == 0 ? 0.0 : s[r.row(i)]);
  }
  EXPECT_EQ(order, (std::vector<uint32_t>{2, 4, 7, 5, 0, 3, 1, 6}));

  // Slices on threads give the same stable order as one thread, ties included.
  SplitMix64 rng(3);
  std::vector<double> many;
  std::vector<uint8_t> many_labels;
  for (int i = 0; i < 300000; ++i) {
    many.push_back(std::floor((rng.uniform() - 0.3) * 5000) / 7);
    many_labels.push_back(rng.uniform() < 0.5);
  }
  Ranking one = rank_descending(many.data(), many_labels.data(), 300000);
  core::ThreadPool pool(3);
  Ranking three = rank_descending(many.data(), many_labels.data(), 300000, &pool);
  EXPECT_EQ(one.keys, three.keys);
  EXPECT_EQ(one.rows, three.rows);
  for (std::size_t i = 1; i < one.size(); ++i) {
    ASSERT_GE(one.score(i - 1), one.score(i));
    if (one.score(i - 1) == one.score(i)) {
      ASSERT_LT(one.row(i - 1), one.row(i));
    }
  }
}

TEST(RegressionMetrics, MatchScikitLearnWithin1e9) {
  const nlohmann::json all = golden();
  for (const auto& [name, g] : all["regression"].items()) {
    SCOPED_TRACE(name);
    SplitMix64 rng(g["params"]["seed"].get<uint64_t>());
    std::vector<double> y, p, w;
    for (int i = 0; i < g["params"]["n"].get<int>(); ++i) {
      double a = rng.uniform(), b = rng.uniform(), c = rng.uniform();
      y.push_back(10.0 * a - 3.0);
      p.push_back(y.back() + (b - 0.5) * 2.0);
      w.push_back(g["params"]["weighted"].get<bool>() ? 0.25 + 2.0 * c : 1.0);
    }
    RegressionAccumulator first, second;
    std::size_t half = y.size() / 3;
    first.add(p.data(), y.data(), w.data(), static_cast<int64_t>(half));
    second.add(p.data() + half, y.data() + half, w.data() + half,
               static_cast<int64_t>(y.size() - half));
    first.merge(second);
    RegressionMetrics m = first.value();
    EXPECT_NEAR(m.rmse, g["rmse"], 1e-9);
    EXPECT_NEAR(m.mae, g["mae"], 1e-9);
    EXPECT_NEAR(m.r2, g["r2"], 1e-9);
  }
}

}  // namespace
}  // namespace kiln::eval

namespace kiln::eval {
namespace {

// Two scorings of the same rows, as tests/eval/metrics_golden.py's delong_golden makes them.
void delong_case(const nlohmann::json& p, BinaryAccumulator& a, BinaryAccumulator& b) {
  SplitMix64 rng(p["seed"].get<uint64_t>());
  const double levels = p["tie_levels"], signal_b = p["signal_b"];
  std::vector<double> sa, sb;
  std::vector<float> y;
  for (int i = 0; i < p["n"].get<int>(); ++i) {
    double u = rng.uniform(), v = rng.uniform(), w = rng.uniform();
    float label = u < 0.3 ? 1.0f : 0.0f;
    y.push_back(label);
    sa.push_back(std::floor((v + 0.4 * label) * levels) / levels);
    sb.push_back(std::floor((w + signal_b * label) * levels) / levels);
  }
  a.add(sa.data(), y.data(), nullptr, static_cast<int64_t>(y.size()));
  b.add(sb.data(), y.data(), nullptr, static_cast<int64_t>(y.size()));
}

TEST(DeLong, MatchesAnIndependentPairwiseImplementation) {
  const nlohmann::json all = golden();
  for (const auto& [name, g] : all["delong"].items()) {
    SCOPED_TRACE(name);
    BinaryAccumulator a, b;
    delong_case(g["params"], a, b);
    DeLong d = delong(a, b);
    EXPECT_NEAR(d.auroc_a, g["auroc_a"], 1e-12);
    EXPECT_NEAR(d.auroc_a, g["sklearn_auroc_a"], 1e-12);
    EXPECT_NEAR(d.auroc_b, g["auroc_b"], 1e-12);
    EXPECT_NEAR(d.z, g["z"], 1e-9 * std::fabs(g["z"].get<double>()));
    EXPECT_NEAR(d.p_value, g["p_value"], 1e-9 * std::max(g["p_value"].get<double>(), 1e-300));
  }
}

TEST(Bootstrap, IntervalsAreDeterministicAcrossThreadCountsAndCoverThePointEstimate) {
  BinaryAccumulator a, b;
  delong_case(golden()["delong"]["close"]["params"], a, b);
  BootstrapOptions one, four;
  one.replicates = four.replicates = 300;
  one.threads = 1;
  four.threads = 4;
  Replicates r1 = bootstrap(a, one), r4 = bootstrap(a, four);
  ASSERT_EQ(r1.at("auroc").size(), 300u);
  EXPECT_EQ(r1, r4);
  BinaryMetrics m = a.value();
  Interval auroc = percentile_interval(r1.at("auroc"), 0.95);
  EXPECT_LT(auroc.low, m.auroc);
  EXPECT_GT(auroc.high, m.auroc);
  EXPECT_LT(auroc.high - auroc.low, 0.08);  // 4000 rows: a few hundredths wide
  BootstrapOptions other_seed = one;
  other_seed.seed = 1;
  EXPECT_NE(bootstrap(a, other_seed).at("auroc"), r1.at("auroc"));

  // The paired comparison: DeLong for AUROC (unweighted rows), the bootstrap for the rest.
  auto diff = compare(a, b, one);
  EXPECT_EQ(diff.at("auroc").test, "DeLong");
  EXPECT_NEAR(diff.at("auroc").p_value, golden()["delong"]["close"]["p_value"], 1e-9);
  EXPECT_EQ(diff.at("ap").test, "paired bootstrap");
  EXPECT_LT(diff.at("ap").interval.low, diff.at("ap").delta);
  EXPECT_GT(diff.at("ap").interval.high, diff.at("ap").delta);
  // A model against itself: no difference at all.
  auto same = compare(a, a, one);
  EXPECT_EQ(same.at("ap").delta, 0);
  EXPECT_EQ(same.at("auroc").p_value, 1.0);
}

// eval.device: the CPU takes what the GPU cannot (weighted rows) or need not (small inputs),
// and asking for a GPU that is not there is a config error, not a silent CPU run.
TEST(Bootstrap, TheDeviceChoiceFallsBackOnlyWhereItMay) {
  BinaryAccumulator a, b;
  delong_case(golden()["delong"]["close"]["params"], a, b);
  BootstrapOptions cpu;
  cpu.replicates = 50;
  cpu.device = ComputeDevice::kCpu;
  BootstrapOptions automatic = cpu;
  automatic.device = ComputeDevice::kAuto;  // 4000 rows: under kGpuRows, the CPU
  const auto want = bootstrap(a, cpu);
  EXPECT_EQ(bootstrap(a, automatic), want);
  BootstrapOptions cuda = cpu;
  cuda.device = ComputeDevice::kCuda;
  if (kernels::gpu_available()) {
    GTEST_SKIP() << "this machine has a GPU: MetricsGpu covers kCuda";
  }
  EXPECT_NE(kiln::testing::error_of<ConfigError>([&] {
              bootstrap(a, cuda);
            }).find("eval.device: cuda, but there is no GPU"),
            std::string::npos);
  BinaryAccumulator weighted;
  std::vector<double> scores = {0.1, 0.9, 0.4, 0.6}, weights = {1, 2, 1, 2};
  std::vector<float> labels = {0, 1, 0, 1};
  weighted.add(scores.data(), labels.data(), weights.data(), 4);
  EXPECT_EQ(bootstrap(weighted, automatic), bootstrap(weighted, cpu));
}

}  // namespace
}  // namespace kiln::eval

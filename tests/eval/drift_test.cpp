// The drift statistics (eval/drift.h) against numpy and scipy (tests/eval/drift_golden.py):
// 1e-9 where the computation is exact; and from quantile functions against scipy on the
// raw samples, within what the quantile grid allows.
#include "eval/drift.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/temp_dir.h"

namespace kiln::eval {
namespace {

using kiln::testing::TempDir;

void expect_near_rel(double ours, double theirs, double tolerance, const std::string& what) {
  EXPECT_NEAR(ours, theirs, tolerance * std::max(1.0, std::abs(theirs))) << what;
}

// `n` sorted draws: normal(shift, scale) or lognormal.
std::vector<double> sample(int n, double shift, double scale, bool lognormal, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(shift, scale);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (double& x : v)
    x = lognormal ? std::exp(normal(rng)) : normal(rng);
  std::sort(v.begin(), v.end());
  return v;
}

// The quantile function of a sorted sample at q = 0, 1/(points-1), ..., 1 (the order
// statistic at rank ceil(q n), as a profile stores it).
std::vector<double> quantiles(const std::vector<double>& sorted, int points) {
  std::vector<double> q;
  for (int i = 0; i < points; ++i) {
    const double rank = std::ceil(static_cast<double>(i) / (points - 1) * sorted.size());
    q.push_back(sorted[static_cast<std::size_t>(std::clamp(rank - 1, 0.0, sorted.size() - 1.0))]);
  }
  return q;
}

TEST(Drift, EqualsNumpyAndScipyWhereExact) {
  if (std::system((std::string(KILN_PYTHON) + " -c 'import scipy' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << KILN_PYTHON << " has no scipy";
  nlohmann::json in = {{"bins", nlohmann::json::array()},
                       {"samples", nlohmann::json::array()},
                       {"ks", nlohmann::json::array()},
                       {"gamma", nlohmann::json::array()}};
  const std::vector<std::pair<std::vector<double>, std::vector<double>>> bins = {
      {{10, 20, 30, 40}, {10, 20, 30, 40}},                  // no drift
      {{10, 20, 30, 40}, {40, 30, 20, 10}},                  // reversed
      {{500, 500, 0, 1000}, {480, 510, 7, 1003}},            // an empty reference bin
      {{5, 0, 7, 9, 11}, {0, 3, 0, 9, 30}},                  // empty bins on both sides
      {{123456, 234567, 345678}, {123000, 235000, 345000}},  // large counts, small drift
  };
  for (const auto& [r, c] : bins)
    in["bins"].push_back({r, c});
  const std::vector<std::pair<std::vector<double>, std::vector<double>>> samples = {
      {sample(2000, 0, 1, false, 1), sample(2000, 0, 1, false, 2)},
      {sample(2000, 0, 1, false, 3), sample(2000, 0.3, 1.2, false, 4)},
      {sample(5000, 1, 1, true, 5), sample(5000, 1.2, 1, true, 6)},
  };
  for (const auto& [a, b] : samples)
    in["samples"].push_back({a, b});
  for (const auto& k : std::vector<std::vector<double>>{
           {0.01, 1000, 1000}, {0.05, 1000, 2000}, {0.2, 100, 50}, {0.03, 100000, 10000}})
    in["ks"].push_back(k);
  for (const auto& g : std::vector<std::vector<double>>{
           {0.5, 0.1}, {1.5, 2.0}, {2, 10}, {10, 3}, {50, 60}, {0.5, 30}})
    in["gamma"].push_back(g);
  TempDir dir;
  std::ofstream(dir / "in.json") << in.dump();
  const std::string cmd = std::string(KILN_PYTHON) + " " + KILN_SOURCE_DIR +
                          "/tests/eval/drift_golden.py " + (dir / "in.json") + " " +
                          (dir / "out.json");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto golden = nlohmann::json::parse(std::ifstream(dir / "out.json"));
  for (std::size_t i = 0; i < bins.size(); ++i) {
    const auto& [r, c] = bins[i];
    const auto& g = golden["bins"][i];
    const std::string at = "bins " + std::to_string(i);
    expect_near_rel(psi(r, c), g["psi"], 1e-9, at + " psi");
    expect_near_rel(js_distance(r, c), g["js"], 1e-9, at + " js");
    const ChiSquare chi = chi_square(r, c);
    expect_near_rel(chi.statistic, g["chi2"], 1e-9, at + " chi2");
    expect_near_rel(chi.p_value, g["chi2_p"], 1e-9, at + " chi2 p");
  }
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& [a, b] = samples[i];
    const auto& g = golden["samples"][i];
    const std::string at = "samples " + std::to_string(i);
    expect_near_rel(ks_statistic(a, b), g["ks"], 1e-12, at + " ks");
    expect_near_rel(wasserstein1(a, b, true), g["wasserstein"], 1e-9, at + " wasserstein");
    // From 1,001-point quantile functions, as profiles store them: KS within the grid's
    // 1/1000, Wasserstein within 2% (the grid cuts the tails).
    const auto qa = quantiles(a, 1001), qb = quantiles(b, 1001);
    EXPECT_NEAR(ks_statistic(qa, qb), g["ks"].get<double>(), 1.0 / 1000 + 1e-12) << at;
    EXPECT_NEAR(wasserstein1(qa, qb, false), g["wasserstein"].get<double>(),
                0.02 * g["wasserstein"].get<double>() + 1e-3)
        << at;
  }
  for (std::size_t i = 0; i < in["ks"].size(); ++i) {
    const auto& k = in["ks"][i];
    expect_near_rel(ks_p_value(k[0], k[1].get<double>(), k[2].get<double>()), golden["ks"][i], 1e-9,
                    "ks p " + k.dump());
  }
  for (std::size_t i = 0; i < in["gamma"].size(); ++i) {
    const auto& g = in["gamma"][i];
    expect_near_rel(gamma_q(g[0], g[1]), golden["gamma"][i], 1e-9, "gamma_q " + g.dump());
  }
}

TEST(Drift, EmptySidesAndIdenticalDistributionsAreNoDrift) {
  EXPECT_EQ(psi({0, 0}, {1, 2}), 0);
  EXPECT_EQ(js_distance({1, 2}, {0, 0}), 0);
  EXPECT_EQ(ks_statistic({}, {1.0}), 0);
  EXPECT_EQ(chi_square({0, 0}, {1, 1}).p_value, 1);
  EXPECT_NEAR(js_distance({1, 0}, {0, 1}), std::sqrt(std::log(2.0)), 1e-15);  // the maximum
  EXPECT_EQ(ks_p_value(0, 100, 100), 1);
}

}  // namespace
}  // namespace kiln::eval

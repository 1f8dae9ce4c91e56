// Drift statistics between a reference and current data (docs/MONITORING.md): on the
// reference's bins (PSI, Jensen-Shannon distance), from quantile functions (two-sample
// Kolmogorov-Smirnov, Wasserstein-1) and on category counts (chi-square). Pure functions on
// counts and quantile values; exact where their inputs are (tests/eval/drift_golden.py
// checks them against numpy and scipy).
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::eval {

// Evidently's floor for an empty bin's proportion in PSI.
inline constexpr double kEmptyBinShare = 1e-4;

// The population stability index: sum over bins of (c - r) * ln(c / r), where r and c are
// the bins' shares of each side and an empty bin's share is kEmptyBinShare. 0 when a side
// is empty. Both sides must have the same bins.
double psi(const std::vector<double>& reference, const std::vector<double>& current);

// The Jensen-Shannon distance (natural logarithm; scipy.spatial.distance.jensenshannon):
// the square root of the mean Kullback-Leibler divergence of each side's shares from their
// average. In [0, sqrt(ln 2)]; 0 when a side is empty.
double js_distance(const std::vector<double>& reference, const std::vector<double>& current);

// The two-sample Kolmogorov-Smirnov statistic, sup |F_a(x) - F_b(x)|, where F(x) is the share
// of a side's values at or below x. Each side is a sorted sample or a quantile function
// sampled at q = 0, 1/(n-1), ..., 1 (then F is within 1/(n-1) of the distribution's). 0
// when a side is empty.
double ks_statistic(const std::vector<double>& a, const std::vector<double>& b);

// The asymptotic p-value of a two-sample KS statistic `d` with `n` and `m` values: the
// Kolmogorov distribution's survival function at sqrt(n m / (n + m)) d
// (scipy.stats.kstwobign.sf).
double ks_p_value(double d, int64_t n, int64_t m);

// The Wasserstein-1 distance between two sorted samples of one size (the mean absolute
// difference of their order statistics, as scipy.stats.wasserstein_distance gives it), or
// between two quantile functions sampled on one grid q = 0, 1/(n-1), ..., 1 (the trapezoid
// rule over q).
double wasserstein1(const std::vector<double>& a, const std::vector<double>& b, bool samples);

struct ChiSquare {
  double statistic = 0;
  double p_value = 1;
  int64_t dof = 0;
};
// Pearson's chi-square test of `current` counts against the reference's shares
// (scipy.stats.chisquare(current, reference / sum(reference) * sum(current))). Categories
// the reference never saw get an expected count of kEmptyBinShare of the current total, so
// that a new category is drift, not a division by zero.
ChiSquare chi_square(const std::vector<double>& reference, const std::vector<double>& current);

// The regularized upper incomplete gamma function Q(a, x) (scipy.special.gammaincc).
double gamma_q(double a, double x);

}  // namespace kiln::eval

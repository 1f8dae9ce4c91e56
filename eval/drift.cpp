#include "eval/drift.h"

#include <math.h>  // lgamma_r

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/errors.h"

namespace kiln::eval {
namespace {

double total(const std::vector<double>& counts) {
  return std::accumulate(counts.begin(), counts.end(), 0.0);
}

void check_same_bins(const std::vector<double>& a, const std::vector<double>& b) {
  KILN_ASSERT(a.size() == b.size(), "drift: ", a.size(), " bins against ", b.size());
}

}  // namespace

double psi(const std::vector<double>& reference, const std::vector<double>& current) {
  check_same_bins(reference, current);
  const double r_total = total(reference), c_total = total(current);
  if (r_total <= 0 || c_total <= 0) return 0;
  double sum = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double r = reference[i] > 0 ? reference[i] / r_total : kEmptyBinShare;
    const double c = current[i] > 0 ? current[i] / c_total : kEmptyBinShare;
    sum += (c - r) * std::log(c / r);
  }
  return sum;
}

double js_distance(const std::vector<double>& reference, const std::vector<double>& current) {
  check_same_bins(reference, current);
  const double r_total = total(reference), c_total = total(current);
  if (r_total <= 0 || c_total <= 0) return 0;
  double divergence = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double p = reference[i] / r_total, q = current[i] / c_total, m = (p + q) / 2;
    if (p > 0) divergence += p * std::log(p / m) / 2;
    if (q > 0) divergence += q * std::log(q / m) / 2;
  }
  return std::sqrt(std::max(0.0, divergence));
}

double ks_statistic(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) return 0;
  // The sup is reached at one of the sides' values: both sides walked in order, at each
  // value the share of each side at or below it.
  const auto n = static_cast<double>(a.size()), m = static_cast<double>(b.size());
  std::size_t i = 0, j = 0;
  double d = 0;
  while (i < a.size() || j < b.size()) {
    const double x = j == b.size() || (i < a.size() && a[i] <= b[j]) ? a[i] : b[j];
    while (i < a.size() && a[i] <= x)
      ++i;
    while (j < b.size() && b[j] <= x)
      ++j;
    d = std::max(d, std::abs(static_cast<double>(i) / n - static_cast<double>(j) / m));
  }
  return d;
}

double ks_p_value(double d, int64_t n, int64_t m) {
  if (n <= 0 || m <= 0) return 1;
  const double en =
      std::sqrt(static_cast<double>(n) * static_cast<double>(m) / static_cast<double>(n + m));
  const double lambda = en * d;
  if (lambda < 0.2) return 1;  // the series converges slowly here, and its value is 1
  double sum = 0;
  for (int k = 1; k <= 200; ++k) {
    const double term = std::exp(-2.0 * k * k * lambda * lambda);
    sum += (k % 2 == 1 ? 2.0 : -2.0) * term;
    if (term < 1e-16) break;
  }
  return std::clamp(sum, 0.0, 1.0);
}

double wasserstein1(const std::vector<double>& a, const std::vector<double>& b, bool samples) {
  check_same_bins(a, b);
  if (a.empty()) return 0;
  double sum = 0;
  if (samples) {
    for (std::size_t i = 0; i < a.size(); ++i)
      sum += std::abs(a[i] - b[i]);
    return sum / static_cast<double>(a.size());
  }
  if (a.size() < 2) return std::abs(a[0] - b[0]);
  for (std::size_t i = 1; i < a.size(); ++i)
    sum += (std::abs(a[i - 1] - b[i - 1]) + std::abs(a[i] - b[i])) / 2;
  return sum / static_cast<double>(a.size() - 1);
}

ChiSquare chi_square(const std::vector<double>& reference, const std::vector<double>& current) {
  check_same_bins(reference, current);
  const double r_total = total(reference), c_total = total(current);
  ChiSquare out;
  if (r_total <= 0 || c_total <= 0) return out;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double expected =
        reference[i] > 0 ? reference[i] / r_total * c_total : kEmptyBinShare * c_total;
    out.statistic += (current[i] - expected) * (current[i] - expected) / expected;
  }
  out.dof = static_cast<int64_t>(reference.size()) - 1;
  out.p_value = out.dof > 0 ? gamma_q(static_cast<double>(out.dof) / 2, out.statistic / 2) : 1;
  return out;
}

double gamma_q(double a, double x) {
  KILN_ASSERT(a > 0 && x >= 0, "gamma_q(", a, ", ", x, ")");
  if (x == 0) return 1;
  int sign = 0;  // lgamma_r: std::lgamma writes the global signgam (columns run on threads)
  const double log_prefix = a * std::log(x) - x - ::lgamma_r(a, &sign);
  if (x < a + 1) {  // the series of P(a, x), then Q = 1 - P
    double term = 1 / a, sum = term;
    for (int n = 1; n < 10000 && std::abs(term) > std::abs(sum) * 1e-17; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return std::clamp(1 - sum * std::exp(log_prefix), 0.0, 1.0);
  }
  // Lentz's continued fraction for Q(a, x).
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < 1e-16) break;
  }
  return std::clamp(std::exp(log_prefix) * h, 0.0, 1.0);
}

}  // namespace kiln::eval

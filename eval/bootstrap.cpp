#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "eval/draws.h"
#include "eval/metrics_cuda.h"
#include "eval/sort.h"
#include "kernels/device.h"

namespace kiln::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The rows in descending score order with what a replicate needs per position.
struct Prepared {
  Ranking ranked;
  std::vector<double> weight;    // the row's own weight
  std::vector<double> log_loss;  // its log-loss term (probabilities only)
  std::vector<double> brier;     // its Brier term
  bool probabilities = false;
};

Prepared prepare(const BinaryAccumulator& rows, core::ThreadPool* pool) {
  Prepared p;
  p.ranked = rank_descending(rows.scores().data(), rows.labels().data(), rows.rows(), pool);
  const auto n = p.ranked.size();
  p.probabilities = n > 0 && p.ranked.score(n - 1) >= 0 && p.ranked.score(0) <= 1;
  const double eps = std::numeric_limits<double>::epsilon();
  p.weight.resize(n);
  if (p.probabilities) {
    p.log_loss.resize(n);
    p.brier.resize(n);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const uint32_t row = p.ranked.row(i);
    p.weight[i] = rows.weighted() ? rows.weights()[row] : 1.0;
    if (!p.probabilities) continue;
    const double s = p.ranked.score(i), y = p.ranked.positive(i) ? 1.0 : 0.0;
    const double c = std::clamp(s, eps, 1 - eps);
    p.log_loss[i] = -(y > 0 ? std::log(c) : std::log(1 - c));
    p.brier[i] = (y - s) * (y - s);
  }
  return p;
}

using ReplicateValues = BootstrapSample::Values;

ReplicateValues replicate(const Prepared& p, uint64_t seed, int r) {
  const std::size_t n = p.ranked.size();
  double positives = 0, negatives = 0;
  std::vector<double> w(n);
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = p.weight[i] * poisson_draws(seed, r, p.ranked.row(i));
    (p.ranked.positive(i) ? positives : negatives) += w[i];
  }
  ReplicateValues v{kNaN, kNaN, kNaN, kNaN};
  if (!(positives > 0 && negatives > 0)) return v;  // a replicate with one class: skipped
  double tp = 0, fp = 0, area2 = 0, ap = 0, ll = 0, br = 0;
  std::size_t i = 0;
  while (i < n) {
    const uint64_t key = p.ranked.keys[i];
    double group_tp = 0, group_fp = 0;
    for (; i < n && p.ranked.keys[i] == key; ++i) {
      (p.ranked.positive(i) ? group_tp : group_fp) += w[i];
      if (p.probabilities) {
        ll += w[i] * p.log_loss[i];
        br += w[i] * p.brier[i];
      }
    }
    area2 += group_fp * (2 * tp + group_tp);
    tp += group_tp;
    fp += group_fp;
    if (group_tp > 0) ap += group_tp / positives * (tp / (tp + fp));
  }
  v.auroc = area2 / (2 * positives * negatives);
  v.ap = ap;
  if (p.probabilities) {
    v.log_loss = ll / (positives + negatives);
    v.brier = br / (positives + negatives);
  }
  return v;
}

std::vector<ReplicateValues> all_replicates(const Prepared& p, const BootstrapOptions& options,
                                            core::ThreadPool& pool) {
  std::vector<ReplicateValues> out(static_cast<std::size_t>(std::max(options.replicates, 0)));
  pool.parallel_for(static_cast<int64_t>(out.size()), [&](int64_t r) {
    out[static_cast<std::size_t>(r)] = replicate(p, options.seed, static_cast<int>(r));
  });
  return out;
}

// Per metric, the finite values of a field over the replicates, sorted.
template <class Field>
std::vector<double> collect(const std::vector<ReplicateValues>& values, Field field) {
  std::vector<double> out;
  for (const auto& v : values) {
    double x = field(v);
    if (std::isfinite(x)) out.push_back(x);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<std::pair<std::string, double ReplicateValues::*>>& fields() {
  static const std::vector<std::pair<std::string, double ReplicateValues::*>> f = {
      {"auroc", &ReplicateValues::auroc},
      {"ap", &ReplicateValues::ap},
      {"log_loss", &ReplicateValues::log_loss},
      {"brier", &ReplicateValues::brier}};
  return f;
}

// Whether options.device sends these rows' replicates to the GPU.
bool on_gpu(const BinaryAccumulator& rows, const BootstrapOptions& options) {
  switch (options.device) {
    case ComputeDevice::kCpu:
      return false;
    case ComputeDevice::kCuda:
      KILN_CHECK(kernels::gpu_available(), ConfigError,
                 "eval.device: cuda, but there is no GPU for eval (Kiln built without CUDA, or "
                 "no device)");
      return !rows.weighted();
    case ComputeDevice::kAuto:
      break;
  }
  return !rows.weighted() && rows.rows() >= kGpuRows && kernels::gpu_available();
}

double normal_two_sided_p(double z) {
  return std::erfc(std::fabs(z) / std::sqrt(2.0));
}

}  // namespace

Interval percentile_interval(const std::vector<double>& sorted, double level) {
  if (sorted.empty()) return {kNaN, kNaN};
  auto at = [&](double q) {  // linear interpolation, as numpy's default percentile
    double pos = q * static_cast<double>(sorted.size() - 1);
    auto lo = static_cast<std::size_t>(std::floor(pos));
    std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
  };
  return {at((1 - level) / 2), at(1 - (1 - level) / 2)};
}

BootstrapSample bootstrap_sample(const BinaryAccumulator& rows, const BootstrapOptions& options) {
  if (options.replicates <= 0) return {};
  if (on_gpu(rows, options)) return bootstrap_sample_cuda(rows, options);
  core::ThreadPool pool(options.threads);
  Prepared p = prepare(rows, &pool);
  return {all_replicates(p, options, pool), p.probabilities};
}

Replicates sorted_replicates(const BootstrapSample& sample) {
  Replicates out;
  for (const auto& [name, field] : fields()) {
    if ((name == "log_loss" || name == "brier") && !sample.probabilities) continue;
    out[name] =
        collect(sample.replicates, [field = field](const ReplicateValues& v) { return v.*field; });
  }
  return out;
}

Replicates bootstrap(const BinaryAccumulator& rows, const BootstrapOptions& options) {
  return sorted_replicates(bootstrap_sample(rows, options));
}

std::map<std::string, Difference> compare(const BinaryAccumulator& model,
                                          const BinaryAccumulator& baseline,
                                          const BootstrapOptions& options) {
  const BinaryMetrics ma = model.value(), mb = baseline.value();
  const BootstrapSample sa = bootstrap_sample(model, options),
                        sb = bootstrap_sample(baseline, options);
  return compare({model, ma, sa}, {baseline, mb, sb}, options);
}

std::map<std::string, Difference> compare(const ScoredSample& model, const ScoredSample& baseline,
                                          const BootstrapOptions& options) {
  KILN_CHECK(
      model.rows.rows() == baseline.rows.rows() && model.rows.labels() == baseline.rows.labels(),
      DataError, "a baseline must score the same rows with the same labels (", model.rows.rows(),
      " vs ", baseline.rows.rows(), " rows)");
  const auto& va = model.sample.replicates;
  const auto& vb = baseline.sample.replicates;
  KILN_ASSERT(va.size() == vb.size(), "bootstrap samples of different sizes");
  const BinaryMetrics& ma = model.point;
  const BinaryMetrics& mb = baseline.point;
  std::map<std::string, double> point_a = {{"auroc", ma.auroc},
                                           {"ap", ma.average_precision},
                                           {"log_loss", ma.log_loss},
                                           {"brier", ma.brier}};
  std::map<std::string, double> point_b = {{"auroc", mb.auroc},
                                           {"ap", mb.average_precision},
                                           {"log_loss", mb.log_loss},
                                           {"brier", mb.brier}};
  std::map<std::string, Difference> out;
  for (const auto& [name, field] : fields()) {
    if (!std::isfinite(point_a[name]) || !std::isfinite(point_b[name])) continue;
    std::vector<double> deltas;
    for (std::size_t r = 0; r < va.size(); ++r) {
      double d = va[r].*field - vb[r].*field;
      if (std::isfinite(d)) deltas.push_back(d);
    }
    std::sort(deltas.begin(), deltas.end());
    Difference diff;
    diff.delta = point_a[name] - point_b[name];
    diff.interval = percentile_interval(deltas, options.level);
    diff.test = "paired bootstrap";
    if (!deltas.empty()) {
      // Two-sided, with the add-one correction: never 0 from a finite number of replicates.
      auto below =
          static_cast<double>(std::upper_bound(deltas.begin(), deltas.end(), 0.0) - deltas.begin());
      auto above =
          static_cast<double>(deltas.end() - std::lower_bound(deltas.begin(), deltas.end(), 0.0));
      diff.p_value = std::min(
          1.0, (2 * std::min(below, above) + 1) / (static_cast<double>(deltas.size()) + 1));
    } else {
      diff.p_value = kNaN;
    }
    out[name] = diff;
  }
  if (!model.rows.weighted() && !baseline.rows.weighted()) {
    DeLong d = delong(model.rows, baseline.rows);
    out["auroc"].p_value = d.p_value;
    out["auroc"].test = "DeLong";
  }
  return out;
}

DeLong delong(const BinaryAccumulator& a, const BinaryAccumulator& b) {
  KILN_CHECK(!a.weighted() && !b.weighted(), DataError, "DeLong's test takes unweighted rows");
  KILN_CHECK(a.rows() == b.rows() && a.labels() == b.labels(), DataError,
             "DeLong's test needs two scorings of the same rows with the same labels");
  const auto n = static_cast<std::size_t>(a.rows());
  // Placement values per row: for a positive, the share of negatives it outranks (ties
  // count half); for a negative, the share of positives that outrank it.
  auto placements = [n](const BinaryAccumulator& m, double& auroc) {
    Ranking r = rank_descending(m.scores().data(), m.labels().data(), static_cast<int64_t>(n));
    double positives = 0;
    for (uint8_t y : m.labels())
      positives += y;
    const double negatives = static_cast<double>(n) - positives;
    KILN_CHECK(positives > 0 && negatives > 0, DataError,
               "the labels have only one class: AUROC is undefined");
    std::vector<double> v(n);
    double tp = 0, fp = 0, sum = 0;
    std::size_t i = 0;
    while (i < n) {
      std::size_t end = i;
      double group_tp = 0, group_fp = 0;
      for (; end < n && r.keys[end] == r.keys[i]; ++end)
        (r.positive(end) ? group_tp : group_fp) += 1;
      for (std::size_t j = i; j < end; ++j) {
        if (r.positive(j)) {
          v[r.row(j)] = (negatives - fp - group_fp + 0.5 * group_fp) / negatives;
          sum += v[r.row(j)];
        } else {
          v[r.row(j)] = (tp + 0.5 * group_tp) / positives;
        }
      }
      tp += group_tp;
      fp += group_fp;
      i = end;
    }
    auroc = sum / positives;
    return v;
  };
  DeLong d;
  std::vector<double> va = placements(a, d.auroc_a), vb = placements(b, d.auroc_b);
  // Covariance of the placement-value differences over positives and over negatives.
  double pos_mean = 0, neg_mean = 0, positives = 0, negatives = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double diff = va[i] - vb[i];
    if (a.labels()[i]) {
      pos_mean += diff;
      positives += 1;
    } else {
      neg_mean += diff;
      negatives += 1;
    }
  }
  pos_mean /= positives;
  neg_mean /= negatives;
  double pos_var = 0, neg_var = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double diff = va[i] - vb[i];
    if (a.labels()[i]) {
      pos_var += (diff - pos_mean) * (diff - pos_mean);
    } else {
      neg_var += (diff - neg_mean) * (diff - neg_mean);
    }
  }
  pos_var /= std::max(positives - 1, 1.0);
  neg_var /= std::max(negatives - 1, 1.0);
  d.delta = d.auroc_a - d.auroc_b;
  d.standard_error = std::sqrt(pos_var / positives + neg_var / negatives);
  d.z = d.standard_error > 0 ? d.delta / d.standard_error : 0;
  d.p_value = d.standard_error > 0 ? normal_two_sided_p(d.z) : (d.delta == 0 ? 1.0 : 0.0);
  return d;
}

}  // namespace kiln::eval

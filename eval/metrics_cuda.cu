// The GPU path of eval (eval/metrics_cuda.h): sort by score (descending), reduce tie groups
// by key into (positives, negatives) per distinct score, an exclusive scan for the counts
// above each group, then two transform-reductions: the doubled AUROC area as an exact
// unsigned 64-bit integer, and the average-precision sum in fp64. A bootstrap replicate
// reweights the sorted rows by their Poisson draws and does the same from the reduction by
// key on; its log loss and Brier score are one more reduction of the rows' terms.
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/functional.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>
#include <thrust/system/cuda/error.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>

#include <thrust/gather.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/sequence.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/errors.h"
#include "eval/draws.h"
#include "eval/metrics_cuda.h"

namespace kiln::eval {
namespace {

struct Counts {
  long long positives;
  long long negatives;
  __host__ __device__ Counts operator+(const Counts& o) const {
    return {positives + o.positives, negatives + o.negatives};
  }
};

struct ToCounts {
  __host__ __device__ Counts operator()(uint8_t label) const {
    return {label ? 1LL : 0LL, label ? 0LL : 1LL};
  }
};

struct PositiveZero {  // -0 and +0 are one score
  __host__ __device__ double operator()(double s) const { return s == 0 ? 0.0 : s; }
};

// gfp * (2 * tp_above + gtp): twice the trapezoid a tie group adds under the ROC curve.
struct AreaTerm {
  __host__ __device__ unsigned long long operator()(const thrust::tuple<Counts, Counts>& t) const {
    const Counts& group = thrust::get<0>(t);
    const Counts& above = thrust::get<1>(t);
    return static_cast<unsigned long long>(group.negatives) *
           static_cast<unsigned long long>(2 * above.positives + group.positives);
  }
};

// The group's recall step times the precision at its threshold.
struct PrecisionTerm {
  double positives;
  __host__ __device__ double operator()(const thrust::tuple<Counts, Counts>& t) const {
    const Counts& group = thrust::get<0>(t);
    const Counts& above = thrust::get<1>(t);
    if (group.positives == 0) return 0.0;
    const double tp = static_cast<double>(above.positives + group.positives);
    const double fp = static_cast<double>(above.negatives + group.negatives);
    return static_cast<double>(group.positives) / positives * (tp / (tp + fp));
  }
};

// A position's (positives, negatives) in one bootstrap replicate: its label times its draws.
struct ReplicateCounts {
  const uint32_t* rows;
  const uint8_t* labels;
  uint64_t seed;
  int replicate;
  __host__ __device__ Counts operator()(long long i) const {
    long long k = poisson_draws(seed, replicate, rows[i]);
    return labels[i] ? Counts{k, 0} : Counts{0, k};
  }
};

// A row's log-loss and Brier terms, or their sums over a replicate.
struct Losses {
  double log_loss;
  double brier;
  __host__ __device__ Losses operator+(const Losses& o) const {
    return {log_loss + o.log_loss, brier + o.brier};
  }
};

// A position's terms from its score and label, as BinaryAccumulator's: the score clipped to
// [eps, 1 - eps] for the log loss.
struct RowLosses {
  __host__ __device__ Losses operator()(double s, uint8_t label) const {
    const double eps = 2.220446049250313e-16;  // DBL_EPSILON
    const double c = s < eps ? eps : (s > 1 - eps ? 1 - eps : s), y = label ? 1.0 : 0.0;
    return {-(label ? log(c) : log(1 - c)), (y - s) * (y - s)};
  }
};

// A position's terms in one bootstrap replicate: its terms times its draws.
struct ReplicateLosses {
  const uint32_t* rows;
  const Losses* losses;
  uint64_t seed;
  int replicate;
  __host__ __device__ Losses operator()(long long i) const {
    const double k = poisson_draws(seed, replicate, rows[i]);
    return {k * losses[i].log_loss, k * losses[i].brier};
  }
};

// A position starts a new tie group: 1, else 0 (inclusive-scanned into group ids).
struct StartsGroup {
  const double* keys;
  __host__ __device__ int operator()(long long i) const {
    return i > 0 && keys[i] != keys[i - 1] ? 1 : 0;
  }
};

}  // namespace

BootstrapSample bootstrap_sample_cuda(const double* scores, const uint8_t* labels, int64_t n,
                                      const BootstrapOptions& options, bool probabilities,
                                      void* stream) {
  KILN_CHECK(n > 0 && n < (int64_t{1} << 31), DataError, "cannot bootstrap ", n, " rows at once");
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  BootstrapSample out;
  out.probabilities = probabilities;
  if (options.replicates <= 0) return out;
  try {
    auto policy = thrust::cuda::par.on(static_cast<cudaStream_t>(stream));
    const auto size = static_cast<std::size_t>(n);
    thrust::device_vector<double> keys(size);
    thrust::transform(policy, thrust::device_pointer_cast(scores),
                      thrust::device_pointer_cast(scores) + n, keys.begin(), PositiveZero());
    thrust::device_vector<uint32_t> rows(size);
    thrust::sequence(policy, rows.begin(), rows.end());
    thrust::stable_sort_by_key(policy, keys.begin(), keys.end(), rows.begin(),
                               thrust::greater<double>());
    thrust::device_vector<uint8_t> sorted_labels(size);
    thrust::gather(policy, rows.begin(), rows.end(), thrust::device_pointer_cast(labels),
                   sorted_labels.begin());
    thrust::device_vector<Losses> losses;  // per position, with probabilities
    if (probabilities) {
      losses.resize(size);
      thrust::transform(policy, keys.begin(), keys.end(), sorted_labels.begin(), losses.begin(),
                        RowLosses());
    }
    thrust::device_vector<int> group_ids(size);
    auto starts =
        thrust::make_transform_iterator(thrust::counting_iterator<long long>(0),
                                        StartsGroup{thrust::raw_pointer_cast(keys.data())});
    thrust::inclusive_scan(policy, starts, starts + n, group_ids.begin());
    const auto group_count = static_cast<std::size_t>(static_cast<int>(group_ids.back()) + 1);
    thrust::device_vector<int> unique_ids(group_count);
    thrust::device_vector<Counts> groups(group_count), above(group_count);
    for (int r = 0; r < options.replicates; ++r) {
      BootstrapSample::Values v{kNaN, kNaN, kNaN, kNaN};
      auto counts = thrust::make_transform_iterator(
          thrust::counting_iterator<long long>(0),
          ReplicateCounts{thrust::raw_pointer_cast(rows.data()),
                          thrust::raw_pointer_cast(sorted_labels.data()), options.seed, r});
      thrust::reduce_by_key(policy, group_ids.begin(), group_ids.end(), counts, unique_ids.begin(),
                            groups.begin());
      thrust::exclusive_scan(policy, groups.begin(), groups.end(), above.begin(), Counts{0, 0},
                             thrust::plus<Counts>());
      const Counts total = static_cast<Counts>(above.back()) + static_cast<Counts>(groups.back());
      if (total.positives > 0 && total.negatives > 0) {
        auto pairs = thrust::make_zip_iterator(thrust::make_tuple(groups.begin(), above.begin()));
        const unsigned long long area2 =
            thrust::transform_reduce(policy, pairs, pairs + static_cast<long>(group_count),
                                     AreaTerm(), 0ULL, thrust::plus<unsigned long long>());
        const auto positives = static_cast<double>(total.positives);
        const auto negatives = static_cast<double>(total.negatives);
        v.auroc = static_cast<double>(area2) / (2.0 * positives * negatives);
        v.ap = thrust::transform_reduce(policy, pairs, pairs + static_cast<long>(group_count),
                                        PrecisionTerm{positives}, 0.0, thrust::plus<double>());
        if (probabilities) {
          const Losses sum = thrust::transform_reduce(
              policy, thrust::counting_iterator<long long>(0),
              thrust::counting_iterator<long long>(n),
              ReplicateLosses{thrust::raw_pointer_cast(rows.data()),
                              thrust::raw_pointer_cast(losses.data()), options.seed, r},
              Losses{0, 0}, thrust::plus<Losses>());
          v.log_loss = sum.log_loss / (positives + negatives);
          v.brier = sum.brier / (positives + negatives);
        }
      }
      out.replicates.push_back(v);
    }
  } catch (const thrust::system_error& e) {
    throw InternalError(detail::concat("CUDA error in the GPU bootstrap: ", e.what()));
  }
  return out;
}

BootstrapSample bootstrap_sample_cuda(const BinaryAccumulator& rows,
                                      const BootstrapOptions& options) {
  KILN_ASSERT(!rows.weighted(), "the GPU bootstrap takes unweighted rows");
  const std::vector<double>& scores = rows.scores();
  KILN_CHECK(!scores.empty(), DataError, "no rows to evaluate");
  const auto [low, high] = std::minmax_element(scores.begin(), scores.end());
  try {
    const thrust::device_vector<double> d_scores(scores.begin(), scores.end());
    const thrust::device_vector<uint8_t> d_labels(rows.labels().begin(), rows.labels().end());
    return bootstrap_sample_cuda(thrust::raw_pointer_cast(d_scores.data()),
                                 thrust::raw_pointer_cast(d_labels.data()), rows.rows(), options,
                                 *low >= 0 && *high <= 1);
  } catch (const thrust::system_error& e) {
    throw InternalError(detail::concat("CUDA error copying scores to the GPU: ", e.what()));
  }
}

RankingSummary ranking_metrics_cuda(const double* scores, const uint8_t* labels, int64_t n,
                                    void* stream) {
  KILN_CHECK(n > 0, DataError, "no rows to evaluate");
  try {
    auto policy = thrust::cuda::par.on(static_cast<cudaStream_t>(stream));
    thrust::device_vector<double> keys(static_cast<std::size_t>(n));
    // The inputs are read on `stream` only: whoever wrote them there (LibTorch, on its
    // current stream) has then finished.
    thrust::device_vector<uint8_t> sorted_labels(static_cast<std::size_t>(n));
    thrust::copy(policy, thrust::device_pointer_cast(labels),
                 thrust::device_pointer_cast(labels) + n, sorted_labels.begin());
    thrust::transform(policy, thrust::device_pointer_cast(scores),
                      thrust::device_pointer_cast(scores) + n, keys.begin(), PositiveZero());
    thrust::stable_sort_by_key(policy, keys.begin(), keys.end(), sorted_labels.begin(),
                               thrust::greater<double>());
    thrust::device_vector<double> group_keys(static_cast<std::size_t>(n));
    thrust::device_vector<Counts> groups(static_cast<std::size_t>(n));
    auto counts = thrust::make_transform_iterator(sorted_labels.begin(), ToCounts());
    auto ends = thrust::reduce_by_key(policy, keys.begin(), keys.end(), counts, group_keys.begin(),
                                      groups.begin());
    const auto group_count = static_cast<std::size_t>(ends.second - groups.begin());
    thrust::device_vector<Counts> above(group_count);
    thrust::exclusive_scan(policy, groups.begin(), groups.begin() + static_cast<long>(group_count),
                           above.begin(), Counts{0, 0}, thrust::plus<Counts>());
    const Counts last_above = above[group_count - 1], last = groups[group_count - 1];
    const Counts total = last_above + last;
    KILN_CHECK(total.positives > 0 && total.negatives > 0, DataError,
               "the labels have only one class (",
               total.positives > 0 ? "all positive" : "all negative",
               "): AUROC and average precision are undefined");
    auto pairs = thrust::make_zip_iterator(thrust::make_tuple(groups.begin(), above.begin()));
    const unsigned long long area2 =
        thrust::transform_reduce(policy, pairs, pairs + static_cast<long>(group_count), AreaTerm(),
                                 0ULL, thrust::plus<unsigned long long>());
    const double ap = thrust::transform_reduce(
        policy, pairs, pairs + static_cast<long>(group_count),
        PrecisionTerm{static_cast<double>(total.positives)}, 0.0, thrust::plus<double>());
    RankingSummary out;
    out.positives = total.positives;
    out.negatives = total.negatives;
    out.auroc = static_cast<double>(static_cast<long double>(area2) /
                                    (2.0L * static_cast<long double>(total.positives) *
                                     static_cast<long double>(total.negatives)));
    out.average_precision = ap;
    return out;
  } catch (const thrust::system_error& e) {
    throw InternalError(detail::concat("CUDA error in the ranking metrics: ", e.what()));
  }
}

}  // namespace kiln::eval

#include "eval/regression_metrics.h"

#include <cmath>
#include <limits>

#include "core/errors.h"

namespace kiln::eval {

void RegressionAccumulator::add(const double* predictions, const double* targets,
                                const double* weights, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double w = weights ? weights[i] : 1.0;
    KILN_CHECK(std::isfinite(predictions[i]) && std::isfinite(targets[i]), DataError, "row ", rows_,
               ": prediction ", predictions[i], " and target ", targets[i], " must be finite");
    KILN_CHECK(std::isfinite(w) && w >= 0, DataError, "row ", rows_, ": weight ", w,
               " must be finite and >= 0");
    const double e = predictions[i] - targets[i];
    squared_error_ += w * e * e;
    absolute_error_ += w * std::fabs(e);
    if (w > 0) {  // West's weighted update of the target's mean and sum of squares
      weight_ += w;
      const double delta = targets[i] - target_mean_;
      target_mean_ += w / weight_ * delta;
      target_m2_ += w * delta * (targets[i] - target_mean_);
    }
    ++rows_;
  }
}

void RegressionAccumulator::merge(const RegressionAccumulator& other) {
  if (other.weight_ > 0) {
    const double total = weight_ + other.weight_;
    const double delta = other.target_mean_ - target_mean_;
    target_m2_ += other.target_m2_ + delta * delta * weight_ * other.weight_ / total;
    target_mean_ += delta * other.weight_ / total;
    weight_ = total;
  }
  rows_ += other.rows_;
  squared_error_ += other.squared_error_;
  absolute_error_ += other.absolute_error_;
}

RegressionMetrics RegressionAccumulator::value() const {
  KILN_CHECK(rows_ > 0 && weight_ > 0, DataError, "no rows (or only zero weights) to evaluate");
  RegressionMetrics m;
  m.rows = rows_;
  m.rmse = std::sqrt(squared_error_ / weight_);
  m.mae = absolute_error_ / weight_;
  m.r2 =
      target_m2_ > 0 ? 1.0 - squared_error_ / target_m2_ : std::numeric_limits<double>::quiet_NaN();
  return m;
}

}  // namespace kiln::eval

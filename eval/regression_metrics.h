// Regression metrics from streaming fp64 sums (scikit-learn's definitions, with weights):
// RMSE, MAE and R2.
#pragma once

#include <cstdint>

namespace kiln::eval {

struct RegressionMetrics {
  int64_t rows = 0;
  double rmse = 0, mae = 0, r2 = 0;  // r2 is NaN when the targets are constant
};

class RegressionAccumulator {
 public:
  // weights may be null (all 1); predictions and targets finite, weights finite and >= 0:
  // DataError naming the row.
  void add(const double* predictions, const double* targets, const double* weights, int64_t n);
  void merge(const RegressionAccumulator& other);
  RegressionMetrics value() const;  // DataError without rows or with zero total weight

 private:
  int64_t rows_ = 0;
  double weight_ = 0;
  double squared_error_ = 0, absolute_error_ = 0;
  double target_mean_ = 0, target_m2_ = 0;  // weighted, merged with Chan et al.'s update
};

}  // namespace kiln::eval

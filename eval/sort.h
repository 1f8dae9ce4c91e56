// The one sort behind the ranking metrics: row indices ordered by score, highest first.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::eval {

// Rows 0..n-1 ordered by descending score; equal scores keep row order (stable), so the
// result is a function of the input alone. An LSD radix sort on the scores' order-preserving
// 64-bit keys (-0 and +0 are equal). NaN scores must have been refused before.
std::vector<uint32_t> order_descending(const double* scores, int64_t n);

}  // namespace kiln::eval

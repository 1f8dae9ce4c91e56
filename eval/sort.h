// The one sort behind the ranking metrics: rows ordered by score, highest first.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace kiln::eval {

// Rows by descending score, each with its label, so that a metric pass reads memory in
// order. Equal scores keep row order (stable): the result is a function of the input.
struct Ranking {
  std::vector<uint64_t> keys;  // order keys of the scores, ascending (= scores descending)
  std::vector<uint32_t> rows;  // row << 1 | label, in the same order

  std::size_t size() const { return keys.size(); }
  uint32_t row(std::size_t i) const { return rows[i] >> 1; }
  bool positive(std::size_t i) const { return (rows[i] & 1) != 0; }
  double score(std::size_t i) const;  // the score of position i, decoded from its key
};

// The order-preserving key of a score (-0 and +0 are equal; NaN is not allowed).
uint64_t descending_key(double score);

// An LSD radix sort on the 64-bit keys (11-bit digits; digits that are the same for every
// row are skipped), on `pool`'s threads when given: each thread scatters its own slice, so
// the result does not depend on the thread count. At most 2^31 - 1 rows (DataError beyond).
Ranking rank_descending(const double* scores, const uint8_t* labels, int64_t n,
                        core::ThreadPool* pool = nullptr);

}  // namespace kiln::eval

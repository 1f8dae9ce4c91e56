#include "eval/sort.h"

#include <array>
#include <cstring>

#include "core/errors.h"

namespace kiln::eval {
namespace {

// A key whose unsigned order is the descending order of the double.
uint64_t descending_key(double score) {
  if (score == 0) score = 0;  // -0 == +0
  uint64_t bits;
  std::memcpy(&bits, &score, sizeof bits);
  uint64_t ascending = (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63);
  return ~ascending;
}

}  // namespace

std::vector<uint32_t> order_descending(const double* scores, int64_t n) {
  KILN_CHECK(n >= 0 && n < (int64_t{1} << 32), DataError, "cannot rank ", n,
             " rows at once (at most 2^32 - 1)");
  const auto count = static_cast<std::size_t>(n);
  std::vector<uint64_t> keys(count), keys_out(count);
  std::vector<uint32_t> order(count), order_out(count);
  for (std::size_t i = 0; i < count; ++i) {
    keys[i] = descending_key(scores[i]);
    order[i] = static_cast<uint32_t>(i);
  }
  // Four passes of 16 bits; a pass whose digit is the same for every key is skipped.
  constexpr int kBits = 16;
  std::vector<std::size_t> histogram(std::size_t{1} << kBits);
  for (int shift = 0; shift < 64; shift += kBits) {
    std::fill(histogram.begin(), histogram.end(), 0);
    for (uint64_t k : keys)
      ++histogram[(k >> shift) & 0xffff];
    if (count > 0 && histogram[(keys[0] >> shift) & 0xffff] == count) continue;
    std::size_t sum = 0;
    for (auto& h : histogram) {
      std::size_t c = h;
      h = sum;
      sum += c;
    }
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t at = histogram[(keys[i] >> shift) & 0xffff]++;
      keys_out[at] = keys[i];
      order_out[at] = order[i];
    }
    keys.swap(keys_out);
    order.swap(order_out);
  }
  return order;
}

}  // namespace kiln::eval

#include "eval/sort.h"

#include <array>
#include <cstring>

#include "core/errors.h"

namespace kiln::eval {
namespace {

constexpr int kBits = 11, kPasses = 6;  // 66 bits cover the key
constexpr std::size_t kBuckets = std::size_t{1} << kBits;
using Histogram = std::array<std::size_t, kBuckets>;

std::size_t digit(uint64_t key, int pass) {
  return (key >> (pass * kBits)) & (kBuckets - 1);
}

}  // namespace

uint64_t descending_key(double score) {
  if (score == 0) score = 0;  // -0 == +0
  uint64_t bits;
  std::memcpy(&bits, &score, sizeof bits);
  uint64_t ascending = (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63);
  return ~ascending;
}

double Ranking::score(std::size_t i) const {
  uint64_t ascending = ~keys[i];
  uint64_t bits = (ascending >> 63) ? ascending & ~(uint64_t{1} << 63) : ~ascending;
  double s;
  std::memcpy(&s, &bits, sizeof s);
  return s;
}

Ranking rank_descending(const double* scores, const uint8_t* labels, int64_t n,
                        core::ThreadPool* pool) {
  KILN_CHECK(n >= 0 && n < (int64_t{1} << 31), DataError, "cannot rank ", n,
             " rows at once (at most 2^31 - 1)");
  const auto count = static_cast<std::size_t>(n);
  // Slices: one per thread (a pool's size), in row order; small inputs take one.
  const std::size_t slices = pool != nullptr && count >= (std::size_t{1} << 16)
                                 ? static_cast<std::size_t>(pool->size())
                                 : 1;
  auto slice_begin = [&](std::size_t s) { return count * s / slices; };
  auto run = [&](const std::function<void(int64_t)>& fn) {
    if (slices > 1) {
      pool->parallel_for(static_cast<int64_t>(slices), fn);
    } else {
      fn(0);
    }
  };
  Ranking r;
  r.keys.resize(count);
  r.rows.resize(count);
  // Every pass's histogram per slice, from one read of the scores.
  std::vector<std::array<Histogram, kPasses>> histograms(slices);
  run([&](int64_t s) {
    auto& h = histograms[static_cast<std::size_t>(s)];
    for (auto& pass : h)
      pass.fill(0);
    for (std::size_t i = slice_begin(static_cast<std::size_t>(s));
         i < slice_begin(static_cast<std::size_t>(s) + 1); ++i) {
      const uint64_t key = descending_key(scores[i]);
      r.keys[i] = key;
      r.rows[i] = static_cast<uint32_t>(i << 1) | (labels[i] ? 1u : 0u);
      for (int p = 0; p < kPasses; ++p)
        ++h[static_cast<std::size_t>(p)][digit(key, p)];
    }
  });
  std::vector<uint64_t> keys_out(count);
  std::vector<uint32_t> rows_out(count);
  std::vector<Histogram> offsets(slices);
  for (int p = 0; p < kPasses; ++p) {
    if (p > 0 && slices > 1) {  // the slices hold other rows now: count this digit again
      run([&](int64_t s) {
        Histogram& h = histograms[static_cast<std::size_t>(s)][static_cast<std::size_t>(p)];
        h.fill(0);
        for (std::size_t i = slice_begin(static_cast<std::size_t>(s));
             i < slice_begin(static_cast<std::size_t>(s) + 1); ++i)
          ++h[digit(r.keys[i], p)];
      });
    }
    // Where each slice's rows of each bucket go: buckets in order, slices in order within one.
    std::size_t sum = 0;
    bool trivial = false;
    for (std::size_t b = 0; b < kBuckets && !trivial; ++b) {
      std::size_t bucket_total = 0;
      for (std::size_t s = 0; s < slices; ++s) {
        offsets[s][b] = sum + bucket_total;
        bucket_total += histograms[s][static_cast<std::size_t>(p)][b];
      }
      trivial = bucket_total == count;  // every key has this digit: nothing to do
      sum += bucket_total;
    }
    if (trivial || count == 0) continue;
    run([&](int64_t s) {
      Histogram& at = offsets[static_cast<std::size_t>(s)];
      for (std::size_t i = slice_begin(static_cast<std::size_t>(s));
           i < slice_begin(static_cast<std::size_t>(s) + 1); ++i) {
        std::size_t to = at[digit(r.keys[i], p)]++;
        keys_out[to] = r.keys[i];
        rows_out[to] = r.rows[i];
      }
    });
    r.keys.swap(keys_out);
    r.rows.swap(rows_out);
  }
  return r;
}

}  // namespace kiln::eval

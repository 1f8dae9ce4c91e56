// Counter-based random numbers: the same (key, counter) always gives the same number, on
// every platform, so data generation and shuffles depend only on their seeds.
#pragma once

#include <cmath>
#include <cstdint>

namespace kiln::data {

// splitmix64's finalizer: a bijective 64-bit mix. constexpr, so that CUDA code compiled with
// --expt-relaxed-constexpr calls it too (eval/draws.h).
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t mix_keys(uint64_t a, uint64_t b) {
  return mix64(a ^ mix64(b + 0x632be59bd9b4e019ull));
}

class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : state_(mix64(key)) {}
  uint64_t next() { return mix64(state_++); }
  // Uniform in (0, 1).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  // Uniform integer in [0, n), without modulo bias (Lemire's method with rejection).
  uint64_t below(uint64_t n) {
    while (true) {
      unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
      uint64_t low = static_cast<uint64_t>(m);
      if (low >= n || low >= (0 - n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }

 private:
  uint64_t state_;
};

}  // namespace kiln::data

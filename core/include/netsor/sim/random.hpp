// netsor/sim/random.hpp — reproducible random streams for the finite-width simulator.
//
// Every random object of a simulation (a matrix of one trial, an input family of one trial) draws from its
// own stream, keyed by (seed, trial, node, block): the numbers do not depend on which thread draws them or
// in which order, so results are bit-identical whatever the thread count.
//   * xoshiro256++ (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021), seeded
//     through splitmix64;
//   * standard normals by the ziggurat method with 256 layers (Marsaglia & Tsang, J. Stat. Softw. 5(8), 2000),
//     with independent bits for the layer and the abscissa (Doornik, 2005), tail by Marsaglia's method.
#pragma once

#include <cstdint>

namespace netsor::detail {

inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// A stream key from its coordinates (seed, trial, object, block).
inline std::uint64_t stream_key(std::uint64_t seed, std::uint64_t trial, std::uint64_t object, std::uint64_t block) {
  std::uint64_t s = seed;
  std::uint64_t k = splitmix64(s);
  s = k ^ (trial * 0xd1b54a32d192ed03ULL);
  k = splitmix64(s);
  s = k ^ (object * 0x8cb92ba72f3d8dd7ULL);
  k = splitmix64(s);
  s = k ^ (block * 0xabc98388fb8fac03ULL);
  return splitmix64(s);
}

class Xoshiro256 {
 public:
  explicit Xoshiro256(std::uint64_t key) {
    for (auto& w : s_) w = splitmix64(key);
  }
  std::uint64_t operator()() {
    const std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

/// The ziggurat tables (computed once in double; they do not depend on any precision setting).
struct ZigguratTables {
  std::uint64_t k[256];
  double w[256];
  double f[256];
};
const ZigguratTables& ziggurat_tables();

/// A standard normal deviate.
double normal_tail(Xoshiro256& rng, bool negative);
inline double standard_normal(Xoshiro256& rng, const ZigguratTables& t) {
  for (;;) {
    std::uint64_t r = rng();
    const int idx = static_cast<int>(r & 0xff);
    r >>= 8;
    const bool negative = r & 1;
    const std::uint64_t rabs = (r >> 1) & 0x000fffffffffffffULL;
    double x = static_cast<double>(rabs) * t.w[idx];
    if (rabs < t.k[idx]) return negative ? -x : x;  // inside the rectangle: ~99% of draws
    if (idx == 0) return normal_tail(rng, negative);
    if ((t.f[idx - 1] - t.f[idx]) * rng.uniform() + t.f[idx] < __builtin_exp(-0.5 * x * x)) return negative ? -x : x;
  }
}

/// Fills `out[0..count)` with iid N(0, scale^2) draws from `rng`.
void fill_normal(Xoshiro256& rng, double* out, long count, double scale);

}  // namespace netsor::detail

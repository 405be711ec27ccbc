// random.cpp — ziggurat tables and the normal tail (Marsaglia & Tsang 2000, 256 layers).
#include <netsor/sim/random.hpp>

#include <cmath>

namespace netsor::detail {

namespace {
constexpr double zig_r = 3.6541528853610088;       // right edge of the base strip
constexpr double zig_v = 4.92867323399e-3;         // area of each layer
constexpr double zig_m = 4503599627370496.0;       // 2^52: the abscissa has 52 random bits

ZigguratTables make_tables() {
  ZigguratTables t{};
  double dn = zig_r, tn = dn;
  const double q = zig_v / std::exp(-0.5 * dn * dn);
  t.k[0] = static_cast<std::uint64_t>((dn / q) * zig_m);
  t.k[1] = 0;
  t.w[0] = q / zig_m;
  t.w[255] = dn / zig_m;
  t.f[0] = 1.0;
  t.f[255] = std::exp(-0.5 * dn * dn);
  for (int i = 254; i >= 1; --i) {
    dn = std::sqrt(-2.0 * std::log(zig_v / dn + std::exp(-0.5 * dn * dn)));
    t.k[i + 1] = static_cast<std::uint64_t>((dn / tn) * zig_m);
    tn = dn;
    t.f[i] = std::exp(-0.5 * dn * dn);
    t.w[i] = dn / zig_m;
  }
  return t;
}
}  // namespace

const ZigguratTables& ziggurat_tables() {
  static const ZigguratTables tables = make_tables();  // doubles only: independent of any precision
  return tables;
}

double normal_tail(Xoshiro256& rng, bool negative) {
  // Marsaglia (1964): x = r - log(U1)/r accepted when -2 log(U2) > x'^2.
  for (;;) {
    const double xx = -std::log1p(-rng.uniform()) / zig_r;
    const double yy = -std::log1p(-rng.uniform());
    if (yy + yy > xx * xx) return negative ? -(zig_r + xx) : zig_r + xx;
  }
}

void fill_normal(Xoshiro256& rng, double* out, long count, double scale) {
  const auto& t = ziggurat_tables();
  for (long i = 0; i < count; ++i) out[i] = scale * standard_normal(rng, t);
}

}  // namespace netsor::detail

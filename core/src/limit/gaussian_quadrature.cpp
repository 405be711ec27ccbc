// gaussian_quadrature.cpp — E[f(Z)], Z ~ N(0, I_dim), dim <= 3, to hundreds of digits (see the header).
//
// Method.
//  * One dimension, no kink: the trapezoidal rule h sum_k f(kh) rho(kh) on the whole line. For an integrand
//    analytic in the strip |Im z| < d it converges like exp(-2 pi d / h) (Trefethen & Weideman, "The
//    exponentially convergent trapezoidal rule", SIAM Review 56 (2014), Sec. 5), and the Gaussian weight
//    makes it the rule of choice: Gauss-Hermite needs about twice as many nodes for tanh (poles at +-i pi/2).
//  * A piece with a finite end (relu, abs, step, ...): the end is sent to -infinity by the Ooura-Mori map
//    z = a + phi(t), phi(t) = t / (1 - exp(-K sinh t)) (T. Ooura & M. Mori, J. Comput. Appl. Math. 38 (1991)
//    353-360): phi decays double-exponentially as t -> -inf (Takahasi & Mori, Publ. RIMS 9 (1974) 721-741) and
//    is the identity as t -> +inf, so the bulk of the Gaussian keeps the plain trapezoid's node spacing. A
//    finite piece [a, b] uses z = a + s (phi(t) - phi(t - tau)), double-exponential at both ends.
//  * Two and three dimensions: iterated integration, outer over z_0, inner over the rest. The inner line is
//    split where kink hyperplanes cross it; the inner integral, as a function of the outer variables, is
//    analytic except on the hyperplanes that do not involve the inner variable and where two inner breakpoints
//    collide. Those become the kinks of the outer integral (built once, recursively, in `KinkHierarchy`).
//  * Error control: the step is halved (nested levels; no evaluation is wasted) and the error of the finest
//    level is predicted from the last three levels, T(h), T(2h), T(4h): for exponential convergence
//    log|T(h) - T(2h)| / log|T(2h) - T(4h)| is the rate at which digits double, and the predicted error of
//    T(h) is |T(h) - T(2h)|^rate (relative to the L1 scale), the rate capped at 2 (the strip theory's value),
//    which makes the prediction conservative for any constant in front of the exponential (the same estimate
//    as mpmath's quad). Tolerances of inner integrals are budgeted against the weight of their outer node, so
//    inner lines far in the Gaussian tail are computed to fewer digits, with coarser steps.
//  * Cost: evaluations of f dominate. Nodes and weights of the plain rule and of the map are tabulated once per
//    precision (in bits) and step, per thread; hot loops run on preallocated MPFR numbers.
// Measurements that chose this over Boost.Math's double-exponential integrators are in bench/bench_quadrature.cpp.
#include <netsor/errors.hpp>
#include <netsor/limit/gaussian_quadrature.hpp>

#include <mpfr.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <map>
#include <numbers>
#include <sstream>
#include <cstdio>
#include <cstdlib>

namespace netsor::detail {

namespace {

// ------------------------------------------------------------------------------------------- named constants
// Strip half-width assumed when guessing the step: tanh, sigmoid, ... have their nearest complex singularity at
// distance pi/2 from the real axis, and the Ooura-Mori map is analytic in |Im t| < pi/2. The guess only says
// where refinement starts; halving continues until the error estimate is met.
constexpr double kReferenceStrip = std::numbers::pi / 2;
// The same for a piece behind the Ooura-Mori map (below). The Gaussian composed with the map grows without bound
// near the map's poles, so the effective strip is narrower than the poles' distance: measured for 1, z^2 and
// tanh on [a, inf), a in [-9, 2], it is 2.0-2.7 with kDeScale = 2 (1.3-1.5 with scale 1, which costs 1.6x more
// nodes per dimension for relu and step integrands).
constexpr double kReferenceStripDe = 2.0;
// Digits added to the target when guessing the step, so that the guessed level usually meets the target
// without one more halving (which would double the cost).
constexpr double kStepMarginDigits = 5;
// The rule starts 2^kCoarseLevels times coarser than the guess: entire integrands (polynomials, erf, relu
// pieces) converge like exp(-c / h^2) and stop early; for the others the coarse levels are subsets of the fine
// one and cost nothing.
constexpr int kCoarseLevels = 3;
// Never start coarser than this (a coarser rule sees only the node at 0).
constexpr double kMaxStartStep = 2;
// Halvings beyond the guess (h shrinks by at most 2^kMaxHalvings): a hard stop for integrands whose strip is
// far narrower than the reference one; they are reported as not converged.
constexpr int kMaxHalvings = 12;
// Predicted errors are multiplied by this before they are compared with the tolerance (one digit of safety).
constexpr double kPredictionSafety = 10;
// The doubling model x(h/2) = 2 x(h) - c (see predicted_error) is trusted once the levels agree to this many
// digits, if it predicted the last level within kModelSlackDigits; it may then gain at most kMaxModelGainDigits
// over the capped-rate estimate (c of a double pole with the Gaussian's growth is about 3 digits).
constexpr double kModelTrustDigits = -2;
constexpr double kModelSlackDigits = 0.5;
constexpr double kMaxModelGainDigits = 4;
// Without a third level, an observed rate x1/x2 above this is a transition, not the exponential regime (where
// the rate tends to 2, above it by c / (a - c) for a constant C = 10^c A in front): an integrand whose main part
// converges fast at coarse levels (nearly constant, or entire) can hide a small part with a narrow strip, such
// as the poles of tanh(0.6 z1 + 0.8 z2) at z2 = -6.7 + 1.96 i on the inner line at z1 = 8.97 (amplitude
// rho(6.7) = 1e-10), whose digits then grow with rates 5.3, 2.1, 1.25 (with a third level, the doubling model
// catches the 2.1: it predicted 2.6).
constexpr double kMaxTrustedRate = 2.5;
// Rate trusted when only two level differences carry digits (see predicted_error).
constexpr double kUnconfirmedRate = 1.5;
// Largest rate trusted behind the double-exponential maps. When a piece's finite end lies in the Gaussian tail
// (a relu kink at -9 inner to a 2-D integral), the error has two parts: the bulk's, which dominates the coarse
// levels and converges fast, and the end's (tiny amplitude, narrower strip) which takes over later. Measured
// digit ratios between successive levels are then 3.4 followed by 1.8; a cap of 1.5 is never fooled by that.
// The step guessed for such pieces aims at 2 / kDeRateCap times the digits, so that the level whose
// predecessor meets the cap is the guessed one.
constexpr double kDeRateCap = 1.5;
// A term is negligible when below 1/kTailShare of the tolerance: beyond the truncation point the terms decay
// at least geometrically (Gaussian or double-exponential), so the neglected tail is a fraction of that.
constexpr double kTailShare = 8;
// Consecutive negligible terms required to stop a walk (protects against an isolated zero of f).
constexpr int kNegligibleRun = 2;
// Inner integrals of an iterated integral share at most 1/kInnerShare of the outer tolerance.
constexpr double kInnerShare = 4;
// Rounding noise of a level sum: each term carries a few units of roundoff (node, weight, f, product), and n
// additions add about sqrt(n) more.
constexpr double kRoundingUlps = 4;
// Level differences within kNoiseFactor times the expected rounding noise are rounding, not discretization.
constexpr double kNoiseFactor = 16;
// Ooura-Mori map phi(t) = t / (1 - exp(-K sinh(t / kDeScale))). K = pi puts the map's poles at
// Im t = kDeScale pi/2 (Re t = +-kDeScale acosh 2); K in [pi/2, 4] measured alike, 2 pi is worse. The scale 2
// doubles the strip (above) for a double-exponential end twice as long in t.
constexpr double kDeK = std::numbers::pi;
constexpr double kDeScale = 2;
// The map tables are built with this many extra bits: phi'(t) cancels like 1/t near t = 0.
constexpr mpfr_prec_t kTableGuardBits = 64;
// At most this many precisions keep cached tables per thread (the evaluator alternates two).
constexpr std::size_t kMaxCachedPrecisions = 4;
// Digits never below this for a line (an inner line far in the tail still gets a few digits).
constexpr double kMinLineDigits = 3;
// Probe points (in units of the Gaussian scale) that detect a piece where f vanishes identically (the dead
// half-line of a relu): a piece analytic on an interval that is exactly 0 at three points is 0 there.
constexpr std::array<double, 3> kProbe = {0.37, 1.13, 2.71};
// Breakpoints closer than this many units of roundoff (relative) are one.
constexpr double kCoincidentUlps = 256;
// Redo with a tighter relative target at most this many times when the integral cancels.
constexpr int kMaxCancellationRetries = 2;
// Scale of the sinh map on whole lines, in units of sqrt(digits ln 10) = R / sqrt(2) (R: truncation radius).
// A node at z needs digits - z^2 / (2 ln 10) digits, so the spacing may grow like R^2 / (R^2 - z^2) = 1 + z^2/R^2
// + ...; the map's sqrt(1 + z^2/c^2) matches that to second order at c = R / sqrt 2, and a pole of f at real
// part x then still contributes rho(x) 10^-(digits / z'(x)) <= 10^-digits (the step margin keeps a margin;
// measured: 1 - 3 digits to spare on tanh((z - b) s)^2, b <= 6, s <= 3, at 50 digits; 0.8 falls short). 0 disables.
const double kSinhMapScale = std::getenv("NETSOR_SINH") ? std::atof(std::getenv("NETSOR_SINH")) : 1.0;
// Number of 2-adic buckets: levels are at most kCoarseLevels + kMaxHalvings + margin deep.
constexpr int kBuckets = 24;

// --------------------------------------------------------------------------------------------- raw MPFR access
inline mpfr_ptr M(Real& x) { return x.backend().data(); }
inline mpfr_srcptr M(const Real& x) { return x.backend().data(); }

mpfr_prec_t current_bits() {
  Real probe;
  return mpfr_get_prec(M(probe));
}

const Real& max_of(const Real& x, const Real& y) { return x < y ? y : x; }

double log10_of(const Real& x) {  // log10 of a positive Real as a double (Reals may be far below 1e-308)
  long e = 0;
  const double m = mpfr_get_d_2exp(&e, M(x), MPFR_RNDN);
  return std::log10(std::abs(m)) + static_cast<double>(e) * std::log10(2.0);
}

Real pow10_real(double e) {  // 10^e at the working precision (e may be far below -308)
  Real r;
  mpfr_set_d(M(r), e, MPFR_RNDN);
  mpfr_exp10(M(r), M(r), MPFR_RNDN);
  return r;
}

// ------------------------------------------------------------------------------------------ per-precision tables
// Trapezoid on R behind the sinh map z = c sinh(t / c) (c = 0: z = t): z_k = z(k h) and
// w_k = z'(k h) rho(z_k), rho(z) = exp(-z^2/2) / sqrt(2 pi), for k >= 0 (both are even in k up to the sign of z).
struct LineTable {
  double h = 0, c = 0;
  std::vector<Real> z, w;
};
// Ooura-Mori map at t = k h, k in [k_lo, k_lin]; for k > k_lin, phi(t) = t and phi'(t) = 1 to working precision.
struct DeTable {
  long k_lo = 0, k_lin = 0;
  std::vector<Real> phi, dphi;  // index k - k_lo
};
struct PrecisionCache {
  std::map<std::pair<double, double>, LineTable> line;  // by (h, c)
  std::map<double, DeTable> de;
  Real inv_sqrt_2pi;
};

thread_local int t_engine_depth = 0;  // > 0 while an engine on this thread holds references into the cache

PrecisionCache& cache_for(mpfr_prec_t bits) {
  thread_local std::map<mpfr_prec_t, PrecisionCache> caches;
  auto it = caches.find(bits);
  if (it == caches.end()) {
    if (caches.size() >= kMaxCachedPrecisions && t_engine_depth == 0) caches.clear();
    it = caches.emplace(bits, PrecisionCache{}).first;
    Real& c = it->second.inv_sqrt_2pi;
    mpfr_const_pi(M(c), MPFR_RNDN);
    mpfr_mul_2ui(M(c), M(c), 1, MPFR_RNDN);
    mpfr_rec_sqrt(M(c), M(c), MPFR_RNDN);
  }
  return it->second;
}

// Largest |z| at which a walk may still find non-negligible terms: the Gaussian weight there is below
// 2^-(4 bits), so only an integrand growing like exp(c z) with c > 2 sqrt(bits) could still matter.
double hard_radius(mpfr_prec_t bits) { return std::sqrt(8.0 * std::log(2.0) * static_cast<double>(bits)) + 10; }

// Extends the table to k_needed. Computed kTableGuardBits above the working precision, where the recurrences
// e^{(k+1) h/c} = e^{k h/c} e^{h/c} and rho((k+1) h) = rho(k h) q^{2k+1} (q = e^{-h^2/2}) lose far less than the
// guard: one exponential per entry for the sinh map, none for the plain rule.
void extend_line_table(LineTable& t, long k_needed, mpfr_prec_t bits) {
  const auto n = static_cast<std::size_t>(k_needed + 1);
  const std::size_t k0 = t.z.size();
  if (k0 >= n) return;
  t.z.reserve(n);
  t.w.reserve(n);
  const mpfr_prec_t p = bits + kTableGuardBits;
  mpfr_t c, e, einv, r, rinv, zz, ww, tmp, s2pi;
  mpfr_inits2(p, c, e, einv, r, rinv, zz, ww, tmp, s2pi, static_cast<mpfr_ptr>(nullptr));
  mpfr_const_pi(s2pi, MPFR_RNDN);
  mpfr_mul_2ui(s2pi, s2pi, 1, MPFR_RNDN);
  mpfr_rec_sqrt(s2pi, s2pi, MPFR_RNDN);  // 1 / sqrt(2 pi)
  if (t.c > 0) {
    mpfr_set_d(c, t.c, MPFR_RNDN);
    mpfr_set_d(r, t.h, MPFR_RNDN);
    mpfr_div(r, r, c, MPFR_RNDN);
    mpfr_mul_ui(e, r, k0, MPFR_RNDN);
    mpfr_exp(e, e, MPFR_RNDN);     // e^{k0 h / c}
    mpfr_exp(r, r, MPFR_RNDN);     // e^{h / c}
    mpfr_ui_div(einv, 1, e, MPFR_RNDN);
    mpfr_ui_div(rinv, 1, r, MPFR_RNDN);
    for (std::size_t k = k0; k < n; ++k) {
      mpfr_sub(zz, e, einv, MPFR_RNDN);
      mpfr_mul(zz, zz, c, MPFR_RNDN);
      mpfr_div_2ui(zz, zz, 1, MPFR_RNDN);  // c sinh(k h / c)
      mpfr_add(ww, e, einv, MPFR_RNDN);
      mpfr_div_2ui(ww, ww, 1, MPFR_RNDN);  // cosh(k h / c)
      mpfr_sqr(tmp, zz, MPFR_RNDN);
      mpfr_div_2ui(tmp, tmp, 1, MPFR_RNDN);
      mpfr_neg(tmp, tmp, MPFR_RNDN);
      mpfr_exp(tmp, tmp, MPFR_RNDN);
      mpfr_mul(ww, ww, tmp, MPFR_RNDN);
      mpfr_mul(ww, ww, s2pi, MPFR_RNDN);
      Real z, w;
      mpfr_set(M(z), zz, MPFR_RNDN);
      mpfr_set(M(w), ww, MPFR_RNDN);
      t.z.push_back(std::move(z));
      t.w.push_back(std::move(w));
      mpfr_mul(e, e, r, MPFR_RNDN);
      mpfr_mul(einv, einv, rinv, MPFR_RNDN);
    }
  } else {
    // ww = rho(k h) and r = q^{2k+1}, q = exp(-h^2/2)
    mpfr_set_d(zz, t.h, MPFR_RNDN);
    mpfr_mul_ui(zz, zz, k0, MPFR_RNDN);
    mpfr_sqr(ww, zz, MPFR_RNDN);
    mpfr_div_2ui(ww, ww, 1, MPFR_RNDN);
    mpfr_neg(ww, ww, MPFR_RNDN);
    mpfr_exp(ww, ww, MPFR_RNDN);
    mpfr_mul(ww, ww, s2pi, MPFR_RNDN);
    mpfr_set_d(tmp, t.h, MPFR_RNDN);
    mpfr_sqr(tmp, tmp, MPFR_RNDN);
    mpfr_div_2ui(tmp, tmp, 1, MPFR_RNDN);
    mpfr_neg(tmp, tmp, MPFR_RNDN);
    mpfr_exp(rinv, tmp, MPFR_RNDN);            // q
    mpfr_mul_ui(tmp, tmp, 2 * k0 + 1, MPFR_RNDN);
    mpfr_exp(r, tmp, MPFR_RNDN);               // q^{2 k0 + 1}
    mpfr_sqr(rinv, rinv, MPFR_RNDN);           // q^2
    for (std::size_t k = k0; k < n; ++k) {
      Real z, w;
      mpfr_set_d(M(z), t.h, MPFR_RNDN);
      mpfr_mul_ui(M(z), M(z), k, MPFR_RNDN);
      mpfr_set(M(w), ww, MPFR_RNDN);
      t.z.push_back(std::move(z));
      t.w.push_back(std::move(w));
      mpfr_mul(ww, ww, r, MPFR_RNDN);
      mpfr_mul(r, r, rinv, MPFR_RNDN);
    }
  }
  mpfr_clears(c, e, einv, r, rinv, zz, ww, tmp, s2pi, static_cast<mpfr_ptr>(nullptr));
}

// phi(t) = t / (1 - E), E = exp(-K sinh(t/s)), s = kDeScale;  phi'(t) = (D - (t K / s) cosh(t/s) E) / D^2 with
// D = 1 - E;  phi(0) = s/K, phi'(0) = 1/2.
const DeTable& de_table(PrecisionCache& pc, double h, mpfr_prec_t bits) {
  auto it = pc.de.find(h);
  if (it != pc.de.end()) return it->second;
  DeTable t;
  const double ln2 = std::log(2.0);
  // Beyond t_lin, K sinh(t/s) exceeds (bits + guard) ln 2 and phi(t) = t to working precision.
  const double t_lin = kDeScale * std::asinh(((static_cast<double>(bits) + 16) * ln2 + 10) / kDeK);
  // Below -t_de the map weight phi'(t) ~ exp(-K sinh(|t|/s)) is under 2^-(2 bits): no walk gets there.
  const double t_de = kDeScale * (std::asinh((2.0 * static_cast<double>(bits) * ln2 + 50) / kDeK) + 0.5);
  t.k_lin = static_cast<long>(std::ceil(t_lin / h));
  t.k_lo = -static_cast<long>(std::ceil(t_de / h));
  const auto n = static_cast<std::size_t>(t.k_lin - t.k_lo + 1);
  t.phi.resize(n);
  t.dphi.resize(n);
  const mpfr_prec_t p = bits + kTableGuardBits;
  mpfr_t tt, ts, u, em, d, e, c, num, kk;
  mpfr_inits2(p, tt, ts, u, em, d, e, c, num, kk, static_cast<mpfr_ptr>(nullptr));
  mpfr_set_d(kk, kDeK, MPFR_RNDN);
  if (kDeK == std::numbers::pi) mpfr_const_pi(kk, MPFR_RNDN);
  for (long k = t.k_lo; k <= t.k_lin; ++k) {
    const auto i = static_cast<std::size_t>(k - t.k_lo);
    if (k == 0) {
      mpfr_ui_div(num, 1, kk, MPFR_RNDN);
      mpfr_mul_d(M(t.phi[i]), num, kDeScale, MPFR_RNDN);
      mpfr_set_d(M(t.dphi[i]), 0.5, MPFR_RNDN);
      continue;
    }
    mpfr_set_d(tt, h, MPFR_RNDN);
    mpfr_mul_si(tt, tt, k, MPFR_RNDN);
    mpfr_div_d(ts, tt, kDeScale, MPFR_RNDN);
    mpfr_sinh(u, ts, MPFR_RNDN);
    mpfr_mul(u, u, kk, MPFR_RNDN);  // u = K sinh(t/s)
    mpfr_neg(em, u, MPFR_RNDN);
    mpfr_expm1(em, em, MPFR_RNDN);     // exp(-u) - 1
    mpfr_neg(d, em, MPFR_RNDN);        // D = 1 - exp(-u)
    mpfr_add_ui(e, em, 1, MPFR_RNDN);  // exp(-u)
    mpfr_div(num, tt, d, MPFR_RNDN);
    mpfr_set(M(t.phi[i]), num, MPFR_RNDN);
    mpfr_cosh(c, ts, MPFR_RNDN);
    mpfr_mul(c, c, kk, MPFR_RNDN);
    mpfr_mul(c, c, ts, MPFR_RNDN);
    mpfr_mul(c, c, e, MPFR_RNDN);  // (t/s) K cosh(t/s) exp(-u)
    mpfr_sub(num, d, c, MPFR_RNDN);
    mpfr_div(num, num, d, MPFR_RNDN);
    mpfr_div(num, num, d, MPFR_RNDN);
    mpfr_set(M(t.dphi[i]), num, MPFR_RNDN);
  }
  mpfr_clears(tt, ts, u, em, d, e, c, num, kk, static_cast<mpfr_ptr>(nullptr));
  return pc.de.emplace(h, std::move(t)).first->second;
}

// ------------------------------------------------------------------------------------------- kink hierarchy
// A hyperplane a.z = b in R^m (m = a.size()).
struct Plane {
  std::vector<Real> a;
  Real b;
};

// planes[k] holds hyperplanes of R^{k+1} with a[k] != 0: for fixed z_0..z_{k-1}, the line integral over z_k is
// split at z_k = (b - sum_{j<k} a_j z_j) / a_k. Built from the kinks of R^dim downwards: a kink not involving
// z_k is passed to the outer level, and so is the locus where two breakpoints of z_k collide.
class KinkHierarchy {
 public:
  KinkHierarchy(const std::vector<Kink>& kinks, unsigned dim, mpfr_prec_t bits) : planes_(dim) {
    // Coefficients below 2^-(bits/2) of the largest are rounding noise of the whitening (structural zeros).
    Real zero_tol;
    mpfr_set_ui_2exp(M(zero_tol), 1, -static_cast<mpfr_exp_t>(bits / 2), MPFR_RNDN);
    std::vector<Plane> cur;
    for (const auto& k : kinks) add_unique(cur, Plane{k.a, k.b}, zero_tol);
    for (unsigned kk = dim; kk-- > 0;) {
      std::vector<Plane> next;
      for (auto& p : cur) {
        if (abs(p.a[kk]) > 0) {
          planes_[kk].push_back(p);
        } else if (kk > 0) {
          Plane q{std::vector<Real>(p.a.begin(), p.a.begin() + kk), p.b};
          add_unique(next, std::move(q), zero_tol);
        }
      }
      if (kk == 0) break;
      const auto& bp = planes_[kk];
      for (std::size_t i = 0; i < bp.size(); ++i)
        for (std::size_t j = i + 1; j < bp.size(); ++j) {
          Plane q;
          q.a.resize(kk);
          for (unsigned c = 0; c < kk; ++c) q.a[c] = bp[i].a[c] / bp[i].a[kk] - bp[j].a[c] / bp[j].a[kk];
          q.b = bp[i].b / bp[i].a[kk] - bp[j].b / bp[j].a[kk];
          add_unique(next, std::move(q), zero_tol);
        }
      cur = std::move(next);
    }
  }
  const std::vector<Plane>& at(unsigned k) const { return planes_[k]; }

 private:
  // Normalizes (largest |a_i| = 1, positive), zeroes noise coefficients, drops a = 0 and duplicates.
  static void add_unique(std::vector<Plane>& v, Plane p, const Real& zero_tol) {
    Real big = 0;
    std::size_t arg = 0;
    for (std::size_t i = 0; i < p.a.size(); ++i)
      if (abs(p.a[i]) > big) big = abs(p.a[i]), arg = i;
    if (big == 0) return;  // no hyperplane (a constant jump cannot be located)
    const Real s = p.a[arg] > 0 ? Real(1 / big) : Real(-1 / big);
    for (auto& c : p.a) {
      c *= s;
      if (abs(c) <= zero_tol) c = 0;
    }
    p.b *= s;
    for (const auto& q : v) {
      bool same = abs(q.b - p.b) <= zero_tol * (1 + abs(p.b));
      for (std::size_t i = 0; same && i < p.a.size(); ++i) same = abs(q.a[i] - p.a[i]) <= zero_tol;
      if (same) return;
    }
    v.push_back(std::move(p));
  }
  std::vector<std::vector<Plane>> planes_;
};

// --------------------------------------------------------------------------------------------------- engine
enum class MapKind { Line, Right, Left, Finite };  // R, [a, inf), (-inf, a], [a, b]

struct LineResult {
  Real value, err, l1, noise;
  bool ok = true;
};

class Engine {
 public:
  Engine(const GaussianIntegrand& g, const QuadratureOptions& opt, mpfr_prec_t bits)
      : g_(g),
        opt_(opt),
        bits_(bits),
        work_digits_(static_cast<double>(bits - 1) * std::log10(2.0)),
        hard_radius_(hard_radius(bits)),
        cache_(cache_for(bits)),
        kinks_(g.kinks, g.dim, bits),
        z_(g.dim),
        work_(g.dim) {
    mpfr_set_ui_2exp(M(unit_roundoff_), 1, -static_cast<mpfr_exp_t>(bits), MPFR_RNDN);
    for (auto& w : work_) mpfr_set_si(M(w.prev_l1), -1, MPFR_RNDN);
  }

  LineResult run(const Real& eps_rel) { return line(0, Real(0), eps_rel); }
  std::size_t evaluations() const { return evals_; }
  bool budget_hit() const { return budget_hit_; }
  double work_digits() const { return work_digits_; }

 private:
  // Scratch of one recursion depth: line(k) only calls line(k + 1), so one per depth suffices and the hot loop
  // allocates nothing but f's return value.
  struct Work {
    std::array<Real, kBuckets> bsum, babs;  // level sums of w F and |w| L1(F) by 2-adic valuation of the index
    Real berr;                              // sum of |w| err(F) over the nodes (inner integrals' errors)
    Real zk, w, t, tmp, term, val, vabs, verr;
    Real c, prev_c, tol_now, tau_in, l1_run;
    Real prev_l1;  // L1 of the previous line at this depth (a neighbour): sizes the next line's step
  };

  struct Segment {
    MapKind kind = MapKind::Line;
    Real a, b;    // ends (a for Right and Finite, b for Left and Finite)
    Real s;       // Finite: z = a + s (phi(t) - phi(t - tau)), s = (b - a) / tau
    long m0 = 0;  // Finite: tau = m0 h_start, a multiple of every level's step
  };

  // Node t = j h of segment `sg`: writes wk.zk and the weight wk.w = z'(t) rho(z) (without the factor h).
  // Returns false beyond the tabulated double-exponential end (weights below 2^-(2 bits) of the largest).
  bool node(const Segment& sg, long j, double h, const DeTable* de, LineTable* lt, long m, Work& wk) {
    if (sg.kind == MapKind::Line) {
      const long aj = j < 0 ? -j : j;
      if (static_cast<long>(lt->z.size()) <= aj) extend_line_table(*lt, 2 * aj + 16, bits_);
      mpfr_set(M(wk.zk), M(lt->z[static_cast<std::size_t>(aj)]), MPFR_RNDN);
      if (j < 0) mpfr_neg(M(wk.zk), M(wk.zk), MPFR_RNDN);
      mpfr_set(M(wk.w), M(lt->w[static_cast<std::size_t>(aj)]), MPFR_RNDN);
      return true;
    }
    if (j < de->k_lo) return false;
    auto phi_at = [&](long kk, mpfr_ptr phi, mpfr_ptr dphi) {
      if (kk < de->k_lo) {
        mpfr_set_ui(phi, 0, MPFR_RNDN);
        mpfr_set_ui(dphi, 0, MPFR_RNDN);
      } else if (kk > de->k_lin) {
        mpfr_set_d(phi, h, MPFR_RNDN);
        mpfr_mul_si(phi, phi, kk, MPFR_RNDN);
        mpfr_set_ui(dphi, 1, MPFR_RNDN);
      } else {
        const auto i = static_cast<std::size_t>(kk - de->k_lo);
        mpfr_set(phi, M(de->phi[i]), MPFR_RNDN);
        mpfr_set(dphi, M(de->dphi[i]), MPFR_RNDN);
      }
    };
    phi_at(j, M(wk.zk), M(wk.w));
    switch (sg.kind) {
      case MapKind::Right: mpfr_add(M(wk.zk), M(sg.a), M(wk.zk), MPFR_RNDN); break;
      case MapKind::Left: mpfr_sub(M(wk.zk), M(sg.b), M(wk.zk), MPFR_RNDN); break;
      case MapKind::Finite:
        phi_at(j - m, M(wk.t), M(wk.tmp));
        mpfr_sub(M(wk.zk), M(wk.zk), M(wk.t), MPFR_RNDN);
        mpfr_sub(M(wk.w), M(wk.w), M(wk.tmp), MPFR_RNDN);
        mpfr_mul(M(wk.zk), M(wk.zk), M(sg.s), MPFR_RNDN);
        mpfr_mul(M(wk.w), M(wk.w), M(sg.s), MPFR_RNDN);
        mpfr_add(M(wk.zk), M(wk.zk), M(sg.a), MPFR_RNDN);
        break;
      case MapKind::Line: break;
    }
    // w *= rho(z) = exp(-z^2/2) / sqrt(2 pi)
    mpfr_sqr(M(wk.tmp), M(wk.zk), MPFR_RNDN);
    mpfr_div_2ui(M(wk.tmp), M(wk.tmp), 1, MPFR_RNDN);
    mpfr_neg(M(wk.tmp), M(wk.tmp), MPFR_RNDN);
    mpfr_exp(M(wk.tmp), M(wk.tmp), MPFR_RNDN);
    mpfr_mul(M(wk.w), M(wk.w), M(wk.tmp), MPFR_RNDN);
    mpfr_mul(M(wk.w), M(wk.w), M(cache_.inv_sqrt_2pi), MPFR_RNDN);
    return true;
  }

  Real call_f() {
    ++evals_;
    if (evals_ >= opt_.max_evaluations) budget_hit_ = true;
    return g_.f(z_.data());
  }

  // F at z_k = wk.zk: f itself at the innermost depth, else the inner line integral. Writes wk.val, wk.vabs
  // (its L1 scale) and wk.verr (its error estimate).
  void integrand(unsigned k, Work& wk, const Real& tau_in, const Real& eps_in, bool& ok) {
    mpfr_set(M(z_[k]), M(wk.zk), MPFR_RNDN);
    if (k + 1 == g_.dim) {
      wk.val = call_f();
      if (!mpfr_number_p(M(wk.val))) ok = false;
      mpfr_abs(M(wk.vabs), M(wk.val), MPFR_RNDN);
      return;
    }
    LineResult r = line(k + 1, tau_in, eps_in);
    if (std::getenv("NETSOR_QDEBUG2"))
      std::fprintf(stderr, "IN %s %s %s %s %d\n", to_string(z_[k], 60).c_str(), to_string(r.value, 60).c_str(),
                   to_string(r.err, 3).c_str(), to_string(tau_in, 3).c_str(), (int)r.ok);
    wk.val = std::move(r.value);
    wk.vabs = std::move(r.l1);
    wk.verr = std::move(r.err);
    ok = ok && r.ok;
  }

  // May the walk stop after node z (index j) in direction dir? Yes when the rest of the segment in that
  // direction lies where the Gaussian weight is negligible (|z| >= R), or the walk is deep in a
  // double-exponential end (kDeScale beyond the end's side of t = 0: phi' has decayed by exp(-K sinh 1)).
  bool may_stop(const Segment& sg, int dir, long j, double h, long m, const Real& z, double R) const {
    const double zd = mpfr_get_d(M(z), MPFR_RNDN);
    const double t = static_cast<double>(j) * h;
    switch (sg.kind) {
      case MapKind::Line: return dir > 0 ? zd >= R : zd <= -R;
      case MapKind::Right:  // t up: z up to +inf;  t down: z down to a
        return dir > 0 ? zd >= R : (t <= -kDeScale || zd <= -R || mpfr_get_d(M(sg.a), MPFR_RNDN) >= R);
      case MapKind::Left:  // t up: z down to -inf;  t down: z up to b
        return dir > 0 ? zd <= -R : (t <= -kDeScale || zd >= R || mpfr_get_d(M(sg.b), MPFR_RNDN) <= -R);
      case MapKind::Finite:
        if (dir > 0)
          return t >= static_cast<double>(m) * h + kDeScale || zd >= R || mpfr_get_d(M(sg.b), MPFR_RNDN) <= -R;
        return t <= -kDeScale || zd <= -R || mpfr_get_d(M(sg.a), MPFR_RNDN) >= R;
    }
    return true;
  }

  // A piece where f vanishes identically (the dead half-line of a relu): f is exactly 0 at three interior
  // points. A piece analytic on an interval with three exact zeros there is 0 (up to a conspiracy of
  // rounding no real integrand produces).
  bool dead_piece(unsigned k, const Segment& sg, Work& wk) {
    for (double p : kProbe) {
      switch (sg.kind) {
        case MapKind::Line: mpfr_set_d(M(wk.zk), p < 1 ? -p : p, MPFR_RNDN); break;
        case MapKind::Right: mpfr_add_d(M(wk.zk), M(sg.a), p, MPFR_RNDN); break;
        case MapKind::Left: mpfr_sub_d(M(wk.zk), M(sg.b), p, MPFR_RNDN); break;
        case MapKind::Finite:  // at fractions of [a, b]
          mpfr_sub(M(wk.zk), M(sg.b), M(sg.a), MPFR_RNDN);
          mpfr_mul_d(M(wk.zk), M(wk.zk), p / (kProbe.back() + 1), MPFR_RNDN);
          mpfr_add(M(wk.zk), M(wk.zk), M(sg.a), MPFR_RNDN);
          break;
      }
      mpfr_set(M(z_[k]), M(wk.zk), MPFR_RNDN);
      const Real v = call_f();
      if (!mpfr_zero_p(M(v))) return false;
    }
    return true;
  }

  // Error of the finest level T(h) from the level differences d1 = |T(h) - T(2h)|, d2 = |T(2h) - T(4h)|,
  // d3 = |T(4h) - T(8h)| (A = L1 scale). With x_i = log10(d_i / A), x1 is about the error of T(2h), x2 of
  // T(4h), x3 of T(8h). Exponential convergence E(h) = C exp(-2 pi d / h) doubles the digits at each halving
  // less a constant: x(h/2) = 2 x(h) - c, c = log10(C/A). So the error of T(h) is about 10^(rate x1) with the
  // observed rate x1 / x2, capped at 2 (mpmath's estimate, safe for any C) or at kDeRateCap behind a map;
  // for the plain trapezoid (`plain`) the model itself, x(h) = 3 x1 - 2 x2, may gain up to kMaxModelGainDigits
  // over the capped rate. The model must also have predicted x1 from x2 and x3 (to kModelSlackDigits): slower
  // convergence than predicted means a part with a narrower strip has surfaced, and then only the agreement
  // of the last two levels counts. With no usable third level, at most kUnconfirmedRate is trusted. One digit
  // of safety on top.
  Real predicted_error(const Real& d1, const Real& d2, const Real& d3, const Real& A, const Real& noise,
                       bool plain) const {
    if (d1 <= kNoiseFactor * noise) return d1;  // rounding, not discretization
    if (A == 0 || !(d1 < d2)) return max_of(d1, d2) * kPredictionSafety;
    const double x1 = log10_of(d1) - log10_of(A);
    const double x2 = log10_of(d2) - log10_of(A);
    if (x2 >= 0) return d1 * kPredictionSafety;
    double x;
    if (d3 > d2 && d3 < A) {
      const double x3 = log10_of(d3) - log10_of(A);
      // Slower than the doubling model predicted from the two coarser steps: a part with a narrower strip has
      // surfaced (see kMaxTrustedRate); trust only that the last two levels agree.
      const double model_x1 = 3 * x2 - 2 * x3;
      if (x1 > model_x1 + kModelSlackDigits) return d1 * kPredictionSafety;
      if (plain) {
        x = x1 * std::min(x1 / x2, 2.0);
        if (x2 <= kModelTrustDigits) x = std::min(x, std::max(3 * x1 - 2 * x2, 2 * x1 - kMaxModelGainDigits));
      } else {
        x = x1 * std::min(x1 / x2, kDeRateCap);
      }
    } else {
      if (x1 / x2 > kMaxTrustedRate) return d1 * kPredictionSafety;
      x = x1 * std::min(x1 / x2, kUnconfirmedRate);
    }
    return A * pow10_real(std::min(x, x1)) * kPredictionSafety;
  }

  struct SegResult {
    Real value, err, l1, noise;
    bool ok = true;
  };

  // The step at which the reference strip gives exp(-2 pi d / h) = 10^-digits, rounded down to 6 significant
  // bits so that a handful of distinct steps (and tables) serve all lines.
  static double guessed_step(double digits, double strip) {
    double hg = 2 * std::numbers::pi * strip / (digits * std::log(10.0));
    int e = 0;
    const double fr = std::frexp(hg, &e);  // hg = fr 2^e, fr in [0.5, 1)
    return std::ldexp(std::floor(fr * 64) / 64, e);
  }

  // Trapezoid with nested halving on one piece of the line over z_k. The piece's tolerance is
  // max(tau_abs, eps * L1 of the line so far) (both already divided among the line's pieces).
  SegResult segment(unsigned k, const Segment& sg, const Real& tau_abs, const Real& eps, double digits, double R,
                    const Real& l1_before) {
    Work& wk = work_[k];
    SegResult res;
    const bool innermost = k + 1 == g_.dim;
    if (innermost && dead_piece(k, sg, wk)) {
      res.value = res.err = res.l1 = res.noise = 0;
      return res;
    }
    const bool plain = sg.kind == MapKind::Line;
    const double strip = plain ? kReferenceStrip : kReferenceStripDe;
    double h = guessed_step(plain ? digits : digits * 2 / kDeRateCap, strip);
    // Levels coarser than the reference step for the target digits are accepted only when they agree with the
    // next coarser level to the tolerance (see kMaxTrustedRate: fast early convergence can hide a small part
    // with a narrow strip; below this step such a part with a strip >= the reference one is negligible).
    const double h_floor = guessed_step(plain ? digits - kStepMarginDigits : (digits - kStepMarginDigits) * 2 / kDeRateCap, strip);
    for (int i = 0; i < kCoarseLevels && 2 * h <= kMaxStartStep; ++i) h *= 2;
    // The whole line goes behind z = c sinh(t / c): node spacing z'(t) h = sqrt(1 + z^2/c^2) h grows in the
    // tails as fast as the accuracy they need falls (see kSinhMapScale).
    double sinh_c = 0;
    if (sg.kind == MapKind::Line && kSinhMapScale > 0) {
      sinh_c = kSinhMapScale * std::sqrt(digits * std::log(10.0));
      sinh_c = std::ldexp(1.0, 0) * std::exp2(std::ceil(4 * std::log2(sinh_c)) / 4);  // a few distinct tables
    }
    Segment s = sg;
    long m = 0;
    if (s.kind == MapKind::Finite) {
      const Real T = s.b - s.a;
      s.m0 = std::max(1L, std::lround(mpfr_get_d(M(T), MPFR_RNDN) / h));
      s.s = T / (Real(h) * s.m0);
      m = s.m0;
    }

    for (auto& x : wk.bsum) mpfr_set_ui(M(x), 0, MPFR_RNDN);
    for (auto& x : wk.babs) mpfr_set_ui(M(x), 0, MPFR_RNDN);
    mpfr_set_ui(M(wk.berr), 0, MPFR_RNDN);
    mpfr_set(M(wk.l1_run), M(l1_before), MPFR_RNDN);
    std::size_t nodes = 0;
    long jr = 0, jl = 0;  // extent visited, in indices of the current step
    bool ok = true;
    Real trunc_r = 0, trunc_l = 0;  // estimated tails beyond the last node on each side
    const Real eps_in = eps / kInnerShare;
    // Inner tolerance budget: the piece's tolerance spread over its t-range, which is at most 2 (R + 4) long
    // (the Gaussian bulk plus the double-exponential ends).
    const double t_range = 2 * (R + 4);

    auto update_tol = [&]() {  // wk.tol_now = max(tau_abs, eps * l1_run)
      mpfr_mul(M(wk.tol_now), M(eps), M(wk.l1_run), MPFR_RNDN);
      if (mpfr_greater_p(M(tau_abs), M(wk.tol_now))) mpfr_set(M(wk.tol_now), M(tau_abs), MPFR_RNDN);
    };

    auto walk = [&](int dir, long j0, long stepj) {
      int run = 0;
      Real tail = 0;
      mpfr_set_ui(M(wk.prev_c), 0, MPFR_RNDN);
      const DeTable* de = s.kind == MapKind::Line ? nullptr : &de_table(cache_, h, bits_);
      LineTable* lt = nullptr;
      if (s.kind == MapKind::Line) {
        lt = &cache_.line[{h, sinh_c}];
        lt->h = h;
        lt->c = sinh_c;
      }
      for (long j = j0;; j += dir * stepj) {
        if (!node(s, j, h, de, lt, m, wk)) break;  // past the double-exponential end: nothing left
        if (std::abs(mpfr_get_d(M(wk.zk), MPFR_RNDN)) > hard_radius_) {
          ok = false;  // terms still not negligible this far out: f grows faster than the Gaussian decays
          break;
        }
        if (!innermost) {
          // The inner line's error e enters as h |w| e; it gets tol / (kInnerShare |w| t_range).
          update_tol();
          mpfr_abs(M(wk.tau_in), M(wk.w), MPFR_RNDN);
          if (mpfr_zero_p(M(wk.tau_in))) {
            mpfr_set_inf(M(wk.tau_in), 1);
          } else {
            mpfr_mul_d(M(wk.tau_in), M(wk.tau_in), kInnerShare * t_range, MPFR_RNDN);
            mpfr_div(M(wk.tau_in), M(wk.tol_now), M(wk.tau_in), MPFR_RNDN);
          }
        }
        integrand(k, wk, wk.tau_in, eps_in, ok);
        ++nodes;
        const int v = j == 0 ? kBuckets - 1
                             : std::min(kBuckets - 2, std::countr_zero(static_cast<unsigned long>(j < 0 ? -j : j)));
        mpfr_mul(M(wk.term), M(wk.w), M(wk.val), MPFR_RNDN);
        mpfr_add(M(wk.bsum[v]), M(wk.bsum[v]), M(wk.term), MPFR_RNDN);
        mpfr_abs(M(wk.tmp), M(wk.w), MPFR_RNDN);
        mpfr_mul(M(wk.c), M(wk.tmp), M(wk.vabs), MPFR_RNDN);
        mpfr_add(M(wk.babs[v]), M(wk.babs[v]), M(wk.c), MPFR_RNDN);
        if (!innermost) {
          mpfr_mul(M(wk.tmp), M(wk.tmp), M(wk.verr), MPFR_RNDN);
          mpfr_add(M(wk.berr), M(wk.berr), M(wk.tmp), MPFR_RNDN);
        }
        // Negligible? The node's share h |w| L1(F) and the geometric tail it predicts, c q / (1 - q) with
        // q = c / c_prev, are both below tol / kTailShare.
        mpfr_mul_d(M(wk.c), M(wk.c), h, MPFR_RNDN);
        mpfr_add(M(wk.l1_run), M(wk.l1_run), M(wk.c), MPFR_RNDN);
        update_tol();
        mpfr_div_d(M(wk.tol_now), M(wk.tol_now), kTailShare, MPFR_RNDN);
        bool negligible = mpfr_lessequal_p(M(wk.c), M(wk.tol_now));
        if (negligible) {
          if (mpfr_zero_p(M(wk.c))) {
            tail = 0;
          } else if (!mpfr_greater_p(M(wk.prev_c), M(wk.c))) {
            negligible = false;  // not decaying yet
          } else {
            const Real q = wk.c / wk.prev_c;
            tail = wk.c * q / (1 - q);
            negligible = tail <= wk.tol_now;
          }
        }
        mpfr_set(M(wk.prev_c), M(wk.c), MPFR_RNDN);
        run = negligible ? run + 1 : 0;
        if (dir > 0) jr = std::max(jr, j);
        else jl = std::min(jl, j);
        if (run >= kNegligibleRun && may_stop(s, dir, j, h, m, wk.zk, R)) {
          // After a halving this walk saw the new (odd) nodes only; the old ones' tail counts half as much.
          Real& trunc = dir > 0 ? trunc_r : trunc_l;
          trunc = stepj == 1 ? tail : Real(trunc / 2 + tail);
          break;
        }
      }
    };

    walk(+1, 0, 1);
    walk(-1, -1, 1);
    int halvings = 0;
    Real T0, T1, T2, T3, A, noise, err, tol;
    for (;;) {
      // Level sums from the buckets: T(2^i h) = 2^i h sum_{v >= i} bucket_v.
      Real s0 = 0, s1 = 0, s2 = 0, s3 = 0, sa = 0;
      for (int v = kBuckets - 1; v >= 0; --v) {
        if (v >= 3) s3 += wk.bsum[v];
        if (v >= 2) s2 += wk.bsum[v];
        if (v >= 1) s1 += wk.bsum[v];
        s0 += wk.bsum[v];
        sa += wk.babs[v];
      }
      T0 = s0 * h;
      T1 = s1 * (2 * h);
      T2 = s2 * (4 * h);
      T3 = s3 * (8 * h);
      A = sa * h;
      noise = A * unit_roundoff_ * (kRoundingUlps + std::sqrt(static_cast<double>(nodes)));
      const Real known = wk.berr * h + trunc_r + trunc_l;  // inner errors and truncated tails
      const Real pred = h > h_floor ? Real(abs(T0 - T1) * kPredictionSafety)
                                    : predicted_error(abs(T0 - T1), abs(T1 - T2), abs(T2 - T3), A, noise, plain);
      err = max_of(pred, noise) + known;
      mpfr_mul(M(tol), M(eps), M(wk.l1_run), MPFR_RNDN);
      if (tau_abs > tol) tol = tau_abs;
      if (debug_ && (k == 0 || std::getenv("NETSOR_QDEBUG_ALL"))) std::fprintf(stderr, "   d: %.3g %.3g %.3g\n", log10_of(abs(T0 - T1)) - log10_of(A), log10_of(abs(T1 - T2)) - log10_of(A), log10_of(abs(T2 - T3)) - log10_of(A));
      if (debug_ && (k == 0 || std::getenv("NETSOR_QDEBUG_ALL")))
        std::fprintf(stderr, "  seg k=%u kind=%d h=%g nodes=%zu range=[%ld,%ld] A=%.3g pred=%.3g known=%.3g tol=%.3g\n", k,
                     static_cast<int>(s.kind), h, nodes, jl, jr, log10_of(A), log10_of(pred), log10_of(known),
                     log10_of(tol));
      if (err <= max_of(tol, kNoiseFactor * noise + known)) break;
      if (halvings >= kCoarseLevels + kMaxHalvings || budget_hit_ || !ok) {
        ok = false;
        break;
      }
      // Halve: every old node j becomes 2j (valuation + 1); the new nodes are the odd indices.
      for (int v = kBuckets - 2; v >= 1; --v) {
        std::swap(wk.bsum[v], wk.bsum[v - 1]);
        std::swap(wk.babs[v], wk.babs[v - 1]);
      }
      mpfr_set_ui(M(wk.bsum[0]), 0, MPFR_RNDN);
      mpfr_set_ui(M(wk.babs[0]), 0, MPFR_RNDN);
      h /= 2;
      m *= 2;
      ++halvings;
      jr *= 2;
      jl *= 2;
      walk(+1, 1, 2);
      walk(-1, -1, 2);
    }
    res.value = std::move(T0);
    res.err = std::move(err);
    res.l1 = std::move(A);
    res.noise = kNoiseFactor * noise;
    res.ok = ok;
    return res;
  }

  // The line integral over z_k with z_0..z_{k-1} fixed in z_, split at the kinks that cross it.
  LineResult line(unsigned k, const Real& tau_abs, const Real& eps_rel) {
    Work& wk = work_[k];
    std::vector<Real> bp;
    for (const auto& p : kinks_.at(k)) {
      Real v = p.b;
      for (unsigned j = 0; j < k; ++j) v -= p.a[j] * z_[j];
      v /= p.a[k];
      // A kink beyond where the Gaussian weight is 2^-(16 bits) cannot affect any digit.
      if (abs(v) <= 4 * hard_radius_) bp.push_back(std::move(v));
    }
    std::sort(bp.begin(), bp.end());
    {
      std::vector<Real> merged;  // breakpoints that agree to rounding are one
      for (auto& p : bp)
        if (merged.empty() || abs(p - merged.back()) > unit_roundoff_ * kCoincidentUlps * (1 + abs(p)))
          merged.push_back(std::move(p));
      bp = std::move(merged);
    }
    std::vector<Segment> segs;
    if (bp.empty()) {
      segs.emplace_back();
    } else {
      Segment l;
      l.kind = MapKind::Left;
      l.b = bp.front();
      segs.push_back(std::move(l));
      for (std::size_t i = 0; i + 1 < bp.size(); ++i) {
        Segment f;
        f.kind = MapKind::Finite;
        f.a = bp[i];
        f.b = bp[i + 1];
        segs.push_back(std::move(f));
      }
      Segment r;
      r.kind = MapKind::Right;
      r.a = bp.back();
      segs.push_back(std::move(r));
      // Largest Gaussian mass first: its L1 sets the negligible level for the others.
      auto dist = [](const Segment& s) -> double {
        double lo = -HUGE_VAL, hi = HUGE_VAL;
        if (s.kind == MapKind::Right || s.kind == MapKind::Finite) lo = mpfr_get_d(M(s.a), MPFR_RNDN);
        if (s.kind == MapKind::Left || s.kind == MapKind::Finite) hi = mpfr_get_d(M(s.b), MPFR_RNDN);
        if (lo <= 0 && 0 <= hi) return 0;
        return lo > 0 ? lo : -hi;
      };
      std::stable_sort(segs.begin(), segs.end(),
                       [&](const Segment& x, const Segment& y) { return dist(x) < dist(y); });
    }
    // Digits this line needs relative to its own scale, estimated from the neighbouring line's L1.
    double digits = -log10_of(eps_rel);
    if (mpfr_inf_p(M(tau_abs))) {
      digits = kMinLineDigits;
    } else if (tau_abs > 0 && wk.prev_l1 > 0) {
      digits = std::min(digits, log10_of(wk.prev_l1) - log10_of(tau_abs));
    }
    digits = std::clamp(digits, kMinLineDigits, work_digits_);
    const double R = std::sqrt(2 * std::log(10.0) * digits);  // rho(R) / rho(0) = 10^-digits
    digits += kStepMarginDigits;

    LineResult out;
    out.value = out.err = out.l1 = out.noise = 0;
    const auto n = static_cast<double>(segs.size());
    const Real tau_seg = tau_abs / n, eps_seg = eps_rel / n;
    for (const auto& sg : segs) {
      SegResult r = segment(k, sg, tau_seg, eps_seg, digits, R, out.l1);
      out.value += r.value;
      out.err += r.err;
      out.l1 += r.l1;
      out.noise += r.noise;
      out.ok = out.ok && r.ok;
    }
    wk.prev_l1 = out.l1;
    return out;
  }

  const GaussianIntegrand& g_;
  const QuadratureOptions& opt_;
  mpfr_prec_t bits_;
  double work_digits_;
  double hard_radius_;
  PrecisionCache& cache_;
  KinkHierarchy kinks_;
  std::vector<Real> z_;
  std::vector<Work> work_;
  Real unit_roundoff_;
  std::size_t evals_ = 0;
  bool budget_hit_ = false;
  bool debug_ = std::getenv("NETSOR_QDEBUG") != nullptr;
};

}  // namespace

QuadratureResult gaussian_expectation(const GaussianIntegrand& g, const QuadratureOptions& opt) {
  if (g.dim < 1 || g.dim > 3) {
    std::ostringstream os;
    os << "gaussian_expectation: dimension " << g.dim << " is outside the supported range [1, 3]";
    throw invalid_argument(os.str());
  }
  if (!g.f) throw invalid_argument("gaussian_expectation: the integrand f is empty");
  for (std::size_t i = 0; i < g.kinks.size(); ++i)
    if (g.kinks[i].a.size() != g.dim) {
      std::ostringstream os;
      os << "gaussian_expectation: kink " << i << " has " << g.kinks[i].a.size() << " coefficients, expected "
         << g.dim << " (the integrand's dimension)";
      throw invalid_argument(os.str());
    }
  if (opt.digits == 0) throw invalid_argument("gaussian_expectation: digits must be at least 1, got 0");

  const mpfr_prec_t bits = current_bits();
  ++t_engine_depth;
  struct DepthGuard {
    ~DepthGuard() { --t_engine_depth; }
  } guard;

  const double D = static_cast<double>(opt.digits);
  const Real target = pow10_real(-D);
  QuadratureResult out;
  std::size_t evals = 0;
  // First aim at 10^-D relative to E|f| (half of it, leaving room for truncation and inner errors). If the
  // integral cancels (|value| << E|f|) that is not 10^-D relative to |value|: tighten and redo.
  Real eps_rel = target / 2;
  for (int attempt = 0;; ++attempt) {
    Engine e(g, opt, bits);
    LineResult r = e.run(eps_rel);
    evals += e.evaluations();
    const Real tol = max_of(target * abs(r.value), r.noise);
    out.converged = r.ok && r.err <= tol;
    const double W = e.work_digits();
    if (r.err == 0) {
      out.digits_reached = W;
    } else if (abs(r.value) > r.noise) {
      out.digits_reached = std::min(W, log10_of(abs(r.value)) - log10_of(r.err));
    } else {
      out.digits_reached = r.l1 > 0 ? std::min(W, log10_of(r.l1) - log10_of(r.err)) : 0;
    }
    out.value = std::move(r.value);
    out.error = std::move(r.err);
    out.magnitude = std::move(r.l1);
    if (out.converged || !r.ok || e.budget_hit() || attempt >= kMaxCancellationRetries) break;
    // Cancellation: aim at 10^-D |value| relative to E|f|, if the working precision can hold it.
    const Real next = target * abs(out.value) / (2 * out.magnitude);
    if (!(next < eps_rel / 2) || next <= pow10_real(-e.work_digits())) break;
    eps_rel = next;
  }
  out.evaluations = evals;
  return out;
}

}  // namespace netsor::detail

// gaussian_quadrature.cpp — E[f(Z)], Z ~ N(0, I_dim), dim <= 3, to hundreds of digits (see the header).
//
// Method.
//  * A whole line: the trapezoidal rule on R. For an integrand analytic in the strip |Im z| < d it converges
//    like exp(-2 pi d / h) (Trefethen & Weideman, "The exponentially convergent trapezoidal rule", SIAM Review
//    56 (2014) 385-458, Sec. 5); with the Gaussian weight it needs about half the nodes of Gauss-Hermite for
//    tanh (poles at +-i pi/2). The nodes go behind z = c sinh(t / c), which spaces them wider in the tails
//    exactly as fast as the digits needed there fall (kSinhMapScale): 20% fewer nodes.
//  * A piece with a finite end (relu, abs, step, ...): the end is sent to -infinity by the Ooura-Mori map
//    z = a + phi(t), phi(t) = t / (1 - exp(-K sinh(t / 2))) (T. Ooura & M. Mori, J. Comput. Appl. Math. 38
//    (1991) 353-360): phi decays double-exponentially as t -> -inf (Takahasi & Mori, Publ. RIMS 9 (1974)
//    721-741) and is the identity as t -> +inf, so the bulk of the Gaussian keeps the plain node spacing. A
//    finite piece [a, b] uses z = a + s (phi(t) - phi(t - tau)), double-exponential at both ends.
//  * Two and three dimensions: iterated integration, outer over z_0, inner over the rest. The inner line is
//    split where kink hyperplanes cross it; the inner integral, as a function of the outer variables, is
//    analytic except on the hyperplanes that do not involve the inner variable and where two inner breakpoints
//    collide. Those become the kinks of the outer integral (built once, recursively, in `KinkHierarchy`).
//    Inner tolerances are budgeted against the weight of their outer node (inner lines in the Gaussian tail get
//    fewer digits), and an inner line starts from the strip measured on its neighbour.
//  * Error control: the step is halved (nested levels: no evaluation is wasted) and the error of the finest
//    level is predicted from the last levels (`predicted_error`: digits double at each halving; mpmath's quad
//    uses the same estimate), but only at steps fine enough for the reference strip at the target digits;
//    coarser levels must agree outright (`segment`: fast early convergence can hide a narrow-strip part).
//    Truncation follows the terms (tail estimates), not a fixed radius, so exp(c z) integrands work.
//  * Cost: evaluations of f dominate. Nodes and weights are tabulated once per precision (in bits) and step, per
//    thread, at extra precision; hot loops run on preallocated MPFR numbers. With QuadratureOptions::threads = 2
//    the outermost line's two halves run on two threads.
// bench/bench_quadrature.cpp measures this against Boost.Math's sinh_sinh / exp_sinh and against mpmath.
#include <netsor/errors.hpp>
#include <netsor/limit/gaussian_quadrature.hpp>

#include <mpfr.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <sstream>
#include <thread>
#include <cstdio>
#include <chrono>
#include <cstdlib>

namespace netsor::detail {

namespace {

// ------------------------------------------------------------------------------------------- named constants
// Strip half-width assumed for a whole line: tanh, sigmoid, sech, ... have their nearest complex singularity at
// distance pi/2 from the real axis. It sets the guessed step (where refinement starts; halving continues until
// the error estimate is met) and the step below which the estimate may extrapolate (h_floor in `segment`).
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
constexpr int kMaxHalvings = 10;
// Predicted errors are multiplied by this before they are compared with the tolerance (one digit of safety).
constexpr double kPredictionSafety = 10;
// The doubling model x(h/2) = 2 x(h) - c (see predicted_error) is used once the levels agree to
// kModelTrustDigits digits; it may gain at most kMaxModelGainDigits over the capped-rate estimate (c of a double
// pole with the Gaussian's growth is about 3 digits).
constexpr double kModelTrustDigits = -2;
constexpr double kMaxModelGainDigits = 4;
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
constexpr double kSinhMapScale = 1.0;
// A line's step is guessed from the strip measured on the previous line at the same depth (the inner lines of
// tanh(z1) tanh(0.6 z1 + 0.8 z2) have d = pi / 1.6 = 1.96, not pi/2; see measured_strip), times this safety,
// within kLearnedStripRange of the reference, with kLearnedStepMarginDigits of margin for the guess (a measured
// strip includes the constant that the reference margin covers). A strip measured on a line's own levels is not
// used for that line: it fooled the estimate on inner lines where a narrow-strip part was about to surface.
constexpr double kLearnedStripSafety = 0.9;
constexpr double kLearnedStripRange = 4;
constexpr double kLearnedStepMarginDigits = 2;
constexpr double kLearnedStripAgreement = 0.15;
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
  if (e > -300 && e < 300) {  // error scales and tolerances: a double's 16 digits are plenty, and cheap
    mpfr_set_d(M(r), std::pow(10.0, e), MPFR_RNDN);
    return r;
  }
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

thread_local int t_engine_depth = 0;
std::size_t g_qdbg_lines = 0;  // > 0 while an engine on this thread holds references into the cache

std::map<mpfr_prec_t, PrecisionCache>& thread_caches() {
  thread_local std::map<mpfr_prec_t, PrecisionCache> caches;
  return caches;
}

PrecisionCache& cache_for(mpfr_prec_t bits) {
  auto& caches = thread_caches();
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
    mpfr_exp(e, e, MPFR_RNDN);  // e^{k0 h / c}
    mpfr_exp(r, r, MPFR_RNDN);  // e^{h / c}
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
    mpfr_exp(rinv, tmp, MPFR_RNDN);  // q
    mpfr_mul_ui(tmp, tmp, 2 * k0 + 1, MPFR_RNDN);
    mpfr_exp(r, tmp, MPFR_RNDN);      // q^{2 k0 + 1}
    mpfr_sqr(rinv, rinv, MPFR_RNDN);  // q^2
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

// State shared by the engines of one call (one per thread): the evaluation count and the budget.
struct SharedCount {
  std::atomic<std::size_t> evals{0};
  std::atomic<bool> budget_hit{false};
  std::size_t max_evals = 0;
};

struct Segment {
  MapKind kind = MapKind::Line;
  Real a, b;           // ends (a for Right and Finite, b for Left and Finite)
  Real s;              // Finite: z = a + s (phi(t) - phi(t - tau)), s = (b - a) / tau
  long m = 0;          // Finite: tau = m h at the current step (a multiple of every level's step)
  double sinh_c = 0;   // Line: the sinh map's scale (0: none)
  double h_table = 0;  // the finest step planned: coarser levels read its tables
};

// One walk direction of one segment: its sums and its scratch. The two directions of a segment are separate
// so that they can run on two threads; their sums are added up level by level.
struct Walker {
  std::array<Real, kBuckets> bsum, babs;  // level sums of w F and |w| L1(F) by 2-adic valuation of the index
  Real berr;                              // sum of |w| err(F) over the nodes (inner integrals' errors)
  Real berr0;                             // the share of berr of the node at index 0 (see mirror)
  Real trunc;                             // estimated tail beyond the last node
  Real zk, w, t, tmp, term, val, vabs, verr, c, prev_c, tol_now, tau_in, l1_before, l1_sum, q, tail;
  std::size_t nodes = 0;
  long extent = 0;  // index of the farthest node visited, at the current step
  bool ok = true;
  // The current node on the plain lattice of an innermost line (GaussianIntegrand::f_lattice): z = lat_j lat_h.
  bool lattice = false;
  long lat_j = 0;
  double lat_h = 0;

  void reset(const Real& l1_before) {
    for (auto& x : bsum) mpfr_set_ui(M(x), 0, MPFR_RNDN);
    for (auto& x : babs) mpfr_set_ui(M(x), 0, MPFR_RNDN);
    mpfr_set_ui(M(berr), 0, MPFR_RNDN);
    mpfr_set_ui(M(berr0), 0, MPFR_RNDN);
    mpfr_set_ui(M(trunc), 0, MPFR_RNDN);
    mpfr_set(M(this->l1_before), M(l1_before), MPFR_RNDN);
    mpfr_set_ui(M(l1_sum), 0, MPFR_RNDN);
    nodes = 0;
    extent = 0;
    ok = true;
  }
  // After a halving every old node j becomes 2j (its valuation grows by one); the new nodes are the odd ones.
  void halve() {
    for (int v = kBuckets - 2; v >= 1; --v) {
      std::swap(bsum[v], bsum[v - 1]);
      std::swap(babs[v], babs[v - 1]);
    }
    mpfr_set_ui(M(bsum[0]), 0, MPFR_RNDN);
    mpfr_set_ui(M(babs[0]), 0, MPFR_RNDN);
    extent *= 2;
  }
  // The other direction of an even integrand's line (GaussianIntegrand::even): the walk `r` to the right from
  // index 0 seen from -0: the same terms at the mirrored nodes, without the node at 0 (bucket kBuckets - 1).
  void mirror(const Walker& r) {
    for (int v = 0; v < kBuckets - 1; ++v) {
      mpfr_set(M(bsum[v]), M(r.bsum[v]), MPFR_RNDN);
      mpfr_set(M(babs[v]), M(r.babs[v]), MPFR_RNDN);
    }
    mpfr_set_ui(M(bsum[kBuckets - 1]), 0, MPFR_RNDN);
    mpfr_set_ui(M(babs[kBuckets - 1]), 0, MPFR_RNDN);
    mpfr_sub(M(berr), M(r.berr), M(r.berr0), MPFR_RNDN);
    mpfr_set(M(trunc), M(r.trunc), MPFR_RNDN);
    nodes = r.nodes;
    extent = -r.extent;
    ok = r.ok;
  }
};

// What a walk needs to know about its segment and level.
struct WalkSpec {
  const Segment* seg = nullptr;
  unsigned k = 0;      // depth (variable z_k)
  double h = 0;        // step
  double R = 0;        // Gaussian cut-off radius of the line
  double t_range = 0;  // budget length for inner tolerances
  const Real* tau_abs = nullptr;
  const Real* eps = nullptr;
  const Real* eps_in = nullptr;
};

class Engine;

// A second thread for the outermost line: while the calling thread walks a segment to the right, this one walks
// it to the left with its own engine (its own node tables and scratch). Created only when
// QuadratureOptions::threads > 1, in which case f must be safe to call concurrently.
class Helper {
 public:
  Helper(const GaussianIntegrand& g, const QuadratureOptions& opt, SharedCount& count);
  ~Helper();
  Helper(const Helper&) = delete;
  Helper& operator=(const Helper&) = delete;
  void post(std::function<void(Engine&)> job);
  void wait();  // rethrows what the job threw

 private:
  void loop(const GaussianIntegrand& g, const QuadratureOptions& opt, SharedCount& count);
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void(Engine&)> job_;
  bool has_job_ = false, busy_ = false, quit_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

class Engine {
 public:
  Engine(const GaussianIntegrand& g, const QuadratureOptions& opt, mpfr_prec_t bits, SharedCount& count, Helper* helper)
      : g_(g),
        opt_(opt),
        bits_(bits),
        work_digits_(static_cast<double>(bits - 1) * std::log10(2.0)),
        hard_radius_(hard_radius(bits)),
        cache_(cache_for(bits)),
        kinks_(g.kinks, g.dim, bits),
        count_(count),
        helper_(helper),
        z_(g.dim),
        work_(g.dim) {
    mpfr_set_ui_2exp(M(unit_roundoff_), 1, -static_cast<mpfr_exp_t>(bits), MPFR_RNDN);
    for (auto& w : work_) mpfr_set_si(M(w.prev_l1), -1, MPFR_RNDN);
  }

  LineResult run(const Real& eps_rel) { return line(0, Real(0), eps_rel); }
  double work_digits() const { return work_digits_; }

  // Walks one direction of a segment from index j0 in steps of stepj (see `segment`). Public for the helper.
  void walk(Walker& wr, const WalkSpec& sp, int dir, long j0, long stepj) {
    const Segment& s = *sp.seg;
    const double h = sp.h;
    const bool innermost = sp.k + 1 == g_.dim;
    // Levels at multiples 2^k of the segment's finest planned step read that step's table at stride 2^k.
    double ht = h;
    long stride = 1;
    if (s.h_table > 0 && h >= s.h_table) {
      stride = std::lround(h / s.h_table);
      ht = s.h_table;
    }
    const DeTable* de = s.kind == MapKind::Line ? nullptr : &de_table(cache_, ht, bits_);
    LineTable* lt = nullptr;
    if (s.kind == MapKind::Line) {
      lt = &cache_.line[{ht, s.sinh_c}];
      lt->h = ht;
      lt->c = s.sinh_c;
    }
    int run = 0;
    wr.lattice = innermost && lt != nullptr && s.sinh_c == 0 && g_.f_lattice;
    wr.lat_h = ht;
    mpfr_set_ui(M(wr.prev_c), 0, MPFR_RNDN);
    mpfr_set_ui(M(wr.tail), 0, MPFR_RNDN);
    // What an inner line learns (its strip, its L1) carries over to the next inner line of this walk only (its
    // neighbour), not across the jump from one end of the walk to the start of the next.
    if (!innermost) {
      work_[sp.k + 1].strip = {0, 0};
      mpfr_set_si(M(work_[sp.k + 1].prev_l1), -1, MPFR_RNDN);
    }
    auto update_tol = [&]() {  // wr.tol_now = max(tau_abs, eps * (L1 before + h * l1_sum))
      mpfr_mul_d(M(wr.tol_now), M(wr.l1_sum), h, MPFR_RNDN);
      mpfr_add(M(wr.tol_now), M(wr.tol_now), M(wr.l1_before), MPFR_RNDN);
      mpfr_mul(M(wr.tol_now), M(*sp.eps), M(wr.tol_now), MPFR_RNDN);
      if (mpfr_greater_p(M(*sp.tau_abs), M(wr.tol_now))) mpfr_set(M(wr.tol_now), M(*sp.tau_abs), MPFR_RNDN);
    };
    for (long j = j0;; j += dir * stepj) {
      if (!node(s, j * stride, ht, stride, de, lt, wr)) break;  // past the double-exponential end: nothing left
      wr.lat_j = j * stride;
      const double zd = mpfr_get_d(M(wr.zk), MPFR_RNDN);
      if (std::abs(zd) > hard_radius_) {
        // Nothing but an integrand growing faster than the Gaussian decays has weight this far out: stop, and
        // fail if the last term was not negligible.
        update_tol();
        mpfr_div_d(M(wr.tol_now), M(wr.tol_now), kTailShare * h, MPFR_RNDN);
        if (mpfr_greater_p(M(wr.prev_c), M(wr.tol_now))) wr.ok = false;
        break;
      }
      if (!innermost) {
        // The inner line's error e enters as h |w| e; it gets tol / (kInnerShare |w| t_range).
        update_tol();
        mpfr_abs(M(wr.tau_in), M(wr.w), MPFR_RNDN);
        if (mpfr_zero_p(M(wr.tau_in))) {
          mpfr_set_inf(M(wr.tau_in), 1);
        } else {
          mpfr_mul_d(M(wr.tau_in), M(wr.tau_in), kInnerShare * sp.t_range, MPFR_RNDN);
          mpfr_div(M(wr.tau_in), M(wr.tol_now), M(wr.tau_in), MPFR_RNDN);
        }
      }
      integrand(sp.k, wr, *sp.eps_in);
      ++wr.nodes;
      const long aj = j < 0 ? -j : j;
      const int v = j == 0 ? kBuckets - 1 : std::min(kBuckets - 2, std::countr_zero(static_cast<unsigned long>(aj)));
      mpfr_mul(M(wr.term), M(wr.w), M(wr.val), MPFR_RNDN);
      mpfr_add(M(wr.bsum[v]), M(wr.bsum[v]), M(wr.term), MPFR_RNDN);
      if (innermost) {
        mpfr_abs(M(wr.c), M(wr.term), MPFR_RNDN);  // |w| L1(F) with L1(f(z)) = |f(z)|
      } else {
        mpfr_abs(M(wr.tmp), M(wr.w), MPFR_RNDN);
        mpfr_mul(M(wr.c), M(wr.tmp), M(wr.vabs), MPFR_RNDN);
        mpfr_mul(M(wr.tmp), M(wr.tmp), M(wr.verr), MPFR_RNDN);
        mpfr_add(M(wr.berr), M(wr.berr), M(wr.tmp), MPFR_RNDN);
        if (j == 0) mpfr_set(M(wr.berr0), M(wr.tmp), MPFR_RNDN);
      }
      mpfr_add(M(wr.babs[v]), M(wr.babs[v]), M(wr.c), MPFR_RNDN);
      mpfr_add(M(wr.l1_sum), M(wr.l1_sum), M(wr.c), MPFR_RNDN);  // times h: this walk's share of the L1
      if (dir * j > dir * wr.extent) wr.extent = j;
      // Negligible? Only asked where a stop is allowed at all. The node's share and the geometric tail it
      // predicts, c q / (1 - q) with q = c / c_prev, must both be below tol / kTailShare.
      // c = |w| L1(F); the node's share of the integral is h c, compared with tol / kTailShare.
      if (may_stop(s, dir, j, h, zd, sp.R)) {
        update_tol();
        mpfr_div_d(M(wr.tol_now), M(wr.tol_now), kTailShare * h, MPFR_RNDN);
        bool negligible = mpfr_lessequal_p(M(wr.c), M(wr.tol_now));
        if (negligible) {
          if (mpfr_zero_p(M(wr.c))) {
            mpfr_set_ui(M(wr.tail), 0, MPFR_RNDN);
          } else if (!mpfr_greater_p(M(wr.prev_c), M(wr.c))) {
            negligible = false;  // not decaying yet
          } else {
            mpfr_div(M(wr.q), M(wr.c), M(wr.prev_c), MPFR_RNDN);
            mpfr_ui_sub(M(wr.tmp), 1, M(wr.q), MPFR_RNDN);
            mpfr_mul(M(wr.tail), M(wr.c), M(wr.q), MPFR_RNDN);
            mpfr_div(M(wr.tail), M(wr.tail), M(wr.tmp), MPFR_RNDN);
            negligible = mpfr_lessequal_p(M(wr.tail), M(wr.tol_now));
          }
        }
        run = negligible ? run + 1 : 0;
      } else {
        run = 0;
      }
      mpfr_swap(M(wr.prev_c), M(wr.c));  // prev_c = c (c is rewritten at the next node)
      if (run >= kNegligibleRun) {
        // After a halving this walk saw the new (odd) nodes only; the old ones' tail counts half as much.
        mpfr_mul_d(M(wr.tail), M(wr.tail), h, MPFR_RNDN);
        if (stepj == 1) {
          mpfr_set(M(wr.trunc), M(wr.tail), MPFR_RNDN);
        } else {
          mpfr_div_2ui(M(wr.trunc), M(wr.trunc), 1, MPFR_RNDN);
          mpfr_add(M(wr.trunc), M(wr.trunc), M(wr.tail), MPFR_RNDN);
        }
        break;
      }
    }
  }

 private:
  // Scratch of one recursion depth: line(k) only calls line(k + 1), so one per depth suffices and the hot loop
  // allocates nothing but f's return value.
  struct Work {
    Walker right, left;
    Real prev_l1;  // L1 of the previous line at this depth (a neighbour): sizes the next line's step
    // Strip half-width measured on the previous line at this depth, for the plain rule [0] and behind the map
    // [1] (0: none yet): neighbouring lines of an iterated integral have nearly the same strip.
    std::array<double, 2> strip{0, 0};
  };

  // Node t = j h (j in units of the table step h) of segment `sg`: writes wr.zk and the weight
  // wr.w = z'(t) rho(z) (without the factor h). `stride` converts the segment's index m (Finite) to table units.
  // Returns false beyond the tabulated double-exponential end (weights below 2^-(2 bits) of the largest).
  bool node(const Segment& sg, long j, double h, long stride, const DeTable* de, LineTable* lt, Walker& wr) {
    if (sg.kind == MapKind::Line) {
      const long aj = j < 0 ? -j : j;
      if (static_cast<long>(lt->z.size()) <= aj) extend_line_table(*lt, 2 * aj + 16, bits_);
      mpfr_set(M(wr.zk), M(lt->z[static_cast<std::size_t>(aj)]), MPFR_RNDN);
      if (j < 0) mpfr_neg(M(wr.zk), M(wr.zk), MPFR_RNDN);
      mpfr_set(M(wr.w), M(lt->w[static_cast<std::size_t>(aj)]), MPFR_RNDN);
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
    phi_at(j, M(wr.zk), M(wr.w));
    switch (sg.kind) {
      case MapKind::Right:
        mpfr_add(M(wr.zk), M(sg.a), M(wr.zk), MPFR_RNDN);
        break;
      case MapKind::Left:
        mpfr_sub(M(wr.zk), M(sg.b), M(wr.zk), MPFR_RNDN);
        break;
      case MapKind::Finite:
        phi_at(j - sg.m * stride, M(wr.t), M(wr.tmp));
        mpfr_sub(M(wr.zk), M(wr.zk), M(wr.t), MPFR_RNDN);
        mpfr_sub(M(wr.w), M(wr.w), M(wr.tmp), MPFR_RNDN);
        mpfr_mul(M(wr.zk), M(wr.zk), M(sg.s), MPFR_RNDN);
        mpfr_mul(M(wr.w), M(wr.w), M(sg.s), MPFR_RNDN);
        mpfr_add(M(wr.zk), M(wr.zk), M(sg.a), MPFR_RNDN);
        break;
      case MapKind::Line:
        break;
    }
    // w *= rho(z) = exp(-z^2/2) / sqrt(2 pi)
    mpfr_sqr(M(wr.tmp), M(wr.zk), MPFR_RNDN);
    mpfr_div_2ui(M(wr.tmp), M(wr.tmp), 1, MPFR_RNDN);
    mpfr_neg(M(wr.tmp), M(wr.tmp), MPFR_RNDN);
    mpfr_exp(M(wr.tmp), M(wr.tmp), MPFR_RNDN);
    mpfr_mul(M(wr.w), M(wr.w), M(wr.tmp), MPFR_RNDN);
    mpfr_mul(M(wr.w), M(wr.w), M(cache_.inv_sqrt_2pi), MPFR_RNDN);
    return true;
  }

  Real call_f() {
    if (count_.evals.fetch_add(1, std::memory_order_relaxed) + 1 >= count_.max_evals)
      count_.budget_hit.store(true, std::memory_order_relaxed);
    return g_.f(z_.data());
  }
  Real call_f_lattice(long j, double h) {
    if (count_.evals.fetch_add(1, std::memory_order_relaxed) + 1 >= count_.max_evals)
      count_.budget_hit.store(true, std::memory_order_relaxed);
    return g_.f_lattice(z_.data(), j, h);
  }

  // F at z_k = wr.zk: f itself at the innermost depth, else the inner line integral. Writes wr.val, wr.vabs
  // (its L1 scale) and wr.verr (its error estimate).
  void integrand(unsigned k, Walker& wr, const Real& eps_in) {
    mpfr_set(M(z_[k]), M(wr.zk), MPFR_RNDN);
    if (k + 1 == g_.dim) {
      wr.val = wr.lattice ? call_f_lattice(wr.lat_j, wr.lat_h) : call_f();
      if (!mpfr_number_p(M(wr.val))) wr.ok = false;
      return;
    }
    LineResult r = line(k + 1, wr.tau_in, eps_in);
    wr.val = std::move(r.value);
    wr.vabs = std::move(r.l1);
    wr.verr = std::move(r.err);
    wr.ok = wr.ok && r.ok;
  }

  // May the walk stop after node z (index j) in direction dir? Yes when the rest of the segment in that
  // direction lies where the Gaussian weight is negligible (|z| >= R), or the walk is deep in a
  // double-exponential end (kDeScale beyond the end's side of t = 0: phi' has decayed by exp(-K sinh 1)).
  static bool may_stop(const Segment& sg, int dir, long j, double h, double zd, double R) {
    const double t = static_cast<double>(j) * h;
    switch (sg.kind) {
      case MapKind::Line:
        return dir > 0 ? zd >= R : zd <= -R;
      case MapKind::Right:  // t up: z up to +inf;  t down: z down to a
        return dir > 0 ? zd >= R : (t <= -kDeScale || zd <= -R || mpfr_get_d(M(sg.a), MPFR_RNDN) >= R);
      case MapKind::Left:  // t up: z down to -inf;  t down: z up to b
        return dir > 0 ? zd <= -R : (t <= -kDeScale || zd >= R || mpfr_get_d(M(sg.b), MPFR_RNDN) <= -R);
      case MapKind::Finite:
        if (dir > 0)
          return t >= static_cast<double>(sg.m) * h + kDeScale || zd >= R || mpfr_get_d(M(sg.b), MPFR_RNDN) <= -R;
        return t <= -kDeScale || zd <= -R || mpfr_get_d(M(sg.a), MPFR_RNDN) >= R;
    }
    return true;
  }

  // A piece where f vanishes identically (the dead half-line of a relu): f is exactly 0 at three interior
  // points. A piece analytic on an interval with three exact zeros there is 0 (up to a conspiracy of
  // rounding no real integrand produces).
  bool dead_piece(unsigned k, const Segment& sg, Walker& wr) {
    for (double p : kProbe) {
      switch (sg.kind) {
        case MapKind::Line:
          mpfr_set_d(M(wr.zk), p < 1 ? -p : p, MPFR_RNDN);
          break;
        case MapKind::Right:
          mpfr_add_d(M(wr.zk), M(sg.a), p, MPFR_RNDN);
          break;
        case MapKind::Left:
          mpfr_sub_d(M(wr.zk), M(sg.b), p, MPFR_RNDN);
          break;
        case MapKind::Finite:  // at fractions of [a, b]
          mpfr_sub(M(wr.zk), M(sg.b), M(sg.a), MPFR_RNDN);
          mpfr_mul_d(M(wr.zk), M(wr.zk), p / (kProbe.back() + 1), MPFR_RNDN);
          mpfr_add(M(wr.zk), M(wr.zk), M(sg.a), MPFR_RNDN);
          break;
      }
      mpfr_set(M(z_[k]), M(wr.zk), MPFR_RNDN);
      const Real v = call_f();
      if (!mpfr_zero_p(M(v))) return false;
    }
    return true;
  }

  // Error of the finest level T(h) from the level differences d1 = |T(h) - T(2h)|, d2 = |T(2h) - T(4h)|,
  // d3 = |T(4h) - T(8h)| (A = L1 scale). With x_i = log10(d_i / A), x1 is about the error of T(2h), x2 of
  // T(4h), x3 of T(8h). Exponential convergence E(h) = C exp(-2 pi d / h) doubles the digits at each halving
  // less a constant: x(h/2) = 2 x(h) - c, c = log10(C/A). So the error of T(h) is about 10^(rate x1) with the
  // observed rate, the smaller of x1 / x2 and x2 / x3 (sub-doubling sequences stay sub-doubling for a while),
  // capped at 2 (mpmath's estimate, safe for any C) or at kDeRateCap behind a map; without a usable third
  // level at kUnconfirmedRate. For the plain trapezoid (`plain`) the model itself, x(h) = 3 x1 - 2 x2, may gain
  // up to kMaxModelGainDigits over the capped rate. One digit of safety on top. Used only at steps finer than
  // the reference step of the segment (see h_floor in `segment`): coarser levels need plain agreement.
  Real predicted_error(const Real& d1, const Real& d2, const Real& d3, const Real& A, const Real& noise,
                       bool plain) const {
    if (d1 <= kNoiseFactor * noise) return d1;  // rounding, not discretization
    if (A == 0 || !(d1 < d2)) return max_of(d1, d2) * kPredictionSafety;
    const double x1 = log10_of(d1) - log10_of(A);
    const double x2 = log10_of(d2) - log10_of(A);
    if (x2 >= 0) return d1 * kPredictionSafety;
    double rate = std::min(x1 / x2, plain ? 2.0 : kDeRateCap);
    const bool third = d3 > d2 && d3 < A;
    const double x3 = third ? log10_of(d3) - log10_of(A) : 0;
    rate = std::min(rate, third ? x2 / x3 : kUnconfirmedRate);
    double x = x1 * std::max(rate, 1.0);
    if (plain && third && x2 <= kModelTrustDigits)
      x = std::min(x, std::max(3 * x1 - 2 * x2, 2 * x1 - kMaxModelGainDigits));
    return A * pow10_real(x) * kPredictionSafety;
  }

  // The strip half-width d read off the digits gained per halving, which do not depend on the constant in
  // front: log10 E(2h) - log10 E(4h) = 2 pi d / (4 h ln 10) for E(h) = C exp(-2 pi d / h), with
  // E(2h) ~ d1 = |T(h) - T(2h)| and so on. The two gains of the last three levels must give the same d to
  // kLearnedStripAgreement, else the levels are in a transition (a small part with a narrow strip surfacing,
  // whose d the gains overstate; measured disagreement 32% and more) and 0 is returned. In the exponential
  // regime they agree to a few percent (1% on the inner lines of tanh(z1) tanh(0.6 z1 + 0.8 z2)). Faster than
  // doubling (a strip so wide that the Gaussian limits the error) is not used either: learning from it made
  // inner lines of a rotated 3-D tanh product miss their tolerance 100-fold.
  double measured_strip(const Real& d1, const Real& d2, const Real& d3, const Real& A, const Real& noise,
                        double h) const {
    if (!(A > 0 && d1 > kNoiseFactor * noise && d1 < d2 && d2 < d3 && d3 < A)) return 0;
    const double x1 = log10_of(d1), x2 = log10_of(d2), x3 = log10_of(d3);
    const double per_gain = std::log(10.0) / (2 * std::numbers::pi);
    const double d_a = (x2 - x1) * 4 * h * per_gain, d_b = (x3 - x2) * 8 * h * per_gain;
    if (std::abs(d_a - d_b) > kLearnedStripAgreement * std::max(d_a, d_b)) return 0;
    return std::min(d_a, d_b);
  }

  struct SegResult {
    Real value, err, l1, noise;
    bool ok = true;
  };

  // The step at which the strip d gives exp(-2 pi d / h) = 10^-digits, rounded down to 6 significant bits so
  // that a handful of distinct steps (and tables) serve all lines.
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
    if (innermost && dead_piece(k, sg, wk.right)) {
      res.value = res.err = res.l1 = res.noise = 0;
      return res;
    }
    const bool plain = sg.kind == MapKind::Line;
    const int family = plain ? 0 : 1;
    // The strip: the reference one, or the caller's (GaussianIntegrand::strip; the Gaussian factor grows like
    // exp(d^2 / 2) across a strip of half-width d: digits of margin for that beyond the reference's), or the one
    // measured on the neighbouring line (see kLearnedStripSafety).
    double strip = plain ? kReferenceStrip : kReferenceStripDe;
    double margin = kStepMarginDigits, growth = 0;
    if (plain && k < g_.strip.size() && g_.strip[k] > 0) {
      strip = std::clamp(g_.strip[k], kReferenceStrip / kLearnedStripRange, kReferenceStrip * kLearnedStripRange);
      growth = std::max(0.0, (strip * strip - kReferenceStrip * kReferenceStrip) / (2 * std::log(10.0)));
      margin += growth;
    }
    if (wk.strip[family] > 0) {
      strip =
          std::clamp(kLearnedStripSafety * wk.strip[family], strip / kLearnedStripRange, strip * kLearnedStripRange);
      margin = kLearnedStepMarginDigits;
    }
    const double digits_guess = plain ? digits + margin : (digits + margin) * 2 / kDeRateCap;
    double h = guessed_step(digits_guess, strip);
    // Levels coarser than the reference step for the target digits (h_floor) are accepted only when they agree
    // with the next coarser level to the tolerance; the predicted error is used below it. Coarse levels can
    // converge deceptively fast: an integrand whose main part is nearly constant (or entire) hides a small
    // part with a narrower strip, which takes over later. On the inner line at z1 = 8.97 of
    // tanh(z1) tanh(0.6 z1 + 0.8 z2), the poles at z2 = -6.7 + 1.96 i (amplitude rho(6.7) = 1e-10) surface
    // so: digits 2, 10.3, 21.7, 27.2 at successive halvings (the rate 2.1 of the third step promised 43). At
    // h_floor any part with a strip at least `strip` is below the tolerance whatever its amplitude.
    // The digits are those estimated before the line; once its L1 is known they are recomputed.
    auto floor_step = [&](double dg) { return guessed_step(plain ? dg + growth : dg * 2 / kDeRateCap, strip); };
    double h_floor = floor_step(digits);
    const double h_guess = h;
    for (int i = 0; i < kCoarseLevels && 2 * h <= kMaxStartStep; ++i) h *= 2;
    Segment s = sg;
    s.h_table = h_guess;
    // (Not on lattice lines: f_lattice needs z = j h.)
    if (plain && kSinhMapScale > 0 && !(innermost && g_.f_lattice)) {
      // The whole line goes behind z = c sinh(t / c): node spacing z'(t) h = sqrt(1 + z^2/c^2) h grows in the
      // tails as fast as the accuracy they need falls (see kSinhMapScale). Rounded up: a few distinct tables.
      const double c = kSinhMapScale * std::sqrt((digits + kStepMarginDigits) * std::log(10.0));
      s.sinh_c = std::exp2(std::ceil(4 * std::log2(c)) / 4);
    }
    if (s.kind == MapKind::Finite) {
      const Real T = s.b - s.a;
      s.m = std::max(1L, std::lround(mpfr_get_d(M(T), MPFR_RNDN) / h));
      s.s = T / (Real(h) * s.m);
    }
    const Real eps_in = eps / kInnerShare;
    WalkSpec sp;
    sp.seg = &s;
    sp.k = k;
    sp.h = h;
    sp.R = R;
    // Inner tolerance budget: the piece's tolerance spread over its t-range, which is at most 2 (R + 4) long
    // (the Gaussian bulk plus the double-exponential ends).
    sp.t_range = 2 * (R + 4);
    sp.tau_abs = &tau_abs;
    sp.eps = &eps;
    sp.eps_in = &eps_in;
    Walker& right = wk.right;
    Walker& left = wk.left;
    right.reset(l1_before);
    left.reset(l1_before);
    // An even integrand's outermost line (uncut: one segment, symmetric about 0) is walked to the right only;
    // the left walk is its mirror image.
    const bool mirrored = k == 0 && g_.even && sg.kind == MapKind::Line;
    // Both directions of a level: on two threads for the outermost line when a helper is there.
    auto walk_level = [&](long j_right, long j_left, long stepj) {
      if (mirrored) {
        walk(right, sp, +1, j_right, stepj);
        left.mirror(right);
      } else if (k == 0 && helper_ != nullptr) {
        const WalkSpec spc = sp;
        helper_->post([&left, spc, j_left, stepj](Engine& e) { e.walk(left, spc, -1, j_left, stepj); });
        walk(right, sp, +1, j_right, stepj);
        helper_->wait();
      } else {
        walk(right, sp, +1, j_right, stepj);
        walk(left, sp, -1, j_left, stepj);
      }
    };
    walk_level(0, -1, 1);
    int halvings = 0;
    Real T0, T1, T2, T3, A, noise, err, tol;
    bool ok = true;
    for (;;) {
      ok = right.ok && left.ok;
      // Level sums from the buckets: T(2^i h) = 2^i h sum_{v >= i} bucket_v.
      Real s0 = 0, s1 = 0, s2 = 0, s3 = 0, sa = 0;
      for (int v = kBuckets - 1; v >= 0; --v) {
        const Real b = right.bsum[v] + left.bsum[v];
        if (v >= 3) s3 += b;
        if (v >= 2) s2 += b;
        if (v >= 1) s1 += b;
        s0 += b;
        sa += right.babs[v];
        sa += left.babs[v];
      }
      T0 = s0 * h;
      T1 = s1 * (2 * h);
      T2 = s2 * (4 * h);
      T3 = s3 * (8 * h);
      A = sa * h;
      const std::size_t nodes = right.nodes + left.nodes;
      noise = A * unit_roundoff_ * (kRoundingUlps + std::sqrt(static_cast<double>(nodes)));
      // Inner errors and truncated tails.
      const Real known = (right.berr + left.berr) * h + right.trunc + left.trunc;
      tol = eps * (l1_before + A);
      if (tau_abs > tol) tol = tau_abs;
      if (A > 0)
        h_floor = std::min(h_floor, floor_step(std::clamp(log10_of(A) - log10_of(tol), kMinLineDigits, work_digits_)));
      const Real pred = h > h_floor ? Real(abs(T0 - T1) * kPredictionSafety)
                                    : predicted_error(abs(T0 - T1), abs(T1 - T2), abs(T2 - T3), A, noise, plain);
      err = max_of(pred, noise) + known;
      if (err <= max_of(tol, kNoiseFactor * noise + known)) break;
      if (halvings >= kCoarseLevels + kMaxHalvings || count_.budget_hit.load(std::memory_order_relaxed) || !ok) {
        ok = false;
        break;
      }
      right.halve();
      left.halve();
      h /= 2;
      sp.h = h;
      s.m *= 2;
      ++halvings;
      walk_level(1, -1, 2);
    }
    // The next line at this depth starts from the strip measured on this one.
    wk.strip[family] = ok && h <= h_floor ? measured_strip(abs(T0 - T1), abs(T1 - T2), abs(T2 - T3), A, noise, h) : 0;
    res.value = std::move(T0);
    res.err = std::move(err);
    res.l1 = std::move(A);
    res.noise = kNoiseFactor * noise;
    res.ok = ok;
    return res;
  }

  // The line integral over z_k with z_0..z_{k-1} fixed in z_, split at the kinks that cross it.
  LineResult line(unsigned k, const Real& tau_abs, const Real& eps_rel) {
    if (k == 1) ++g_qdbg_lines;
    Work& wk = work_[k];
    std::vector<Real> bp;
    for (const auto& p : kinks_.at(k)) {
      Real v = p.b;
      for (unsigned j = 0; j < k; ++j) v -= p.a[j] * z_[j];
      v /= p.a[k];
      // A kink beyond the hard radius (Gaussian weight below 2^-(4 bits)) cannot affect any digit.
      if (abs(v) <= hard_radius_) bp.push_back(std::move(v));
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
      std::stable_sort(segs.begin(), segs.end(), [&](const Segment& x, const Segment& y) { return dist(x) < dist(y); });
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
  SharedCount& count_;
  Helper* helper_;
  std::vector<Real> z_;
  std::vector<Work> work_;
  Real unit_roundoff_;
};

Helper::Helper(const GaussianIntegrand& g, const QuadratureOptions& opt, SharedCount& count)
    : thread_([this, &g, &opt, &count] { loop(g, opt, count); }) {}

Helper::~Helper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Helper::post(std::function<void(Engine&)> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = std::move(job);
    has_job_ = true;
    busy_ = true;
  }
  cv_.notify_all();
}

void Helper::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !busy_; });
  if (error_) {
    auto e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

void Helper::loop(const GaussianIntegrand& g, const QuadratureOptions& opt, SharedCount& count) {
  // Boost 1.74 keeps one process-wide default precision (numbers.hpp): the caller's scope applies here too.
  ++t_engine_depth;
  {
    Engine engine(g, opt, current_bits(), count, nullptr);
    for (;;) {
      std::function<void(Engine&)> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return has_job_ || quit_; });
        if (quit_) break;
        job = std::move(job_);
        has_job_ = false;
      }
      try {
        job(engine);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        busy_ = false;
      }
      cv_.notify_all();
    }
  }
  --t_engine_depth;
  // MPFR keeps per-thread caches (constants, a memory pool) that a finishing thread must release itself, after
  // its own MPFR numbers (the node tables) are gone.
  thread_caches().clear();
  mpfr_free_cache2(MPFR_FREE_LOCAL_CACHE);
}

}  // namespace

// ------------------------------------------------------------------------------------------------ LatticeExp
void LatticeExp::set_slope(const Real& slope) {
  bits_ = current_bits() + kGuardBits;
  for (Real* x : {&slope_, &base_, &base_exp_, &value_}) mpfr_set_prec(M(*x), bits_);
  mpfr_set(M(slope_), M(slope), MPFR_RNDN);
  mpfr_set_ui(M(base_), 0, MPFR_RNDN);
  steps_.clear();
  last_step_ = 0;
  valid_ = base_exp_valid_ = false;
}

void LatticeExp::set_line(const Real& base) {
  mpfr_set(M(base_), M(base), MPFR_RNDN);
  valid_ = base_exp_valid_ = false;
}

const Real& LatticeExp::factor(long dj, double h) {
  // Few distinct steps per integral (the engine's steps have 6 significant bits), few index offsets per step.
  constexpr std::size_t kMaxSteps = 64, kMaxFactors = 64;
  if (last_step_ >= steps_.size() || steps_[last_step_].h != h) {
    std::size_t i = 0;
    while (i < steps_.size() && steps_[i].h != h) ++i;
    if (i == steps_.size()) {
      if (steps_.size() >= kMaxSteps) steps_.clear(), i = 0;
      steps_.emplace_back();
      steps_.back().h = h;
    }
    last_step_ = i;
  }
  auto& fs = steps_[last_step_].factors;
  for (const auto& [d, r] : fs)
    if (d == dj) return r;
  if (fs.size() >= kMaxFactors) fs.erase(fs.begin());
  fs.emplace_back(dj, Real());
  Real& r = fs.back().second;
  mpfr_set_prec(M(r), bits_);
  // dj h is an exact double: h has a few significant bits (the engine's have 6) and |dj| < 2^40.
  mpfr_mul_d(M(r), M(slope_), static_cast<double>(dj) * h, MPFR_RNDN);
  mpfr_exp(M(r), M(r), MPFR_RNDN);
  return r;
}

mpfr_srcptr LatticeExp::eval(long j, double h) {
  if (valid_ && h == last_h_ && since_anchor_ < kReanchor) {
    mpfr_mul(M(value_), M(value_), M(factor(j - last_j_, h)), MPFR_RNDN);
    ++since_anchor_;
  } else {
    if (!base_exp_valid_) {
      mpfr_exp(M(base_exp_), M(base_), MPFR_RNDN);
      base_exp_valid_ = true;
    }
    if (j == 0) mpfr_set(M(value_), M(base_exp_), MPFR_RNDN);
    else mpfr_mul(M(value_), M(base_exp_), M(factor(j, h)), MPFR_RNDN);
    last_h_ = h;
    since_anchor_ = 0;
    valid_ = true;
  }
  last_j_ = j;
  return M(value_);
}

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
      os << "gaussian_expectation: kink " << i << " has " << g.kinks[i].a.size() << " coefficients, expected " << g.dim
         << " (the integrand's dimension)";
      throw invalid_argument(os.str());
    }
  if (opt.digits == 0) throw invalid_argument("gaussian_expectation: digits must be at least 1, got 0");

  const mpfr_prec_t bits = current_bits();
  const auto qdbg_t0 = std::chrono::steady_clock::now();
  g_qdbg_lines = 0;
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
  SharedCount count;
  count.max_evals = opt.max_evaluations;
  // The outermost line's two walk directions run on two threads when asked for (f must then be thread-safe).
  std::unique_ptr<Helper> helper;
  if (opt.threads > 1) helper = std::make_unique<Helper>(g, opt, count);
  for (int attempt = 0;; ++attempt) {
    Engine e(g, opt, bits, count, helper.get());
    LineResult r = e.run(eps_rel);
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
    out.digits_reached = std::max(0.0, out.digits_reached);  // an error above the value: no digit
    out.value = std::move(r.value);
    out.error = std::move(r.err);
    out.magnitude = std::move(r.l1);
    if (out.converged || !r.ok || count.budget_hit || attempt >= kMaxCancellationRetries) break;
    // Cancellation: aim at 10^-D |value| relative to E|f|, if the working precision can hold it.
    const Real next = target * abs(out.value) / (2 * out.magnitude);
    if (!(next < eps_rel / 2) || next <= pow10_real(-e.work_digits())) break;
    eps_rel = next;
  }
  evals = count.evals;
  out.evaluations = evals;
  if (std::getenv("NETSOR_QDEBUG")) fprintf(stderr, "QDBG lines=%zu dim=%u digits=%u bits=%ld evals=%zu conv=%d reached=%.1f t=%.5f\n", g_qdbg_lines, g.dim, opt.digits, (long)bits, evals, (int)out.converged, out.digits_reached, std::chrono::duration<double>(std::chrono::steady_clock::now() - qdbg_t0).count());
  return out;
}

}  // namespace netsor::detail

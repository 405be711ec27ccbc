// netsor/limit/gaussian_quadrature.hpp — high-precision Gaussian expectations E[f(Z)], Z ~ N(0, I_dim), dim <= 3.
//
// The numerical heart of the infinite-width evaluator (shared/MATH.md, "The Master Theorem": every expectation
// is whitened to `rank <= 3` standard Gaussians and split at the kinks). The integrand is a black box that is
// analytic away from the given kink hyperplanes and polynomially bounded (exponential growth exp(c.z) is also
// handled: truncation follows the terms, not a fixed radius).
//
// Method (details and citations in core/src/limit/gaussian_quadrature.cpp): iterated one-dimensional trapezoidal
// rules, which converge like exp(-2 pi d / h) for integrands analytic in a strip of half-width d (Trefethen &
// Weideman, SIAM Review 2014), with the nodes spaced wider in the Gaussian tails (a sinh map). Each line is split
// at the points where kinks cross it; a piece with a finite end is mapped to the real line by a
// double-exponential change of variables (Takahasi & Mori 1974; the half-line map of Ooura & Mori 1991) so that
// relu/abs/step integrands converge exponentially too. The step is halved (nested levels: no evaluation is
// wasted) until the error predicted from the last levels is below the target.
//
// Precision contract (Arb style, shared/STYLE.md point 5): the caller opens a `precision_scope` with the working
// precision (target digits plus guard digits); every node and weight is built at that precision (tables are
// cached per thread and per precision in bits, never in a `static` Real). The result carries an a-posteriori
// error estimate; non-convergence is a status, not an exception (the caller decides to throw).
#pragma once

#include <netsor/numbers.hpp>

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace netsor::detail {

/// A hyperplane a.z = b in whitened coordinates (z in R^dim) across which the integrand or one of its
/// derivatives jumps (relu, abs, step, sign, ...). `a` has `dim` entries.
struct Kink {
  std::vector<Real> a;
  Real b;
};

/// E[f(Z)] with Z ~ N(0, I_dim): `f` is evaluated at a point z of R^dim (standard normal coordinates). Unless
/// QuadratureOptions::threads > 1, `f` is called from the calling thread only, one point at a time, and may keep
/// scratch state between calls.
struct GaussianIntegrand {
  unsigned dim = 1;  // 1, 2 or 3
  std::function<Real(const Real* z)> f;
  std::vector<Kink> kinks;  // may be empty; f must be analytic on each piece they cut out
  /// Optional, declared by the caller: f(-z) = f(z) for every z. The outermost line is then walked on one side
  /// only (when no kink cuts it) and mirrored: half the evaluations, the same nodes and the same result up to
  /// rounding. A wrong declaration gives a wrong value.
  bool even = false;
  /// Optional fast path for integrands built from exponentials of affine forms (tanh, sigmoid, exp): when set,
  /// every innermost line that no kink cuts uses the plain trapezoid lattice z[dim-1] = j h (no sinh map) and
  /// calls f_lattice(z, j, h) instead of f, with z[dim-1] = j h exactly and z[0..dim-2] fixed along the line.
  /// It must return f(z); knowing the lattice index lets it update exp(s (c + b z[dim-1])) by one multiplication
  /// per node (LatticeExp) instead of an MPFR exponential. Same threading rules as f.
  std::function<Real(const Real* z, long j, double h)> f_lattice;
  /// Optional: strip[t] > 0 promises that f, and its integral over z_{t+1}, ..., is analytic in z_t for
  /// |Im z_t| < strip[t] with the other coordinates real (for tanh(a.z): pi / (2 |a_t|)). It sets the first
  /// step of the plain lines over z_t and the step below which their error may be extrapolated, instead of
  /// the strip of tanh(z), pi/2. A strip wider than the truth gives a wrong error estimate: leave it empty
  /// when unsure.
  std::vector<double> strip;
};

/// exp(base + slope j h) on the lattice of an innermost line, for f_lattice implementations: consecutive calls
/// along a walk differ by a constant index step, and the value is the previous one times a cached
/// exp(slope dj h) (one multiplication). A walk starts (and every kReanchor steps restarts) from
/// exp(base) exp(slope j h): one MPFR exponential per line, the second factor cached per (j, h) like the steps.
/// Kept kGuardBits above the precision current at `set_slope`, so that the relative error, a unit or so per
/// multiplication, stays far below the working precision. Not thread-safe (one per thread).
class LatticeExp {
 public:
  static constexpr mpfr_prec_t kGuardBits = 32;
  static constexpr int kReanchor = 256;
  /// Fixes the slope (the coefficient of j h) for the whole integral, and the precision (current + guard).
  void set_slope(const Real& slope);
  /// Starts a new line: the exponent at j = 0 is `base`.
  void set_line(const Real& base);
  /// exp(base + slope j h), at the guard precision (valid until the next call).
  mpfr_srcptr eval(long j, double h);
  mpfr_prec_t bits() const { return bits_; }

 private:
  const Real& factor(long dj, double h);  // exp(slope dj h), cached
  struct Step {
    double h = 0;
    std::vector<std::pair<long, Real>> factors;  // (dj, exp(slope dj h))
  };
  mpfr_prec_t bits_ = 0;
  Real slope_, base_, base_exp_, value_;
  long last_j_ = 0;
  double last_h_ = 0;
  int since_anchor_ = 0;
  bool valid_ = false, base_exp_valid_ = false;
  std::vector<Step> steps_;
  std::size_t last_step_ = 0;
};

struct QuadratureOptions {
  /// Target correct significant digits of the result. May equal the working precision, in which case the
  /// target is "as good as rounding allows" (see QuadratureResult::converged).
  unsigned digits = 30;
  /// Hard cap on evaluations of f; when it is reached the result is returned with converged = false.
  std::size_t max_evaluations = 20'000'000;
  /// Threads: 1, or 2 to run the two halves of the outermost line concurrently (larger values act as 2). With 2,
  /// f is called from two threads at once (each with its own z array) and must be safe for that: MPFR
  /// temporaries inside f are, scratch captured by reference is not. The result does not depend on it.
  unsigned threads = 1;
};

struct QuadratureResult {
  Real value;      // the estimate of E[f(Z)]
  Real error;      // a-posteriori estimate of |value - truth|
  Real magnitude;  // estimate of E|f(Z)|: the scale against which cancellation is judged
  /// Correct significant digits implied by `error` (relative to |value|). When the integral cancels to the
  /// rounding level (|value| below the rounding floor of E|f|), digits are counted relative to `magnitude`.
  double digits_reached = 0;
  std::size_t evaluations = 0;  // calls of f
  /// error <= max(10^-digits |value|, rounding floor), where the rounding floor is a few units in the last
  /// place of the working precision times `magnitude` (an integral that is zero by symmetry converges).
  bool converged = false;
};

/// E[f(Z)] = (2 pi)^{-dim/2} \int f(z) exp(-|z|^2/2) dz, computed at the current default precision.
/// Throws `invalid_argument` for dim outside [1, 3], an empty f, or a kink whose `a` does not have dim entries.
QuadratureResult gaussian_expectation(const GaussianIntegrand& g, const QuadratureOptions& opt);

}  // namespace netsor::detail

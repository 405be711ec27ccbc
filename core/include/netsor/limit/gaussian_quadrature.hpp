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

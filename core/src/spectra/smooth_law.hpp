// core/src/spectra/smooth_law.hpp — the law of D^2 = phi'(h)^2 for a smooth phi' as the spectral solvers hold it: a
// trapezoidal rule on the real line and one on a deformed contour (internal to core/src/spectra; used by
// jacobian.cpp and fisher.cpp).
#pragma once

#include <netsor/spectra/activation.hpp>
#include <netsor/spectra/lilypads.hpp>

#include <complex>
#include <string>

namespace netsor::detail {

// For a smooth phi', D^2 = d(Z) with d(z) = phi'(a z)^2, a = sqrt(q), Z ~ N(0, 1), and T(u) = E[d / (1 - u d)]. The
// solver needs T for u in the closed lower half-plane (docs/spectra.md, "The density solver"); for real u > 1/dmax
// the integrand has poles on the real z line, so the rule runs on the contour z = g(t) = t + i s(t),
// s(t) = c t / (1 + (t/tau)^2), odd and positive for t > 0. For d even and decreasing in |z| (tanh, erf, sigmoid)
// the pole z0 of 1/(1 - u d) (d(z0) = 1/u, Im(1/u) > 0) lies where Im d > 0, i.e. below the axis for z0 > 0:
// when Im d(z) <= 0 on the whole region between the axis and the contour (and d has no singularity there), the
// contour integral equals T(u) for Im u < 0 and continues it analytically across the real u axis beyond 1/dmax.
// That condition is checked on a grid of the region (to 1.5 s(t), a margin) before the contour is used.
struct Contour {
  double a = 1, c = 1, tau = 1;
  double s(double t) const { return c * t / (1 + (t / tau) * (t / tau)); }
  double ds(double t) const {
    const double r = (t / tau) * (t / tau);
    return c * (1 - r) / ((1 + r) * (1 + r));
  }
};

inline constexpr double kContourT = 9.5;  // truncation |t| <= T: phi(T) e^{s^2/2} < 1e-19
inline constexpr double kContourH0 = 0.25;  // step of level 0; level l uses 2^-l of it

// A number for an error message, to `digits` significant digits (%g).
std::string num(double x, int digits = 3);

cplx d_complex(const Expr& dphi, double a, cplx z);
double d_real(const Expr& dphi, double a, double z);

// Why a smooth phi' cannot have the contour rule, or "" when it can (then `out` is the contour). Checks: the
// complex evaluation exists, d is even and decreasing in |z| on the real line, and the region condition above.
std::string make_contour(const std::string& name, const Expr& dphi, double q, Contour& out);

// The law of d(Z) at level lev: real nodes on the real line (step h/2) and contour nodes (step h), both folded to
// t >= 0 (the integrands are even in t).
DiscreteLaw smooth_law(const Expr& dphi, const Contour& k, int lev, bool with_contour);

// The push-forward of N(0, 1) by d(z) = phi'(a z)^2 (even and decreasing in |z|, as make_contour checks): the root
// z0 >= 0 of d(z0) = y for 0 < y < d(0) (+inf when it lies beyond z = 64, where phi(z0) underflows), and the density
// of d(Z) at y, 2 phi(z0) / |d'(z0)| (0 outside (0, d(0))).
double pushforward_root(const Expr& dphi, const Expr& d2phi, double a, double y);
double pushforward_density(const Expr& dphi, const Expr& d2phi, double a, double y);

}  // namespace netsor::detail

// core/src/spectra/smooth_law.cpp — see smooth_law.hpp.
#include "smooth_law.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

namespace netsor::detail {

std::string num(double x, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

cplx d_complex(const Expr& dphi, double a, cplx z) {
  const cplx p = eval_complex(dphi, a * z);
  return p * p;
}
double d_real(const Expr& dphi, double a, double z) {
  const double p = eval_double(dphi, a * z);
  return p * p;
}

std::string make_contour(const std::string& name, const Expr& dphi, double q, Contour& out) {
  if (auto op = complex_unsupported_op(dphi))
    return "phi' of " + name + " uses " + *op + ", which has no complex evaluation here";
  const double a = std::sqrt(q);
  const double d0 = d_real(dphi, a, 0.0);
  if (!(d0 > 0) || !std::isfinite(d0)) return "phi'(0) = 0 for " + name;
  double prev = d0;
  for (int i = 1; i <= 1600; ++i) {
    const double z = i / 100.0, dp = d_real(dphi, a, z), dm = d_real(dphi, a, -z);
    if (!(std::abs(dp - dm) <= 1e-14 * d0) || !(dp <= prev * (1 + 1e-15)))
      return "phi'(h)^2 is not even and decreasing in |h| for " + name +
             " (the contour rule is written for that shape: tanh, erf, sigmoid)";
    prev = dp;
  }
  // The region between the axis and 1.5 s(t), t in (0, T]: Im d <= 0 (to rounding) and d finite and moderate.
  auto region_ok = [&](const Contour& k) {
    for (int i = 1; i <= 400; ++i) {
      const double t = kContourT * i / 400.0;
      for (int j = 1; j <= 24; ++j) {
        const cplx dz = d_complex(dphi, a, cplx(t, 1.5 * k.s(t) * j / 24.0));
        if (!std::isfinite(dz.real()) || !std::isfinite(dz.imag()) || std::abs(dz) > 1e3 * d0) return false;
        if (dz.imag() > 1e-14 * std::abs(dz)) return false;
      }
      if (!(d_complex(dphi, a, cplx(t, k.s(t))).imag() < 0) && d_real(dphi, a, t) > 1e-300) return false;
    }
    return true;
  };
  for (double tau : {4.0, 2.8, 2.0, 1.4, 1.0, 0.7, 0.5, 0.35})
    for (double c : {1.0, 0.7, 0.5}) {
      const Contour k{a, c, tau};
      if (region_ok(k)) {
        out = k;
        return "";
      }
    }
  return "no contour z = t + i c t / (1 + (t/tau)^2) keeps Im phi'(sqrt(q) z)^2 <= 0 for " + name +
         " at q = " + num(q);
}

DiscreteLaw smooth_law(const Expr& dphi, const Contour& k, int lev, bool with_contour) {
  DiscreteLaw law;
  constexpr double inv_sqrt_2pi = 0.39894228040143267794;
  const double h = std::ldexp(kContourH0, -lev);
  {
    const double hr = h / 2;
    const int n = static_cast<int>(std::ceil(kContourT / hr));
    for (int i = 0; i <= n; ++i) {
      const double t = i * hr;
      law.d.push_back(d_real(dphi, k.a, t));
      law.w.push_back((i == 0 ? 1 : 2) * hr * inv_sqrt_2pi * std::exp(-0.5 * t * t));
    }
  }
  if (with_contour) {
    const int n = static_cast<int>(std::ceil(kContourT / h));
    for (int i = 0; i <= n; ++i) {
      const double t = i * h;
      const cplx g(t, k.s(t)), dg(1, k.ds(t));
      law.cd.push_back(d_complex(dphi, k.a, g));
      law.cw.push_back((i == 0 ? 1.0 : 2.0) * h * inv_sqrt_2pi * std::exp(-0.5 * g * g) * dg);
    }
  }
  law.finish();
  return law;
}

double pushforward_root(const Expr& dphi, const Expr& d2phi, double a, double y) {
  double lo = 0, hi = 1;
  while (d_real(dphi, a, hi) > y) {
    lo = hi, hi *= 2;
    if (hi > 64) return std::numeric_limits<double>::infinity();
  }
  double z = 0.5 * (lo + hi);
  for (int it = 0; it < 200; ++it) {
    const double p = eval_double(dphi, a * z), f = p * p - y;
    (f > 0 ? lo : hi) = z;
    const double df = 2 * a * p * eval_double(d2phi, a * z);
    double zn = df != 0 ? z - f / df : 0.5 * (lo + hi);
    if (!(zn > lo && zn < hi)) zn = 0.5 * (lo + hi);
    if (std::abs(zn - z) <= 1e-16 * z || hi - lo <= 1e-16 * hi) return zn;
    z = zn;
  }
  return z;
}

double pushforward_density(const Expr& dphi, const Expr& d2phi, double a, double y) {
  if (!(y > 0) || !(y < d_real(dphi, a, 0.0))) return 0;
  const double z0 = pushforward_root(dphi, d2phi, a, y);
  if (!std::isfinite(z0)) return 0;
  const double dd = std::abs(2 * a * eval_double(dphi, a * z0) * eval_double(d2phi, a * z0));
  return 2 * std::exp(-0.5 * z0 * z0) / std::sqrt(2 * M_PI) / dd;
}

}  // namespace netsor::detail

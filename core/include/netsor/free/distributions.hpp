// netsor/free/distributions.hpp — the laws of free probability with exact moments, density, Cauchy transform
// and support (shared/MATH.md, "Laws"): Semicircle, MarchenkoPastur (free Poisson), Arcsine, Bernoulli.
// Parameters are `Param`s: `MarchenkoPastur{.ratio = 0.5}` is exactly ratio 1/2, so moments<Rational> are exact.
#pragma once

#include <netsor/errors.hpp>
#include <netsor/program/param.hpp>

#include <cmath>
#include <complex>
#include <string>
#include <utility>
#include <vector>

namespace netsor::free {

namespace detail {
inline void check_positive(const Param& p, const char* law, const char* name) {
  if (!std::isfinite(p.approx) || p.exact <= 0)
    throw invalid_argument(std::string(law) + ": " + name + " must be positive and finite, got " + p.text());
}
template <class T>
T from_param(const Param& p) {
  if constexpr (std::is_same_v<T, Rational>) return p.exact;
  else if constexpr (std::is_same_v<T, double>) return p.approx;
  else return to_real(p.exact);
}
inline Integer binomial(unsigned n, unsigned k) {
  Integer r = 1;
  for (unsigned i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return r;
}
template <class T>
T from_integer(const Integer& z) {
  if constexpr (std::is_same_v<T, double>) return static_cast<double>(z);
  else return T(z);
}
// sqrt(z - a) sqrt(z + ... ): the branch of sqrt((z - a)(z - b)) that behaves like z at infinity
inline std::complex<double> sqrt2(std::complex<double> z, double a, double b) {
  return std::sqrt(z - a) * std::sqrt(z - b);
}
}  // namespace detail

/// Semicircle of variance t: density sqrt(4t - x^2)/(2 pi t) on [-2 sqrt t, 2 sqrt t]; kappa_2 = t, others 0.
struct Semicircle {
  Param variance = 1;
  template <class T>
  std::vector<T> moments(int k) const {
    detail::check_positive(variance, "Semicircle", "variance");
    std::vector<T> m(k, T(0));
    const T t = detail::from_param<T>(variance);
    T tp = T(1);
    for (int j = 2; j <= k; j += 2) {
      tp *= t;
      const unsigned h = j / 2;
      m[j - 1] = tp * detail::from_integer<T>(detail::binomial(2 * h, h) / (h + 1));
    }
    return m;
  }
  std::pair<double, double> support() const {
    const double r = 2 * std::sqrt(variance.approx);
    return {-r, r};
  }
  double density(double x) const {
    const double t = variance.approx;
    return std::abs(x) >= 2 * std::sqrt(t) ? 0.0 : std::sqrt(4 * t - x * x) / (2 * M_PI * t);
  }
  std::complex<double> cauchy(std::complex<double> z) const {
    const double t = variance.approx, r = 2 * std::sqrt(t);
    return (z - detail::sqrt2(z, -r, r)) / (2 * t);
  }
};

/// Marchenko–Pastur law of ratio lambda and variance s (shared/MATH.md): the limit law of X^T X for X n x m,
/// m = lambda n, entries N(0, s/n). Moments s^k sum_{r<k} lambda^r/(r+1) C(k,r) C(k-1,r); free cumulants
/// kappa_k = s^k lambda^{k-1}; support s[(1 - sqrt l)^2, (1 + sqrt l)^2]; an atom 1 - 1/lambda at 0 when lambda > 1.
struct MarchenkoPastur {
  Param ratio = 1;
  Param variance = 1;
  template <class T>
  std::vector<T> moments(int k) const {
    detail::check_positive(ratio, "MarchenkoPastur", "ratio");
    detail::check_positive(variance, "MarchenkoPastur", "variance");
    const T l = detail::from_param<T>(ratio), s = detail::from_param<T>(variance);
    std::vector<T> m(k, T(0));
    T sp = T(1);
    for (int j = 1; j <= k; ++j) {
      sp *= s;
      T sum = T(0), lp = T(1);
      for (int r = 0; r < j; ++r) {
        sum += lp * detail::from_integer<T>(detail::binomial(j, r) * detail::binomial(j - 1, r)) / T(r + 1);
        lp *= l;
      }
      m[j - 1] = sp * sum;
    }
    return m;
  }
  std::pair<double, double> support() const {
    const double l = ratio.approx, s = variance.approx;
    return {s * (1 - std::sqrt(l)) * (1 - std::sqrt(l)), s * (1 + std::sqrt(l)) * (1 + std::sqrt(l))};
  }
  /// Mass of the atom at 0 (1 - 1/lambda for lambda > 1, else 0).
  double atom() const { return ratio.approx > 1 ? 1 - 1 / ratio.approx : 0.0; }
  double density(double x) const {
    const auto [a, b] = support();
    if (x <= a || x >= b) return 0.0;
    const double s = variance.approx;
    return std::sqrt((b - x) * (x - a)) / (2 * M_PI * ratio.approx * x * s);
  }
  std::complex<double> cauchy(std::complex<double> z) const {
    // G solves lambda z G^2 - (z - 1 + lambda) G + 1 = 0 for variance 1; G_s(z) = G(z/s)/s.
    const double l = ratio.approx, s = variance.approx;
    const std::complex<double> w = z / s;
    const double a = (1 - std::sqrt(l)) * (1 - std::sqrt(l)), b = (1 + std::sqrt(l)) * (1 + std::sqrt(l));
    return ((w - 1.0 + l) - detail::sqrt2(w, a, b)) / (2 * l * w) / s;
  }
};

/// Arcsine law on [-2, 2] (the law of u + u* for a Haar unitary u): density 1/(pi sqrt(4 - x^2)),
/// moments m_{2k} = C(2k, k).
struct Arcsine {
  template <class T>
  std::vector<T> moments(int k) const {
    std::vector<T> m(k, T(0));
    for (int j = 2; j <= k; j += 2) m[j - 1] = detail::from_integer<T>(detail::binomial(j, j / 2));
    return m;
  }
  std::pair<double, double> support() const { return {-2.0, 2.0}; }
  double density(double x) const { return std::abs(x) >= 2 ? 0.0 : 1 / (M_PI * std::sqrt(4 - x * x)); }
  std::complex<double> cauchy(std::complex<double> z) const { return 1.0 / detail::sqrt2(z, -2, 2); }
};

/// Two-point law: b with probability p, a with probability 1 - p. (The law of D^2 for relu: p = 1/2, a = 0, b = 1.)
struct Bernoulli {
  Param p = Rational(1, 2);
  Param a = 0;
  Param b = 1;
  template <class T>
  std::vector<T> moments(int k) const {
    if (!p.finite() || p.exact < 0 || p.exact > 1)
      throw invalid_argument("Bernoulli: p must lie in [0, 1], got " + p.text());
    if (!a.finite() || !b.finite())
      throw invalid_argument("Bernoulli: the values a and b must be finite, got " + a.text() + " and " + b.text());
    const T pp = detail::from_param<T>(p), av = detail::from_param<T>(a), bv = detail::from_param<T>(b);
    std::vector<T> m(k);
    T ap = T(1), bp = T(1);
    for (int j = 0; j < k; ++j) {
      ap *= av, bp *= bv;
      m[j] = pp * bp + (T(1) - pp) * ap;
    }
    return m;
  }
  std::pair<double, double> support() const { return {std::min(a.approx, b.approx), std::max(a.approx, b.approx)}; }
  double density(double) const { return 0.0; }  // purely atomic
  std::complex<double> cauchy(std::complex<double> z) const {
    return p.approx / (z - b.approx) + (1 - p.approx) / (z - a.approx);
  }
};

}  // namespace netsor::free

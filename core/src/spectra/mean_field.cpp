// core/src/spectra/mean_field.cpp — variance and correlation maps, their fixed points, chi and the phase
// (netsor/spectra/mean_field.hpp; Poole et al. 2016; Schoenholz et al. 2017, eqs. 3-5 and 9).
//
// Fixed points are located in double (trapezoidal rules, good to ~1e-8 even with kinks) and polished by secant
// steps in Real with the limit evaluator's Gaussian quadrature. The precision contract (two working precisions
// that must agree) is the one of docs/conventions.md.
#include <netsor/errors.hpp>
#include <netsor/limit/gaussian_quadrature.hpp>
#include <netsor/spectra/activation.hpp>
#include <netsor/spectra/mean_field.hpp>

#include <boost/math/constants/constants.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

namespace netsor {

const char* to_string(Phase p) {
  switch (p) {
    case Phase::ordered: return "ordered";
    case Phase::critical: return "critical";
    case Phase::chaotic: return "chaotic";
  }
  return "?";
}

namespace detail {

Real phi2_at(const std::string& activation, const Real& q, unsigned digits);
std::vector<Real> d2_moments_at(const std::string& activation, const Real& q, int count, unsigned digits);

namespace {

unsigned guard_digits(unsigned digits) { return 10 + digits / 8; }

void check_digits(unsigned digits, const char* who) {
  if (digits < 15 || digits > 1000)
    throw invalid_argument(std::string(who) + ": digits must lie in [15, 1000], got " + std::to_string(digits));
}

void check_variance(const Param& v, const char* who, const char* name) {
  if (!std::isfinite(v.approx) || v.exact < 0)
    throw invalid_argument(std::string(who) + ": " + name + " must be finite and non-negative, got " +
                           std::to_string(v.approx));
}

Real integrate(const GaussianIntegrand& g, unsigned digits, const std::string& what) {
  QuadratureOptions o;
  o.digits = digits;
  const QuadratureResult r = gaussian_expectation(g, o);
  if (!r.converged)
    throw convergence_error("mean_field: the Gaussian integral " + what + " reached only " +
                                std::to_string(r.digits_reached) + " of " + std::to_string(digits) + " digits",
                            r.digits_reached);
  return r.value;
}

std::vector<Kink> kinks_1d(const ActivationInfo& a, const Real& sq) {
  std::vector<Kink> ks;
  for (const auto& x : a.kinks) ks.push_back(Kink{{sq}, to_real(x)});
  return ks;
}

// E[f(sqrt(q) Z)] in Real.
Real expect_1d(const ActivationInfo& a, const Real& q, unsigned digits, std::function<Real(const Real&)> f,
               const std::string& what) {
  const Real sq = sqrt(q);
  GaussianIntegrand g;
  g.dim = 1;
  g.f = [f = std::move(f), sq](const Real* z) { return f(sq * z[0]); };
  g.kinks = kinks_1d(a, sq);
  return integrate(g, digits, what);
}

// E[f(u1) g(u2)], (u1, u2) ~ N(0, q [[1, c], [c, 1]]).
Real expect_2d(const ActivationInfo& a, const Real& q, const Real& c, unsigned digits, const Expr& f, const Expr& h,
               const std::string& what) {
  const Real sq = sqrt(q), s = sqrt(1 - c * c);
  GaussianIntegrand g;
  g.dim = 2;
  g.f = [&f, &h, sq, c, s](const Real* z) {
    const Real u1 = sq * z[0], u2 = sq * (c * z[0] + s * z[1]);
    return eval_real(f, u1) * eval_real(h, u2);
  };
  for (const auto& x : a.kinks) {
    g.kinks.push_back(Kink{{sq, Real(0)}, to_real(x)});
    g.kinks.push_back(Kink{{sq * c, sq * s}, to_real(x)});
  }
  return integrate(g, digits, what);
}

// ---- double-precision versions for locating fixed points (trapezoidal rules on [-10, 10])
double expect_1d_double(const Expr& f, double q, int power) {
  const int n = 2000;
  const double h = 20.0 / n, sq = std::sqrt(q);
  double s = 0;
  for (int i = 0; i <= n; ++i) {
    const double z = -10 + i * h;
    const double w = (i == 0 || i == n ? 0.5 : 1.0) * h * std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
    s += w * std::pow(eval_double(f, sq * z), power);
  }
  return s;
}

double correlation_map_double(const ActivationInfo& a, double q, double c, double sw, double sb, const Expr& f,
                              const Expr& g) {
  const int n = 240;
  const double h = 16.0 / n, sq = std::sqrt(q), s = std::sqrt(std::max(0.0, 1 - c * c));
  std::vector<double> z(n + 1), w(n + 1), f1(n + 1);
  for (int i = 0; i <= n; ++i) {
    z[i] = -8 + i * h;
    w[i] = (i == 0 || i == n ? 0.5 : 1.0) * h * std::exp(-0.5 * z[i] * z[i]) / std::sqrt(2 * M_PI);
    f1[i] = eval_double(f, sq * z[i]);
  }
  double acc = 0;
  for (int i = 0; i <= n; ++i)
    for (int j = 0; j <= n; ++j) acc += w[i] * w[j] * f1[i] * eval_double(g, sq * (c * z[i] + s * z[j]));
  (void)a;
  return acc;
}

struct Computed {
  FixedPoint fp = FixedPoint::attracting;
  Real q_star, chi, c_star, chi_c, xi_c;
  Phase phase = Phase::ordered;
};

// Locations found in double, shared by both working precisions.
struct Guess {
  FixedPoint fp = FixedPoint::attracting;
  double q = 0;  // q_star (or 1 for a neutral homogeneous map)
  bool q_zero = false;
  double c = 1;
};

Guess locate(const ActivationInfo& a, double sw, double sb) {
  Guess g;
  if (a.positively_homogeneous) {
    const double e2 = expect_1d_double(a.phi, 1.0, 2);  // E phi(Z)^2 (1/2 or 1)
    const double slope = sw * e2;
    if (std::abs(slope - 1) < 1e-14) {
      g.fp = sb == 0 ? FixedPoint::neutral : FixedPoint::none;
      g.q = 1;
    } else if (slope < 1) {
      g.q = sb / (1 - slope);
      g.q_zero = sb == 0;
    } else {
      g.fp = FixedPoint::none;
      g.q = 1;
    }
    return g;
  }
  auto V = [&](double q) { return sw * expect_1d_double(a.phi, q, 2) + sb; };
  double q = 1;
  for (int it = 0; it < 400; ++it) {
    const double qn = V(q);
    if (!std::isfinite(qn) || qn > 1e12) {
      g.fp = FixedPoint::none;
      g.q = 1;
      return g;
    }
    if (std::abs(qn - q) <= 1e-13 * std::max(q, 1e-300)) {
      q = qn;
      break;
    }
    q = qn;
  }
  const double phi0 = eval_double(a.phi, 0.0);
  if (q < 1e-6 && sb == 0 && phi0 == 0) {
    // The iteration heads to 0: it is the fixed point when V'(0) = sigma_w^2 phi'(0)^2 <= 1.
    const double d0 = eval_double(a.dphi, 0.0);
    if (sw * d0 * d0 <= 1) {
      g.q = 0;
      g.q_zero = true;
      return g;
    }
  }
  // Refine by bisection on V(q) - q around q (slow iteration near criticality).
  double lo = q * 0.5, hi = q * 2 + 1e-12;
  auto G = [&](double x) { return V(x) - x; };
  for (int k = 0; k < 60 && !(G(lo) > 0); ++k) lo *= 0.5;
  for (int k = 0; k < 60 && !(G(hi) < 0); ++k) hi *= 2;
  if (G(lo) > 0 && G(hi) < 0) {
    for (int k = 0; k < 200 && hi - lo > 1e-15 * hi; ++k) {
      const double mid = 0.5 * (lo + hi);
      (G(mid) > 0 ? lo : hi) = mid;
    }
    q = 0.5 * (lo + hi);
  }
  g.q = q;
  return g;
}

// Secant iterations for a root of g near x0 (x0 from double), at the current precision.
Real secant(const std::function<Real(const Real&)>& g, const Real& x0, const Real& scale, unsigned digits,
            const std::string& what) {
  Real a = x0, b = x0 + scale * Real(1e-9);
  Real ga = g(a), gb = g(b);
  const Real tol = scale * pow(Real(10), -static_cast<int>(digits));
  for (int it = 0; it < 100; ++it) {
    if (gb == ga) return b;
    const Real c = b - gb * (b - a) / (gb - ga);
    a = b, ga = gb;
    b = c, gb = g(b);
    if (abs(b - a) <= tol) return b;
  }
  throw convergence_error("mean_field: the secant iteration for " + what + " did not converge");
}

Computed compute(const std::string& act, const ActivationInfo& a, const Param& sw, const Param& sb, unsigned target,
                 const Guess& guess, bool correlation) {
  Computed out;
  out.fp = guess.fp;
  const Real s2w = to_real(sw.exact), s2b = to_real(sb.exact);
  const Real one(1);
  if (guess.fp != FixedPoint::attracting) {
    out.q_star = std::numeric_limits<Real>::quiet_NaN();
  } else if (guess.q_zero) {
    out.q_star = 0;
  } else if (a.positively_homogeneous) {
    const Real e2 = expect_1d(a, one, target, [&a](const Real& x) { Real p = eval_real(a.phi, x); return p * p; },
                              "E phi(Z)^2");
    out.q_star = s2b / (1 - s2w * e2);
  } else {
    auto g = [&](const Real& q) { return s2w * phi2_at(act, q, target) + s2b - q; };
    out.q_star = secant(g, Real(guess.q), Real(std::max(guess.q, 1e-3)), target, "q_star");
  }
  // chi: for homogeneous phi the law of phi' does not depend on q > 0 (use q = 1).
  const Real qd = (a.positively_homogeneous || out.fp != FixedPoint::attracting) ? one : out.q_star;
  if (out.fp != FixedPoint::attracting && !a.positively_homogeneous)
    throw convergence_error("mean_field(" + act + "): the variance map has no fixed point (the variances grow "
                            "without bound); give the network an input_variance instead");
  if (qd == 0) {
    const Real d0 = eval_real(a.dphi, Real(0));
    out.chi = s2w * d0 * d0;
  } else {
    out.chi = s2w * d2_moments_at(act, qd, 1, target)[0];
  }
  const Real tol = pow(Real(10), -static_cast<int>(target));
  if (abs(out.chi - 1) <= tol) out.phase = Phase::critical;
  else out.phase = out.chi < 1 ? Phase::ordered : Phase::chaotic;
  // The correlation map.
  if (!correlation) {
    out.c_star = out.chi_c = std::numeric_limits<Real>::quiet_NaN();
  } else if (out.phase != Phase::chaotic) {
    out.c_star = 1;
    out.chi_c = out.chi;
  } else if (out.fp != FixedPoint::attracting && s2b != 0) {
    out.c_star = out.chi_c = std::numeric_limits<Real>::quiet_NaN();
  } else {
    const Real q = qd == 0 ? one : qd;
    auto C = [&](const Real& c) {
      return (s2w * expect_2d(a, q, c, target, a.phi, a.phi, "E phi(u1) phi(u2)") + s2b) / q - c;
    };
    if (std::abs(guess.c) < 1e-12 && s2b == 0 && C(Real(0)) == 0) out.c_star = 0;
    else out.c_star = secant(C, Real(guess.c), Real(1), target, "c_star");
    out.chi_c = s2w * expect_2d(a, q, out.c_star, target, a.dphi, a.dphi, "E phi'(u1) phi'(u2)");
  }
  if (out.phase == Phase::critical || out.chi_c == 1) out.xi_c = std::numeric_limits<Real>::infinity();
  else out.xi_c = -1 / log(out.chi_c);
  return out;
}

bool agree(const Real& x, const Real& y, unsigned digits) {
  if (boost::multiprecision::isnan(x) && boost::multiprecision::isnan(y)) return true;
  if (boost::multiprecision::isinf(x) && boost::multiprecision::isinf(y)) return true;
  const Real d = abs(x - y), s = std::max(abs(x), abs(y));
  return d <= pow(Real(10), -static_cast<int>(digits)) * std::max(s, pow(Real(10), -static_cast<int>(digits)));
}

// P(phi'(sqrt(q) Z) != 0) for the activations whose phi'^2 is an indicator.
Real indicator_probability(const std::string& activation, const Real& q) {
  if (activation == "relu") return Real(1) / 2;
  if (activation == "step") return Real(0);
  if (activation == "hard_tanh") return erf(1 / sqrt(2 * q));
  return Real(1);  // linear, identity, abs
}

}  // namespace

std::vector<Real> d2_moments_at(const std::string& activation, const Real& q, int count, unsigned digits) {
  const ActivationInfo& a = activation_info(activation);
  std::vector<Real> out;
  if (a.piecewise_constant_derivative && q > 0) {
    // phi'^2 is an indicator: every moment is P(phi' != 0) (closed forms; relu 1/2, abs and linear 1, step 0).
    Real p = indicator_probability(activation, q);
    for (int k = 1; k <= count; ++k) out.push_back(p);
    return out;
  }
  if (q == 0) {
    const Real d0 = eval_real(a.dphi, Real(0));
    Real p = 1;
    for (int k = 1; k <= count; ++k) out.push_back(p *= d0 * d0);
    return out;
  }
  for (int k = 1; k <= count; ++k)
    out.push_back(expect_1d(a, q, digits, [&a, k](const Real& x) { return pow(eval_real(a.dphi, x), 2 * k); },
                            "E phi'(sqrt(q) Z)^" + std::to_string(2 * k)));
  return out;
}

Real phi2_at(const std::string& activation, const Real& q, unsigned digits) {
  const ActivationInfo& a = activation_info(activation);
  if (activation == "hard_tanh" && q > 0) {
    // E min(q Z^2, 1) = q (erf(a/sqrt 2) - 2 a phi(a)) + erfc(a/sqrt 2), a = 1/sqrt(q): in closed form (the
    // quadrature's finite middle piece is avoided; see the report on gaussian_quadrature).
    const Real a = 1 / sqrt(q), r2 = sqrt(Real(2));
    const Real pdf = exp(-a * a / 2) / sqrt(2 * boost::math::constants::pi<Real>());
    return q * (erf(a / r2) - 2 * a * pdf) + erfc(a / r2);
  }
  if (q == 0) {
    const Real p = eval_real(a.phi, Real(0));
    return p * p;
  }
  return expect_1d(a, q, digits, [&a](const Real& x) { Real p = eval_real(a.phi, x); return p * p; },
                   "E phi(sqrt(q) Z)^2");
}

std::vector<Real> variance_path(const std::string& activation, const Param& sw, const Param& sb,
                                const Real& input_variance, int depth, unsigned digits) {
  const Real s2w = to_real(sw.exact), s2b = to_real(sb.exact);
  std::vector<Real> q;
  Real qhat = input_variance;
  for (int l = 0; l < depth; ++l) {
    q.push_back(s2w * qhat + s2b);
    qhat = phi2_at(activation, q.back(), digits);
  }
  return q;
}

}  // namespace detail

namespace detail {
MeanField mean_field_impl(const std::string& activation, const MeanFieldOptions& options, bool correlation);
}

MeanField mean_field(const std::string& activation, const MeanFieldOptions& options) {
  return detail::mean_field_impl(activation, options, true);
}

MeanField detail::mean_field_impl(const std::string& activation, const MeanFieldOptions& options, bool correlation) {
  using namespace detail;
  check_digits(options.digits, "mean_field");
  check_variance(options.weight_variance, "mean_field", "weight_variance");
  check_variance(options.bias_variance, "mean_field", "bias_variance");
  const ActivationInfo& a = activation_info(activation);
  const unsigned D = options.digits;
  Guess guess = locate(a, options.weight_variance.approx, options.bias_variance.approx);
  // The correlation fixed point in double, when chaotic (iterate the map from c = 0).
  {
    const double sw = options.weight_variance.approx, sb = options.bias_variance.approx;
    const double q = guess.fp == FixedPoint::attracting && !guess.q_zero ? guess.q : 1.0;
    double chi_d = sw * expect_1d_double(a.dphi, a.positively_homogeneous ? 1.0 : q, 2);
    if (guess.q_zero && !a.positively_homogeneous) {
      const double d0 = eval_double(a.dphi, 0.0);
      chi_d = sw * d0 * d0;
    }
    if (correlation && chi_d > 1 + 1e-9) {
      double c = 0;
      for (int it = 0; it < 300; ++it) {
        const double cn = (sw * correlation_map_double(a, q, c, sw, sb, a.phi, a.phi) + sb) / q;
        if (std::abs(cn - c) < 1e-12) {
          c = cn;
          break;
        }
        c = std::clamp(cn, -1.0, 1.0);
      }
      guess.c = c;
    }
  }
  const unsigned g = guard_digits(D);
  Computed lo, hi;
  {
    precision_scope ps(D + g);
    lo = compute(activation, a, options.weight_variance, options.bias_variance, D + g, guess, correlation);
  }
  {
    precision_scope ps(D + 2 * g);
    hi = compute(activation, a, options.weight_variance, options.bias_variance, D + 2 * g, guess, correlation);
  }
  const std::pair<const char*, std::pair<const Real*, const Real*>> pairs[] = {
      {"q_star", {&lo.q_star, &hi.q_star}}, {"chi", {&lo.chi, &hi.chi}},
      {"c_star", {&lo.c_star, &hi.c_star}}, {"chi_c", {&lo.chi_c, &hi.chi_c}}};
  for (const auto& [name, p] : pairs)
    if (!agree(*p.first, *p.second, D + 1))
      throw convergence_error(std::string("mean_field(") + activation + "): " + name +
                              " differs between working precisions " + std::to_string(D + g) + " and " +
                              std::to_string(D + 2 * g) + " digits: " + to_string(*p.first, D + 2) + " vs " +
                              to_string(*p.second, D + 2));
  // The returned Reals carry at least D + 5 digits (as `limit` does), so arithmetic on them keeps their digits.
  if (Real::default_precision() < D + 5) Real::default_precision(D + 5);
  MeanField mf;
  mf.activation = activation;
  mf.weight_variance = options.weight_variance;
  mf.bias_variance = options.bias_variance;
  mf.digits = D;
  mf.fixed_point = hi.fp;
  mf.q_star = hi.q_star;
  mf.chi = hi.chi;
  mf.c_star = hi.c_star;
  mf.chi_c = hi.chi_c;
  mf.xi_c = hi.xi_c;
  mf.phase = hi.phase;
  if (a.positively_homogeneous) {
    const Rational e2 = (activation == "relu") ? Rational(1, 2) : Rational(1);
    const Rational de2 = e2;  // relu: E step^2 = 1/2; linear, abs: 1
    mf.chi_exact = options.weight_variance.exact * de2;
    if (mf.fixed_point == FixedPoint::attracting)
      mf.q_star_exact = options.bias_variance.exact / (1 - options.weight_variance.exact * e2);
    if (*mf.chi_exact == 1) mf.phase = Phase::critical;
  }
  return mf;
}

Real MeanField::variance_map(const Real& q) const {
  precision_scope ps(digits + detail::guard_digits(digits));
  return to_real(weight_variance.exact) * detail::phi2_at(activation, q, digits + 5) + to_real(bias_variance.exact);
}

Real MeanField::correlation_map(const Real& c) const {
  precision_scope ps(digits + detail::guard_digits(digits));
  const auto& a = detail::activation_info(activation);
  const Real q = fixed_point == FixedPoint::attracting && q_star > 0 ? q_star : Real(1);
  return (to_real(weight_variance.exact) * detail::expect_2d(a, q, c, digits + 5, a.phi, a.phi, "E phi(u1) phi(u2)") +
          to_real(bias_variance.exact)) /
         q;
}

std::vector<Real> MeanField::d2_moments(int count) const {
  const auto& a = detail::activation_info(activation);
  const Real q = a.positively_homogeneous || fixed_point != FixedPoint::attracting ? Real(1) : q_star;
  return d2_moments(count, q);
}

std::vector<Real> MeanField::d2_moments(int count, const Real& q) const {
  precision_scope ps(digits + detail::guard_digits(digits));
  return detail::d2_moments_at(activation, q, count, digits + 5);
}

}  // namespace netsor

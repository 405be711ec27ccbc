// netsor/spectra/mean_field.hpp — mean-field theory of a deep MLP at initialization (shared/MATH.md, "Jacobians
// of deep networks"; Poole et al. 2016, Schoenholz et al. 2017, "Deep information propagation", eqs. 3-5, 9).
//
// For h^l = W^l x^{l-1} + b^l, x^l = phi(h^l), W^l entries N(0, sigma_w^2 / fan_in), b^l entries N(0, sigma_b^2):
//   variance map      q -> V(q) = sigma_w^2 E[phi(sqrt(q) Z)^2] + sigma_b^2,          fixed point q_star;
//   correlation map   c -> C(c) = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q_star, (u_1, u_2) ~ N(0, q_star [[1, c], [c, 1]]);
//   chi   = sigma_w^2 E[phi'(sqrt(q_star) Z)^2]  (= C'(1): the mean squared singular value of one layer's Jacobian),
//   chi_c = C'(c_star) = sigma_w^2 E[phi'(u_1) phi'(u_2)] at c_star, and the depth scale xi_c = -1 / log(chi_c).
// Phase: ordered (chi < 1, c_star = 1), critical (chi = 1), chaotic (chi > 1, c_star < 1).
//
// Every Gaussian integral is the limit evaluator's quadrature (limit/gaussian_quadrature.hpp) with the kinks of
// phi; fixed points are found in double and then polished by secant steps in Real. Precision contract as for
// `limit` (docs/conventions.md): the whole computation runs at two working precisions, D + g and D + 2g digits
// (g = 10 + D/8), and is accepted when both agree to D + 1 digits; otherwise `convergence_error`.
#pragma once

#include <netsor/numbers.hpp>
#include <netsor/program/param.hpp>

#include <optional>
#include <string>
#include <vector>

namespace netsor {

struct MeanFieldOptions {
  Param weight_variance = 1;  // sigma_w^2
  Param bias_variance = 0;    // sigma_b^2
  unsigned digits = 30;       // significant digits of every Real returned (15 <= digits <= 1000)
};

enum class Phase { ordered, critical, chaotic };
/// "ordered", "critical" or "chaotic".
const char* to_string(Phase p);

/// How the variance map behaves.
enum class FixedPoint {
  attracting,  // a unique fixed point q_star that the iteration reaches from any q > 0
  neutral,     // every q is fixed (positively homogeneous phi with sigma_w^2 E phi(Z)^2 = 1, sigma_b = 0)
  none         // the variances grow without bound (or shrink to 0 with sigma_b = 0): no positive q_star
};

struct MeanField {
  std::string activation;
  Param weight_variance, bias_variance;
  unsigned digits = 30;

  FixedPoint fixed_point = FixedPoint::attracting;
  /// The fixed point of the variance map (NaN unless fixed_point == attracting).
  Real q_star;
  /// sigma_w^2 E[phi'(sqrt(q) Z)^2] at q_star (for a positively homogeneous phi it does not depend on q).
  Real chi;
  /// The stable fixed point of the correlation map (1 in the ordered and critical phases).
  Real c_star;
  /// C'(c_star) and the correlation depth scale xi_c = -1/log(chi_c) (infinite at criticality).
  Real chi_c;
  Real xi_c;
  Phase phase = Phase::ordered;
  /// Exact values when they are rational (relu, abs, linear with rational variances).
  std::optional<Rational> q_star_exact;
  std::optional<Rational> chi_exact;

  /// The variance map V(q) = sigma_w^2 E[phi(sqrt(q) Z)^2] + sigma_b^2 at `digits` digits.
  Real variance_map(const Real& q) const;
  /// The correlation map C(c) at q_star.
  Real correlation_map(const Real& c) const;
  /// Moments E[phi'(sqrt(q) Z)^{2k}], k = 1..count, of the law of D^2 at variance q (default q_star).
  std::vector<Real> d2_moments(int count) const;
  std::vector<Real> d2_moments(int count, const Real& q) const;
};

/// Mean-field quantities of `activation` (a name of `activation_names()` or "hard_tanh").
/// Throws `invalid_argument` for an unknown activation, a negative or non-finite variance, or digits outside
/// [15, 1000]; `convergence_error` when a fixed point or an integral does not reach the requested digits.
MeanField mean_field(const std::string& activation, const MeanFieldOptions& options = {});

namespace detail {
/// mean_field without the correlation map when `correlation` is false (c_star, chi_c and xi_c are then NaN).
MeanField mean_field_impl(const std::string& activation, const MeanFieldOptions& options, bool correlation);
/// E[phi'(sqrt(q) Z)^{2k}], k = 1..count, at the current default precision with `digits` target digits.
std::vector<Real> d2_moments_at(const std::string& activation, const Real& q, int count, unsigned digits);
/// E[phi(sqrt(q) Z)^2] at the current default precision.
Real phi2_at(const std::string& activation, const Real& q, unsigned digits);
/// The variance recursion q_l, l = 1..depth, from the input's E[x_i^2] = input_variance (q_1 = sigma_w^2 v + sigma_b^2).
std::vector<Real> variance_path(const std::string& activation, const Param& weight_variance,
                                const Param& bias_variance, const Real& input_variance, int depth, unsigned digits);
}  // namespace detail

}  // namespace netsor

// tests/spectra/test_spectra.cpp — mean field, moments and densities of the Jacobian spectrum
// (netsor/spectra.hpp). References: the values stated in shared/MATH.md, closed forms (chi^L, Fuss-Catalan
// numbers, a point mass), and the density checked against the exact moments by quadrature.
#include "../precision.hpp"

#include <netsor/errors.hpp>
#include <netsor/spectra.hpp>

#include <doctest/doctest.h>

#include <boost/math/special_functions/binomial.hpp>

#include <cmath>
#include <complex>
#include <vector>

using namespace netsor;

TEST_CASE("spectra: mean field of tanh matches shared/MATH.md; relu is exact") {
  const MeanField mf = mean_field("tanh", {.weight_variance = 1.5, .bias_variance = 0.05, .digits = 20});
  precision_scope ps(40);
  NETSOR_CHECK_DIGITS(mf.q_star, Real("0.41803720053347785397"), 19);
  NETSOR_CHECK_DIGITS(mf.chi, Real("0.93863626819885115532"), 19);
  CHECK(mf.phase == Phase::ordered);
  // the fixed point is a fixed point of the variance map
  NETSOR_CHECK_DIGITS(mf.variance_map(mf.q_star), mf.q_star, 18);

  const MeanField r = mean_field("relu", {.weight_variance = 2, .bias_variance = 0, .digits = 30});
  REQUIRE(r.chi_exact);
  CHECK(*r.chi_exact == Rational(1));
  CHECK(r.phase == Phase::critical);
  const MeanField r2 = mean_field("relu", {.weight_variance = 1, .bias_variance = Rational(1, 10), .digits = 30});
  REQUIRE(r2.q_star_exact);
  CHECK(*r2.q_star_exact == Rational(1, 5));  // q = q/2 + 1/10
}

TEST_CASE("spectra: the first moment of J J^T is chi^L to 40 digits") {
  for (Weights w : {Weights::gaussian, Weights::orthogonal}) {
    CAPTURE(to_string(w));
    const Spectrum sp = jacobian_spectrum({.activation = "tanh", .weight_variance = 1.5, .bias_variance = 0.05,
                                           .depth = 10, .weights = w},
                                          {.digits = 40});
    const auto m = sp.moments(3);
    // chi from the mean-field side alone, at 50 digits
    const MeanField mf = mean_field("tanh", {.weight_variance = 1.5, .bias_variance = 0.05, .digits = 50});
    precision_scope ps(60);
    NETSOR_CHECK_DIGITS(m[0], pow(mf.chi, 10), 40);
    CHECK(m[1] > m[0] * m[0]);  // a variance is positive
  }
}

TEST_CASE("spectra: linear Gaussian layers give the Fuss-Catalan numbers exactly; orthogonal a point mass") {
  for (int L : {1, 2, 3, 5}) {
    CAPTURE(L);
    const Spectrum sp = jacobian_spectrum({.activation = "linear", .weight_variance = 1, .depth = L});
    const auto ex = sp.exact_moments(6);
    REQUIRE(ex);
    for (int k = 1; k <= 6; ++k) {
      // FC_L(k) = binom((L+1)k, k) / (L k + 1)
      const double fc = boost::math::binomial_coefficient<double>((L + 1) * k, k) / (L * k + 1);
      CHECK((*ex)[k - 1] == Rational(static_cast<long>(std::llround(fc))));
    }
  }
  const Spectrum o = jacobian_spectrum(
      {.activation = "linear", .weight_variance = Rational(3, 2), .depth = 4, .weights = Weights::orthogonal});
  const auto ex = o.exact_moments(4);
  REQUIRE(ex);
  Rational p = 1;
  for (int k = 1; k <= 4; ++k) {
    p *= Rational(81, 16);  // (3/2)^4
    CHECK((*ex)[k - 1] == p);
  }
  REQUIRE(o.atoms().size() == 1);
  CHECK(o.atoms()[0].mass == 1.0);
  CHECK(o.atoms()[0].location == doctest::Approx(81.0 / 16).epsilon(1e-15));
}

TEST_CASE("spectra: relu density integrates to its continuous mass and reproduces the exact moments") {
  // sigma_w^2 = 2, no bias: the atom at 0 has mass 1/2 (MATH.md); moments 1, 1 + 2L, ... for Gaussian weights.
  for (Weights w : {Weights::gaussian, Weights::orthogonal}) {
    for (int L : {1, 5, 20, 50}) {
      CAPTURE(to_string(w));
      CAPTURE(L);
      const Spectrum sp = jacobian_spectrum({.activation = "relu", .weight_variance = 2, .depth = L, .weights = w});
      const auto ex = sp.exact_moments(3);
      REQUIRE(ex);
      if (w == Weights::gaussian) CHECK((*ex)[1] == Rational(1 + 2 * L));
      double atoms = 0;
      for (const Atom& a : sp.atoms()) atoms += a.mass;
      if (w == Weights::orthogonal && L == 1) {
        CHECK(atoms == 1.0);  // 2 D^2: atoms at 0 and 2
        continue;
      }
      CHECK(std::abs(sp.integrated_mass() + atoms - 1) <= 1e-10);
      const auto md = sp.moments_from_density(3);
      for (int k = 0; k < 3; ++k) {
        const double exact = static_cast<double>((*ex)[k]);
        CAPTURE(k + 1);
        CHECK(std::abs(md[k] - exact) <= 1e-10 * exact);
      }
    }
  }
}

TEST_CASE("spectra: density grid of a depth-20 relu network, support edges and the gap at depth 1") {
  const Spectrum sp = jacobian_spectrum({.activation = "relu", .weight_variance = 2, .depth = 1});
  // depth 1: 2 D W W^T D is twice a Wishart of ratio 1/2: continuous part on 2 (1 -+ sqrt(1/2))^2
  CHECK(sp.support().first == doctest::Approx(2 * std::pow(1 - std::sqrt(0.5), 2)).epsilon(1e-12));
  CHECK(sp.support().second == doctest::Approx(2 * std::pow(1 + std::sqrt(0.5), 2)).epsilon(1e-12));
  // its density, closed form: MP of ratio c = 1/2 scaled by 2 and weighted by 1/2
  const double a = sp.support().first, b = sp.support().second;
  for (double x : {0.5, 1.0, 2.0, 4.0}) {
    const double mp = std::sqrt((b - x) * (x - a)) / (2 * M_PI * 0.5 * x * 2);
    CHECK(std::abs(sp.density(x) - 0.5 * mp) <= 1e-12);
  }
  const Spectrum s20 = jacobian_spectrum({.activation = "relu", .weight_variance = 2, .depth = 20});
  const auto g = s20.density_grid(1000);
  REQUIRE(g.size() == 1000);
  for (const auto& d : g) CHECK(std::isfinite(d.density));
  CHECK(s20.density(2 * s20.support().second) == 0.0);
}

namespace {
// The acceptance checks of a density (docs/spectra.md, "Measured"): it integrates to the continuous mass and its
// first three moments are the exact ones. The tolerances are those the solver promises (1e-10, relative for the
// moments); the measured errors are far below (about 1e-14, 1e-11 for orthogonal depth 1).
constexpr double kMassTol = 1e-10, kMomentTol = 1e-10;

void check_density_against_moments(const NetworkSpec& net) {
  CAPTURE(net.activation);
  CAPTURE(to_string(net.weights));
  CAPTURE(net.depth);
  const Spectrum sp = jacobian_spectrum(net, {.digits = 20});
  CHECK(std::abs(sp.integrated_mass() - sp.continuous_mass()) <= kMassTol);
  const auto exact = sp.moments(3);
  const auto md = sp.moments_from_density(3);
  for (int k = 0; k < 3; ++k) {
    CAPTURE(k + 1);
    const double ex = static_cast<double>(exact[k]);
    CHECK(std::abs(md[k] - ex) <= kMomentTol * ex);
  }
}
}  // namespace

TEST_CASE("spectra: smooth activations (tanh, erf, sigmoid): the density integrates to 1 and reproduces the exact moments") {
  // tanh (1.5, 0.05) is ordered (chi = 0.94); erf (2, 0.05) chaotic (chi = 1.15) with an attracting q_star.
  for (Weights w : {Weights::gaussian, Weights::orthogonal}) {
    for (int L : {1, 5, 20, 50})
      check_density_against_moments(
          {.activation = "tanh", .weight_variance = 1.5, .bias_variance = 0.05, .depth = L, .weights = w});
    for (int L : {1, 5, 20, 50})
      check_density_against_moments(
          {.activation = "erf", .weight_variance = 2, .bias_variance = 0.05, .depth = L, .weights = w});
    for (int L : {1, 50})
      check_density_against_moments(
          {.activation = "sigmoid", .weight_variance = 4, .bias_variance = 0.05, .depth = L, .weights = w});
  }
}

TEST_CASE("spectra: erf at depth 128, Gaussian weights (a tail spanning 10^4 units of log x)" * doctest::test_suite("slow")) {
  // ~15 s. The support edge is 5.7e10 (the crude bound of the solver is e^299: the edge search once stopped there),
  // and x rho(x) ~ x^0.002 down to x = e^-13000.
  check_density_against_moments({.activation = "erf", .weight_variance = 2, .bias_variance = 0.05, .depth = 128});
}

TEST_CASE("spectra: dynamical isometry (near-linear tanh, orthogonal weights, depth 32 and 128)") {
  // Pennington, Schoenholz & Ganguli's setting: sigma_w^2 = 1.05, sigma_b^2 = 2e-5 (q_star = 0.026, chi = 1). The law
  // of D^2 is close to a point mass, the spectrum of J J^T narrow (support edge 1.78 at depth 32); the density solver
  // must still reproduce the exact mass and moments.
  for (int L : {32, 128})
    check_density_against_moments({.activation = "tanh", .weight_variance = 1.05, .bias_variance = 2e-5, .depth = L,
                                   .weights = Weights::orthogonal});
}

TEST_CASE("spectra: orthogonal depth 1 is the push-forward of N(0, 1) by sigma^2 phi'(sqrt(q) z)^2") {
  // J J^T = sigma^2 D^2: for tanh, d(z) = sech^4(a z), a = sqrt(q_star); the roots of sigma^2 d(z) = x are
  // +-z0, z0 = acosh((sigma^2/x)^{1/4}) / a, and rho(x) = 2 phi(z0) / (sigma^2 |d'(z0)|), d' = -4 a sech^4 tanh.
  const double s2 = 1.5;
  const Spectrum sp = jacobian_spectrum(
      {.activation = "tanh", .weight_variance = s2, .bias_variance = 0.05, .depth = 1, .weights = Weights::orthogonal});
  const MeanField mf = mean_field("tanh", {.weight_variance = 1.5, .bias_variance = 0.05, .digits = 20});
  const double a = std::sqrt(static_cast<double>(mf.q_star));
  CHECK(sp.support().second == doctest::Approx(s2).epsilon(1e-15));
  for (double x : {1e-6, 0.01, 0.3, 0.9, 1.4, 1.5 * (1 - 1e-6)}) {
    CAPTURE(x);
    const double z0 = std::acosh(std::pow(s2 / x, 0.25)) / a;
    const double sech = 1 / std::cosh(a * z0);
    const double dd = 4 * a * std::pow(sech, 4) * std::tanh(a * z0);
    const double ref = 2 * std::exp(-0.5 * z0 * z0) / std::sqrt(2 * M_PI) / (s2 * dd);
    // The density is conditioned like b / (b - x) near the top edge b; at small x, phi' = 1 - tanh^2 is evaluated
    // with a cancellation (relative error ~1e-16 / sqrt(d), d = x / sigma^2) that phi(z0) amplifies by z0^2.
    const double tol = 1e-13 * (1 + s2 / (s2 - x)) + 1e-15 * z0 * z0 * std::sqrt(s2 / x);
    CHECK(std::abs(sp.density(x) - ref) <= tol * ref);
  }
  CHECK(sp.density(1.6) == 0.0);
}

TEST_CASE("spectra: Gaussian tanh at depth 1 against the Marchenko-Pastur equation solved off the axis") {
  // An independent route: J J^T = sigma^2 D W W^T D has the nonzero spectrum of X^T T X / N, T = sigma^2 D^2, whose
  // Stieltjes transform solves Silverstein's equation m = -(1/z) E[1 / (1 + t m)] (ratio 1). Solved by Newton at
  // z = x + i eps with a real-line trapezoidal rule in Z (smooth for eps > 0), eps = 0.04, 0.02, 0.01, 0.005, then
  // Richardson extrapolation to eps = 0 (the error is a series in eps): agreement to ~1e-6 is what this allows.
  const double s2 = 1.5;
  const MeanField mf = mean_field("tanh", {.weight_variance = 1.5, .bias_variance = 0.05, .digits = 20});
  const double a = std::sqrt(static_cast<double>(mf.q_star));
  std::vector<double> t, w;
  const int n = 4000;
  for (int i = -n; i <= n; ++i) {
    const double z = 10.0 * i / n, c = 1 / std::cosh(a * z);
    t.push_back(s2 * c * c * c * c);
    w.push_back(10.0 / n * std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI));
  }
  using C = std::complex<double>;
  auto solve = [&](C z, C m) {
    for (int it = 0; it < 100; ++it) {
      C e1 = 0, e2 = 0;
      for (std::size_t i = 0; i < t.size(); ++i) {
        const C r = 1.0 / (1.0 + t[i] * m);
        e1 += w[i] * r, e2 += w[i] * t[i] * r * r;
      }
      const C f = m + e1 / z, df = 1.0 - e2 / z, step = f / df;
      m -= step;
      if (std::abs(step) < 1e-15 * std::abs(m)) break;
    }
    return m;
  };
  const Spectrum sp = jacobian_spectrum({.activation = "tanh", .weight_variance = s2, .bias_variance = 0.05, .depth = 1});
  for (double x : {0.5, 1.5, 3.0}) {
    CAPTURE(x);
    C m = -1.0 / C(x, 2.0);
    for (double eps : {2.0, 1.0, 0.5, 0.25, 0.12, 0.08}) m = solve(C(x, eps), m);
    double rho[4];
    const double eps0 = 0.04;
    for (int k = 0; k < 4; ++k) {
      m = solve(C(x, eps0 / (1 << k)), m);
      rho[k] = m.imag() / M_PI;
    }
    // Richardson on h, h/2, h/4, h/8 for an error c1 h + c2 h^2 + c3 h^3
    double r1[3], r2[2];
    for (int k = 0; k < 3; ++k) r1[k] = 2 * rho[k + 1] - rho[k];
    for (int k = 0; k < 2; ++k) r2[k] = (4 * r1[k + 1] - r1[k]) / 3;
    const double ref = (8 * r2[1] - r2[0]) / 7;
    CHECK(std::abs(sp.density(x) - ref) <= 1e-6 * ref);
  }
}

TEST_CASE("spectra: bad input names the argument") {
  CHECK_THROWS_WITH_AS(jacobian_spectrum({.activation = "nope", .depth = 2}),
                       doctest::Contains("unknown name 'nope'"), invalid_argument);
  CHECK_THROWS_WITH_AS(jacobian_spectrum({.activation = "tanh", .depth = 0}), doctest::Contains("depth"),
                       invalid_argument);
  CHECK_THROWS_WITH_AS(jacobian_spectrum({.activation = "tanh", .weight_variance = -1, .depth = 2}),
                       doctest::Contains("weight_variance"), invalid_argument);
  CHECK_THROWS_WITH_AS(jacobian_spectrum({.activation = "tanh", .weight_variance = 1, .bias_variance = -0.5, .depth = 2}),
                       doctest::Contains("bias_variance"), invalid_argument);
  CHECK_THROWS_WITH_AS(jacobian_spectrum({.activation = "tanh", .depth = 2}, {.digits = 5}),
                       doctest::Contains("digits"), invalid_argument);
  CHECK_THROWS_WITH_AS(mean_field("tanh", {.weight_variance = std::nan("")}),
                       "mean_field: weight_variance must be finite and non-negative, got nan", invalid_argument);
  CHECK_THROWS_WITH_AS(mean_field("tanh", {.digits = 2000}), doctest::Contains("digits"), invalid_argument);
}

// tests/spectra/test_spectra.cpp — mean field, moments and densities of the Jacobian spectrum
// (netsor/spectra.hpp). References: the values stated in shared/MATH.md, closed forms (chi^L, Fuss-Catalan
// numbers, a point mass), and the density checked against the exact moments by quadrature.
#include "../precision.hpp"

#include <netsor/errors.hpp>
#include <netsor/spectra.hpp>

#include <doctest/doctest.h>

#include <boost/math/special_functions/binomial.hpp>

#include <cmath>

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

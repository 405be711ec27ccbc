// tests/spectra/test_spectra_widths.cpp — width ratios and input_variance in jacobian_spectrum (shared/MATH.md,
// "Rectangular layers"). References: the Marchenko-Pastur moments of one rectangular layer (closed form), and
// networks sampled here with rectangular Gaussian matrices (independent of the library's sampler).
#include "../precision.hpp"

#include <netsor/errors.hpp>
#include <netsor/spectra.hpp>

#include <doctest/doctest.h>

#include <Eigen/Dense>

#include <cmath>
#include <random>

using namespace netsor;

TEST_CASE("spectra: one rectangular linear layer is Marchenko-Pastur with ratio N_1/N_0") {
  // W is N_1 x N_0 with variance sigma^2/N_0: W W^T (size N_1) has moments sigma^{2k} sum_j Narayana(k, j) c^{j-1}
  // with c = N_1/N_0: m1 = s, m2 = s^2 (1 + c), m3 = s^3 (1 + 3c + c^2).
  for (const Rational& c : {Rational(1, 2), Rational(3, 1)}) {
    CAPTURE(c.str());
    const Rational s(3, 2);
    const Spectrum sp = jacobian_spectrum({.activation = "linear", .weight_variance = Param(s), .depth = 1,
                                           .width_ratios = {1, Param(c)}});
    const auto ex = sp.exact_moments(3);
    REQUIRE(ex);
    CHECK((*ex)[0] == s);
    CHECK((*ex)[1] == s * s * (1 + c));
    CHECK((*ex)[2] == s * s * s * (1 + 3 * c + c * c));
  }
}

namespace {
// Eigenvalue moments of J J^T for relu networks with widths n * ratios (Gaussian, fan-in variance), input N(0, v).
std::pair<double, double> sampled_moments(const std::vector<double>& ratios, double s2, double v, int n, int trials,
                                          std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> N01(0, 1);
  double m1 = 0, m2 = 0;
  for (int t = 0; t < trials; ++t) {
    std::vector<long> N;
    for (double r : ratios) N.push_back(std::lround(r * n));
    Eigen::VectorXd x(N[0]);
    for (long i = 0; i < N[0]; ++i) x(i) = std::sqrt(v) * N01(rng);
    Eigen::MatrixXd J = Eigen::MatrixXd::Identity(N[0], N[0]);
    for (std::size_t l = 1; l < N.size(); ++l) {
      Eigen::MatrixXd W(N[l], N[l - 1]);
      for (long j = 0; j < N[l - 1]; ++j)
        for (long i = 0; i < N[l]; ++i) W(i, j) = N01(rng) * std::sqrt(s2 / N[l - 1]);
      Eigen::VectorXd h = W * x;
      J = W * J;
      x.resize(N[l]);
      for (long i = 0; i < N[l]; ++i) {
        if (h(i) <= 0) J.row(i).setZero();
        x(i) = std::max(h(i), 0.0);
      }
    }
    const Eigen::MatrixXd JJ = J * J.transpose();
    const double tr1 = JJ.trace(), tr2 = (JJ * JJ).trace();
    m1 += tr1 / JJ.rows();
    m2 += tr2 / JJ.rows();
  }
  return {m1 / trials, m2 / trials};
}
}  // namespace

TEST_CASE("spectra: width ratios and input_variance against networks sampled with rectangular matrices") {
  const std::vector<double> ratios = {1.0, 2.0, 0.5, 1.5};
  const Spectrum sp = jacobian_spectrum({.activation = "relu", .weight_variance = 2, .depth = 3,
                                         .width_ratios = {1, 2, Param(Rational(1, 2)), Param(Rational(3, 2))}});
  const auto m = sp.moments(2);
  const auto [s1, s2] = sampled_moments(ratios, 2.0, 1.0, 300, 6, 11);
  CHECK(std::abs(s1 / static_cast<double>(m[0]) - 1) < 0.03);
  CHECK(std::abs(s2 / static_cast<double>(m[1]) - 1) < 0.08);
  // the relu law does not depend on the input variance; a smooth one does: tanh with input_variance 4 vs 0.25
  const Spectrum a = jacobian_spectrum({.activation = "tanh", .weight_variance = 1.5, .bias_variance = 0.05, .depth = 3,
                                        .input_variance = Param(4.0)});
  const Spectrum b = jacobian_spectrum({.activation = "tanh", .weight_variance = 1.5, .bias_variance = 0.05, .depth = 3,
                                        .input_variance = Param(0.25)});
  // m1 = prod_l sigma^2 E tanh'(sqrt(q_l) Z)^2 with q_1 = 1.5 v + 0.05, q_{l+1} = the variance map at q_l
  for (const auto& [sp2, v] : {std::pair{&a, 4.0}, std::pair{&b, 0.25}}) {
    CAPTURE(v);
    const MeanField mf = mean_field("tanh", {.weight_variance = 1.5, .bias_variance = 0.05, .digits = 30});
    precision_scope ps(40);
    Real q = Real("1.5") * Real(v) + Real("0.05"), prod = 1;
    for (int l = 0; l < 3; ++l) {
      prod *= Real("1.5") * mf.d2_moments(1, q)[0];
      q = mf.variance_map(q);
    }
    NETSOR_CHECK_DIGITS(sp2->moments(1)[0], prod, 25);
  }
  CHECK(static_cast<double>(a.moments(1)[0]) < static_cast<double>(b.moments(1)[0]));  // saturation shrinks chi
}

// tests/spectra/test_fisher.cpp — the Fisher information spectrum (netsor/spectra/spectrum.hpp, fisher_spectrum).
// References, each independent of the code under test: the mean sum_l qhat_{l-1} prod chi from the mean field
// alone; closed forms for linear layers (a point mass for orthogonal weights, a shifted Marchenko-Pastur law for
// Gaussian weights: Catalan numbers); the density (subordination chain + certified continuation) against the
// moments (S-transform series); and sampled networks (Theta built from the weights, no freeness assumed).
#include "../precision.hpp"

#include <netsor/errors.hpp>
#include <netsor/spectra.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

using namespace netsor;

TEST_CASE("fisher: the mean is sum_l qhat_{l-1} prod_{k=l}^{L-1} chi_k; L qhat at criticality") {
  // relu at sigma_w^2 = 2 (critical): qhat = v for every layer with input variance v, mean = L v exactly
  for (int L : {1, 2, 5, 12}) {
    CAPTURE(L);
    const Spectrum sp = fisher_spectrum({.activation = "relu", .weight_variance = 2, .depth = L,
                                         .input_variance = Param(Rational(3, 2))});
    const auto ex = sp.exact_moments(2);
    REQUIRE(ex);
    CHECK((*ex)[0] == Rational(3, 2) * L);
    CHECK(sp.kind() == "fisher");
  }
  // tanh at its fixed point: qhat = (q* - sigma_b^2)/sigma_w^2, chi from mean_field, 30 digits
  const int L = 6;
  for (Weights w : {Weights::gaussian, Weights::orthogonal}) {
    CAPTURE(to_string(w));
    const Spectrum sp = fisher_spectrum(
        {.activation = "tanh", .weight_variance = 1.5, .bias_variance = 0.05, .depth = L, .weights = w}, {.digits = 30});
    const auto m = sp.moments(2);
    const MeanField mf = mean_field("tanh", {.weight_variance = 1.5, .bias_variance = 0.05, .digits = 40});
    precision_scope ps(50);
    const Real qh = (mf.q_star - Real("0.05")) / Real("1.5");
    Real mean = 0;
    for (int l = 1; l <= L; ++l) mean += qh * pow(mf.chi, L - l);
    NETSOR_CHECK_DIGITS(m[0], mean, 30);
    CHECK(m[1] > m[0] * m[0]);
  }
}

TEST_CASE("fisher: linear layers — a point mass (orthogonal) and a shifted Marchenko-Pastur law (Gaussian)") {
  // Orthogonal: Theta_l = qhat_{l-1} I + sigma^2 Theta_{l-1}; qhat_l = sigma^2 qhat_{l-1} + sigma_b^2 (linear)
  const Rational s2(3, 2), b2(1, 4), v(2);
  const int L = 4;
  const Spectrum so = fisher_spectrum({.activation = "linear", .weight_variance = Param(s2), .bias_variance = Param(b2),
                                       .depth = L, .weights = Weights::orthogonal, .input_variance = Param(v)});
  Rational qh = v, theta = v;
  for (int l = 2; l <= L; ++l) {
    qh = s2 * qh + b2;
    theta = qh + s2 * theta;
  }
  const auto eo = so.exact_moments(4);
  REQUIRE(eo);
  Rational p = 1;
  for (int k = 0; k < 4; ++k) CHECK((*eo)[k] == (p *= theta));
  REQUIRE(so.atoms().size() == 1);
  CHECK(so.atoms()[0].exact_mass == Rational(1));
  CHECK(std::abs(so.atoms()[0].location - static_cast<double>(theta)) < 1e-12 * static_cast<double>(theta));

  // Gaussian, L = 2: Theta = qhat_1 I + sigma^2 qhat_0 W0 W0^T, W0 W0^T ~ MP(1) with Catalan moments
  const Spectrum sg = fisher_spectrum({.activation = "linear", .weight_variance = Param(s2), .bias_variance = Param(b2),
                                       .depth = 2, .input_variance = Param(v)});
  const Rational q1 = s2 * v + b2, c = s2 * v;
  const auto eg = sg.exact_moments(5);
  REQUIRE(eg);
  const long catalan[6] = {1, 1, 2, 5, 14, 42};
  for (int k = 1; k <= 5; ++k) {
    Rational mk = 0, ck = 1, qk = 1;
    for (int j = 0; j < k; ++j) qk *= q1;  // q1^k
    for (int j = 0; j <= k; ++j) {
      // binom(k, j) q1^{k-j} c^j Catalan_j
      long b = 1;
      for (int i = 0; i < j; ++i) b = b * (k - i) / (i + 1);
      Rational qkj = 1;
      for (int i = 0; i < k - j; ++i) qkj *= q1;
      mk += Rational(b) * qkj * ck * Rational(catalan[j]);
      ck *= c;
    }
    CHECK((*eg)[k - 1] == mk);
  }
}

TEST_CASE("fisher: the density integrates to the continuous mass and reproduces the moments (Gaussian weights)") {
  struct Case {
    const char* act;
    double s2;
    int L;
  };
  for (const Case c : {Case{"relu", 2, 3}, Case{"relu", 2, 10}, Case{"hard_tanh", 1.2, 3}, Case{"hard_tanh", 1.05, 5},
                       Case{"linear", 1, 5}}) {
    CAPTURE(std::string(c.act));
    CAPTURE(c.L);
    const Spectrum sp = fisher_spectrum(
        {.activation = c.act, .weight_variance = Param(c.s2), .depth = c.L, .input_variance = Param(1.0)});
    const double cm = sp.continuous_mass();
    CHECK(std::abs(sp.integrated_mass() - cm) < 1e-10);
    const auto m = sp.moments(3);
    const auto md = sp.moments_from_density(3);
    for (int k = 0; k < 3; ++k) CHECK(std::abs(md[k] / static_cast<double>(m[k]) - 1) < 1e-10);
    // the spectrum sits above qhat_{L-1} (Theta >= qhat_{L-1} I), the atom of the kernel of D_{L-1} there
    const auto [a, b] = sp.support();
    CHECK(a > 0);
    CHECK(b > a);
  }
}

TEST_CASE("fisher: relu, L = 2 — the atom at qhat_1 and the Marchenko-Pastur part in closed form") {
  // Theta = qhat_1 I + 2 qhat_0 W D W^T with D a projection of trace 1/2: W D W^T / (1/2) is Wishart with ratio 1/2,
  // so the continuous part is qhat_1 + 2 qhat_0 * MP(ratio 1/2, variance 1/2) on [ (1 - sqrt(1/2))^2, (1 + sqrt(1/2))^2 ].
  const Spectrum sp = fisher_spectrum({.activation = "relu", .weight_variance = 2, .depth = 2,
                                       .input_variance = Param(1.0)});
  REQUIRE(sp.atoms().size() == 1);
  CHECK(sp.atoms()[0].exact_mass == Rational(1, 2));
  CHECK(sp.atoms()[0].location == doctest::Approx(1.0).epsilon(1e-14));
  const auto [a, b] = sp.support();
  // W D W^T: eigenvalues of (1/n) G P G^T, P rank n/2: MP with ratio y = 1/2, edges (1 -+ sqrt(y))^2 ... scaled by 1
  const double y = 0.5, lo = 1 + 2 * (1 - std::sqrt(y)) * (1 - std::sqrt(y)), hi = 1 + 2 * (1 + std::sqrt(y)) * (1 + std::sqrt(y));
  CHECK(std::abs(a - lo) < 1e-12);
  CHECK(std::abs(b - hi) < 1e-12);
  // the MP density of (1/n) G P G^T: mass 1/2 continuous, rho(t) = sqrt((t_+ - t)(t - t_-)) / (2 pi t) for t in
  // [t_-, t_+] (the law of (1/n) G_{n x n/2} G^T: ratio 1/2, it has an atom 1/2 at 0)
  for (double t : {0.2, 0.9, 1.7, 2.6}) {
    const double tm = (1 - std::sqrt(y)) * (1 - std::sqrt(y)), tp = (1 + std::sqrt(y)) * (1 + std::sqrt(y));
    const double rho_t = std::sqrt((tp - t) * (t - tm)) / (2 * M_PI * t);
    const double x = 1 + 2 * t;
    CAPTURE(t);
    CHECK(std::abs(sp.density(x) - rho_t / 2) < 1e-12);
  }
}

TEST_CASE("fisher: moments against sampled networks (hard_tanh and relu, Gaussian and orthogonal)") {
  // shared/MATH.md: the derivation matches a simulated hard-tanh network (sigma_w^2 = 1.2, L = 3, n = 1000) to 1%.
  struct Case {
    const char* act;
    double s2;
    Weights w;
  };
  for (const Case c : {Case{"hard_tanh", 1.2, Weights::gaussian}, Case{"hard_tanh", 1.2, Weights::orthogonal},
                       Case{"relu", 2, Weights::gaussian}, Case{"relu", 2, Weights::orthogonal}}) {
    CAPTURE(std::string(c.act));
    CAPTURE(std::string(to_string(c.w)));
    const NetworkSpec net{.activation = c.act, .weight_variance = Param(c.s2), .depth = 3, .weights = c.w,
                          .input_variance = Param(1.0)};
    const auto m = fisher_spectrum(net).moments(2);
    // per-trial moments: a single input makes qhat_l = |x^l|^2 / n fluctuate by O(n^-1/2) from trial to trial,
    // so the rule is statistical: within 4 standard errors of the mean over trials (and those errors small)
    const int trials = 24;
    const auto ev = sample_fisher_spectrum(net, {.n = 400, .trials = trials, .seed = 7});
    for (int k = 1; k <= 2; ++k) {
      std::vector<double> per;
      for (const auto& tr : ev) {
        double s = 0;
        for (double e : tr) s += std::pow(e, k);
        per.push_back(s / tr.size());
      }
      const double mean = std::accumulate(per.begin(), per.end(), 0.0) / trials;
      double var = 0;
      for (double x : per) var += (x - mean) * (x - mean);
      const double se = std::sqrt(var / (trials - 1) / trials), ref = static_cast<double>(m[k - 1]);
      CAPTURE(k);
      CAPTURE(mean);
      CAPTURE(ref);
      CAPTURE(se);
      CHECK(std::abs(mean - ref) <= 4 * se + 0.01 * ref);  // 1%: the O(1/n) bias at n = 400
      CHECK(se < 0.06 * ref);  // the rule has power: a 25% error in the limit would fail it
    }
  }
}

TEST_CASE("fisher: bad input and what is not available gets a clear error") {
  CHECK_THROWS_WITH_AS(fisher_spectrum({.activation = "relu", .weight_variance = 2, .depth = 0}),
                       doctest::Contains("depth"), invalid_argument);
  CHECK_THROWS_WITH_AS(fisher_spectrum({.activation = "relu", .weight_variance = 2, .depth = 2,
                                        .width_ratios = {1, Param(Rational(1, 2)), 1}}),
                       doctest::Contains("equal widths"), invalid_argument);
  CHECK_THROWS_WITH_AS(fisher_spectrum({.activation = "relu", .weight_variance = 1, .depth = 3}),
                       doctest::Contains("q_star = 0"), invalid_argument);
  CHECK_THROWS_WITH_AS(fisher_spectrum({.activation = "relu", .weight_variance = 2, .depth = 2,
                                        .input_variance = Param(-1.0)}),
                       doctest::Contains("input_variance"), invalid_argument);
  const Spectrum t = fisher_spectrum({.activation = "tanh", .weight_variance = 1.5, .bias_variance = 0.05, .depth = 3});
  CHECK(t.moments(3).size() == 3);
  CHECK_THROWS_WITH_AS(t.support(), doctest::Contains("moments are exact"), convergence_error);
}

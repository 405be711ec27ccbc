// Tests of the free-probability toolkit: exact identities in Rational, Real and double versions, laws.
#include <netsor/free.hpp>

#include "precision.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace netsor;

namespace {
Integer binom(unsigned n, unsigned k) {
  Integer r = 1;
  for (unsigned i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return r;
}
}  // namespace

TEST_CASE("non-crossing partitions: Catalan many, Kreweras complement has k + 1 - |p| blocks") {
  for (int k = 1; k <= 9; ++k) {
    CAPTURE(k);
    const auto nc = free::noncrossing_partitions(k);
    CHECK(Integer(nc.size()) == binom(2 * k, k) / (k + 1));
    for (const auto& p : nc) {
      const auto kp = free::kreweras_complement(p);
      CHECK(free::block_count(kp) == k + 1 - free::block_count(p));
      CHECK(free::is_noncrossing(kp));
    }
  }
  CHECK_THROWS_AS(free::noncrossing_partitions(13), invalid_argument);
}

TEST_CASE("semicircle free cumulants are (0, 1, 0, 0, ...) and free Poisson cumulants equal its rate") {
  const auto k = free::free_cumulants(free::Semicircle{.variance = 1}.moments<Rational>(40));
  for (int i = 0; i < 40; ++i) CHECK(k[i] == (i == 1 ? 1 : 0));
  for (const Rational& lambda : {Rational(1, 2), Rational(2), Rational(3, 7)}) {
    // free Poisson of rate r, jump 1 = MarchenkoPastur{ratio 1/r, variance r}: kappa_n = r for all n
    const Rational rate = 1 / lambda;
    const auto c = free::free_cumulants(free::MarchenkoPastur{.ratio = lambda, .variance = rate}.moments<Rational>(25));
    for (const auto& v : c) CHECK(v == rate);
    // and MATH.md's normalization: variance 1 gives kappa_k = lambda^{k-1}
    const auto c1 = free::free_cumulants(free::MarchenkoPastur{.ratio = lambda}.moments<Rational>(10));
    Rational lp = 1;
    for (const auto& v : c1) {
      CHECK(v == lp);
      lp *= lambda;
    }
  }
}

TEST_CASE("cumulants -> moments -> cumulants is the identity in Q") {
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> num(-20, 20), den(1, 9);
  std::vector<Rational> m(30);
  for (auto& v : m) v = Rational(num(gen), den(gen));
  CHECK(free::free_cumulants(free::moments_from_cumulants(m)) == m);
  CHECK(free::moments_from_cumulants(free::free_cumulants(m)) == m);
}

TEST_CASE("free convolutions: Fuss–Catalan and semicircles") {
  const auto mp = free::MarchenkoPastur{}.moments<Rational>(6);
  const auto fc = free::free_multiplicative_convolution(mp, mp);
  const int fuss[] = {1, 3, 12, 55, 273, 1428};
  for (int i = 0; i < 6; ++i) CHECK(fc[i] == fuss[i]);
  // three factors: Fuss–Catalan of order 3, binom(4k, k)/(3k + 1)
  const auto fc3 = free::free_multiplicative_convolution(fc, free::MarchenkoPastur{}.moments<Rational>(12));
  for (unsigned k = 1; k <= 6; ++k) CHECK(fc3[k - 1] == Rational(binom(4 * k, k), Integer(3 * k + 1)));
  const auto s = free::free_additive_convolution(free::Semicircle{}.moments<Rational>(20),
                                                 free::Semicircle{}.moments<Rational>(20));
  CHECK(s == free::Semicircle{.variance = 2}.moments<Rational>(20));
  CHECK_THROWS_WITH_AS(free::free_multiplicative_convolution(free::Semicircle{}.moments<Rational>(4), mp),
                       "free_multiplicative_convolution: a first moment is 0; the S-transform needs m1 != 0",
                       invalid_argument);
  // S-transform of MP(ratio l): 1/(1 + l z)
  const auto st = free::s_transform(free::MarchenkoPastur{.ratio = Rational(1, 3)}.moments<Rational>(8));
  Rational pw = 1;
  for (const auto& c : st) {
    CHECK(c == pw);
    pw *= Rational(-1, 3);
  }
}

TEST_CASE("the Real and double versions agree with the exact ones") {
  precision_scope scope(60);
  const auto mq = free::MarchenkoPastur{.ratio = 0.5}.moments<Rational>(12);
  const auto mr = free::MarchenkoPastur{.ratio = 0.5}.moments<Real>(12);
  const auto kq = free::free_cumulants(mq);
  const auto kr = free::free_cumulants(mr);
  for (int i = 0; i < 12; ++i) NETSOR_CHECK_DIGITS(kr[i], to_real(kq[i]), 55);
  const auto md = free::MarchenkoPastur{.ratio = 0.5}.moments<double>(12);
  const auto fd = free::free_multiplicative_convolution(md, md);
  const auto fq = free::free_multiplicative_convolution(mq, mq);
  for (int i = 0; i < 12; ++i) CHECK(fd[i] == doctest::Approx(static_cast<double>(fq[i])).epsilon(1e-12));
}

TEST_CASE("laws: densities integrate to 1, match their moments and -Im G / pi") {
  const free::MarchenkoPastur laws[] = {{.ratio = 0.5}, {.ratio = 1}, {.ratio = 2, .variance = 3}};
  for (const auto& law : laws) {
    const auto [a, b] = law.support();
    // Gauss–Chebyshev-like midpoint rule on t in (0, pi), x = (a+b)/2 - (b-a)/2 cos t (absorbs the edges)
    const int n = 20000;
    double mass = 0, m1 = 0, m2 = 0;
    for (int i = 0; i < n; ++i) {
      const double t = M_PI * (i + 0.5) / n;
      const double x = (a + b) / 2 - (b - a) / 2 * std::cos(t), dx = (b - a) / 2 * std::sin(t) * M_PI / n;
      const double f = law.density(x) * dx;
      mass += f, m1 += x * f, m2 += x * x * f;
    }
    const auto m = law.moments<double>(3);
    CHECK(mass + law.atom() == doctest::Approx(1).epsilon(1e-6));
    CHECK(m1 == doctest::Approx(m[0]).epsilon(1e-6));
    CHECK(m2 == doctest::Approx(m[1]).epsilon(1e-6));
    const double x = a + 0.37 * (b - a);
    CHECK(-law.cauchy({x, 1e-9}).imag() / M_PI == doctest::Approx(law.density(x)).epsilon(1e-6));
    // G(z) = 1/z + m1/z^2 + m2/z^3 + O(z^-4) far away
    const std::complex<double> z(1e4, 1);
    // the remainder is about m3/|z|^4; allow twice that
    CHECK(std::abs(law.cauchy(z) - (1.0 / z + m[0] / (z * z) + m[1] / (z * z * z))) < 2 * m[2] / std::pow(std::abs(z), 4));
  }
  free::Semicircle sc{.variance = 2};
  CHECK(-sc.cauchy({0.3, 1e-9}).imag() / M_PI == doctest::Approx(sc.density(0.3)).epsilon(1e-6));
  free::Arcsine as;
  CHECK(-as.cauchy({0.3, 1e-9}).imag() / M_PI == doctest::Approx(as.density(0.3)).epsilon(1e-6));
  CHECK(free::Bernoulli{}.moments<Rational>(3) == std::vector<Rational>{Rational(1, 2), Rational(1, 2), Rational(1, 2)});
  CHECK_THROWS_WITH_AS(free::MarchenkoPastur{.ratio = -1}.moments<double>(3),
                       "MarchenkoPastur: ratio must be positive and finite, got -1", invalid_argument);
}

TEST_CASE("mixed moments of free a, b match shared/MATH.md's formulas, exactly") {
  // single-generator families with arbitrary rational moments a_k, b_k
  const std::vector<Rational> a = {Rational(1, 3), Rational(2, 5), Rational(-7, 2), Rational(11, 13)};
  const std::vector<Rational> b = {Rational(-3, 4), Rational(5, 6), Rational(9, 7), Rational(2, 9)};
  auto mom = [&](int f, const std::vector<int>& s) { return s.empty() ? Rational(1) : (f == 0 ? a : b)[s.size() - 1]; };
  auto word = [](const char* w) {
    std::vector<free::FreeLetter> out;
    for (const char* c = w; *c; ++c) out.push_back({*c == 'a' ? 0 : 1, 0});
    return out;
  };
  const Rational a1 = a[0], a2 = a[1], a3 = a[2], a4 = a[3], b1 = b[0], b2 = b[1], b3 = b[2];
  CHECK(free::mixed_moment_free<Rational>(word("ab"), mom) == a1 * b1);
  CHECK(free::mixed_moment_free<Rational>(word("aabb"), mom) == a2 * b2);
  CHECK(free::mixed_moment_free<Rational>(word("abab"), mom) == a2 * b1 * b1 + a1 * a1 * b2 - a1 * a1 * b1 * b1);
  CHECK(free::mixed_moment_free<Rational>(word("abaabb"), mom) == a3 * b1 * b2 + a1 * a2 * b3 - a1 * a2 * b1 * b2);
  CHECK(free::mixed_moment_free<Rational>(word("aabaab"), mom) == a4 * b1 * b1 + a2 * a2 * b2 - a2 * a2 * b1 * b1);
  CHECK(free::mixed_moment_free<Rational>(word("ababab"), mom) ==
        a3 * b1 * b1 * b1 + a1 * a1 * a1 * b3 + 3 * a1 * a2 * b1 * b2 - 3 * a1 * a2 * b1 * b1 * b1 -
            3 * a1 * a1 * a1 * b1 * b2 + 2 * a1 * a1 * a1 * b1 * b1 * b1);
}

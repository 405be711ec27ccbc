// Tests of exact Gaussian expectations of polynomials (Isserlis/Wick), against independent closed forms and
// against an explicit sum over perfect matchings.
#include <netsor/limit/wick.hpp>

#include "precision.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace netsor;
using detail::Polynomial;
using P = Polynomial<Rational>;

namespace {
// Isserlis by brute force: sum over perfect matchings of the list of variable indices.
Rational matchings(std::vector<int> idx, const std::vector<std::vector<Rational>>& s) {
  if (idx.empty()) return 1;
  if (idx.size() % 2) return 0;
  Rational r = 0;
  const int first = idx[0];
  for (std::size_t j = 1; j < idx.size(); ++j) {
    std::vector<int> rest;
    for (std::size_t k = 1; k < idx.size(); ++k)
      if (k != j) rest.push_back(idx[k]);
    r += s[first][idx[j]] * matchings(rest, s);
  }
  return r;
}
}  // namespace

TEST_CASE("E[x^(2k)] = (2k-1)!! s^k exactly, k up to 20") {
  const Rational s(3, 7);
  Rational dfact = 1, sk = 1;
  for (int k = 1; k <= 20; ++k) {
    dfact *= 2 * k - 1;
    sk *= s;
    CHECK(detail::wick_expectation(pow(P::variable(0), 2 * k), {{s}}) == dfact * sk);
    CHECK(detail::wick_expectation(pow(P::variable(0), 2 * k - 1), {{s}}) == 0);
  }
}

TEST_CASE("Isserlis for 4 and 6 variables agrees with the sum over perfect matchings") {
  // Sigma = A A^T with a fixed rational A: symmetric PSD.
  const int k = 4;
  std::vector<std::vector<Rational>> a = {{1, Rational(1, 2), 0, 2}, {Rational(-1, 3), 1, 1, 0},
                                          {0, Rational(2, 5), 1, Rational(1, 7)}, {1, 1, 1, 1}};
  std::vector<std::vector<Rational>> s(k, std::vector<Rational>(k, 0));
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j)
      for (int t = 0; t < k; ++t) s[i][j] += a[i][t] * a[j][t];
  const std::vector<std::vector<int>> cases = {{0, 1, 2, 3}, {0, 0, 1, 2}, {0, 1, 2, 3, 3, 1}, {2, 2, 2, 2, 0, 1}};
  for (const auto& idx : cases) {
    P p = P::constant(1);
    for (int i : idx) p = p * P::variable(i);
    CHECK(detail::wick_expectation(p, s) == matchings(idx, s));
  }
  // E[x^2 y^2] = s11 s22 + 2 s12^2
  CHECK(detail::wick_expectation(pow(P::variable(0), 2) * pow(P::variable(1), 2), s) ==
        s[0][0] * s[1][1] + 2 * s[0][1] * s[0][1]);
}

TEST_CASE("a singular covariance: x1 = 2 x0 exactly") {
  const std::vector<std::vector<Rational>> s = {{1, 2}, {2, 4}};
  // E[x1^2 x0^2] = E[4 x0^4] = 12
  CHECK(detail::wick_expectation(pow(P::variable(1), 2) * pow(P::variable(0), 2), s) == 12);
  // (x1 - 2 x0) is identically zero: its square has expectation 0
  CHECK(detail::wick_expectation(pow(P::variable(1) - P::constant(2) * P::variable(0), 2), s) == 0);
}

TEST_CASE("the Real version agrees with the exact one to 50 digits") {
  precision_scope scope(60);
  const std::vector<std::vector<Rational>> sq = {{2, Rational(1, 3)}, {Rational(1, 3), Rational(5, 4)}};
  std::vector<std::vector<Real>> sr = {{to_real(sq[0][0]), to_real(sq[0][1])}, {to_real(sq[1][0]), to_real(sq[1][1])}};
  P pq = pow(P::variable(0) + P::constant(Rational(1, 2)) * P::variable(1), 6) * P::variable(1) * P::variable(0);
  Polynomial<Real> pr = pow(Polynomial<Real>::variable(0) + Polynomial<Real>::constant(Real(1) / 2) * Polynomial<Real>::variable(1), 6) *
                        Polynomial<Real>::variable(1) * Polynomial<Real>::variable(0);
  NETSOR_CHECK_DIGITS(detail::wick_expectation(pr, sr), to_real(detail::wick_expectation(pq, sq)), 50);
}

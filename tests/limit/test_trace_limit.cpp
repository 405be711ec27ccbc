// Tests of infinite-width word traces: MP and semicircle moments, Haar unitaries, and the mixed-moment
// formulas of free a, b (shared/MATH.md) on programs where the Free Independence Principle applies — the
// diagonal matrices depend on W, yet {W, W^T} is free from them in the limit.
#include <netsor/netsor.hpp>

#include "precision.hpp"

#include <doctest/doctest.h>

using namespace netsor;

TEST_CASE("traces of words in one matrix: Marchenko–Pastur, semicircle and Haar moments, exactly") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = 2});
  Matrix S = p.wigner_matrix("S", n);
  Matrix O = p.orthogonal_matrix("O", n, {.variance = 3});
  Limit lim = limit(p, {.digits = 20});
  // (W W^T)^k/2^k has the MP(1) moments, the Catalan numbers 1, 2, 5, 14
  const int catalan[] = {1, 2, 5, 14};
  for (int k = 1; k <= 4; ++k) {
    CAPTURE(k);
    CHECK(*lim.trace(pow(W * W.T(), k)).exact == Rational(catalan[k - 1]) * Rational(1 << k));
    CHECK(*lim.trace(pow(Word(S), 2 * k)).exact == catalan[k - 1]);
    CHECK(*lim.trace(pow(Word(S), 2 * k - 1)).exact == 0);
  }
  CHECK(*lim.trace(W * W).exact == 0);          // circular: tau(c c) = 0
  CHECK(*lim.trace(O * O.T()).exact == 3);      // O^T O = variance * I
  CHECK(*lim.trace(O * O).exact == 0);          // Haar unitary: tau(u^2) = 0
  CHECK(*lim.trace(O * O.T() * O.T() * O).exact == 9);
  // free u, w: tau(u w u* w*) = tau(u u*) tau(w) tau(w*) + tau(u) tau(u*) tau(w w*) - ... = 0
  CHECK(*lim.trace(O * W * O.T() * W.T()).exact == 0);
  CHECK(*lim.trace(O * W * W.T() * O.T()).exact == 6);  // = tau(O^T O W W^T) = 3 * 2
}

TEST_CASE("the mixed moments of free a = W W^T and b = diag(h^2), h = W x, exactly (FIP)") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = (W * x).named("h");
  Vector y = (h * h).named("y");
  Limit lim = limit(p, {.digits = 20});
  const Word a = W * W.T(), b = diag(y);
  // a_k: MP(1) moments 1, 2, 5, 14; b_k = E h^{2k} = (2k-1)!!: 1, 3, 15 (independent closed forms)
  const Rational a1 = 1, a2 = 2, a3 = 5, a4 = 14, b1 = 1, b2 = 3, b3 = 15;
  CHECK(*lim.trace(a * b).exact == a1 * b1);
  CHECK(*lim.trace(a * a * b * b).exact == a2 * b2);
  CHECK(*lim.trace(a * b * a * b).exact == a2 * b1 * b1 + a1 * a1 * b2 - a1 * a1 * b1 * b1);
  CHECK(*lim.trace(a * b * a * a * b * b).exact == a3 * b1 * b2 + a1 * a2 * b3 - a1 * a2 * b1 * b2);
  CHECK(*lim.trace(a * a * b * a * a * b).exact == a4 * b1 * b1 + a2 * a2 * b2 - a2 * a2 * b1 * b1);
  CHECK(*lim.trace(a * b * a * b * a * b).exact ==
        a3 * b1 * b1 * b1 + a1 * a1 * a1 * b3 + 3 * a1 * a2 * b1 * b2 - 3 * a1 * a2 * b1 * b1 * b1 -
            3 * a1 * a1 * a1 * b1 * b2 + 2 * a1 * a1 * a1 * b1 * b1 * b1);
}

TEST_CASE("the free mixed moment with tanh: lim.trace against the formula, and sim.trace converging to it") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = (W * x).named("h");
  Vector y = tanh(h).named("y");
  Limit lim = limit(p, {.digits = 30});
  const Word a = W * W.T(), b = diag(y);
  // b's moments from the Master Theorem (lim.expect), a's from MP(1): an independent route to tau(abab)
  const Real b1 = lim.expect(y).value, b2 = lim.expect(y * y).value;  // b1 = 0 by symmetry
  const Real formula = 2 * b1 * b1 + b2 - b1 * b1;
  NETSOR_CHECK_CONTRACT(lim.trace(a * b * a * b).value, formula, 30);
  Simulation sim = simulate(p, {.n = 1024, .trials = 8, .seed = 4});
  const Stat s = sim.trace(a * b * a * b);
  const double want = static_cast<double>(formula);
  CAPTURE(s.mean);
  CAPTURE(want);
  CHECK(std::abs(s.mean - want) < 4 * s.error + 4.0 / 1024);  // statistical error plus an O(1/n) bias
}

TEST_CASE("lim.trace refuses what it does not cover") {
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", 2);
  Matrix V = p.gaussian_matrix("V", m, n);
  Limit lim = limit(p, {.digits = 20});
  CHECK_THROWS_WITH_AS(lim.trace(V * V.T()),
                       "Limit::trace: the letter V in V V^T is not m x m; infinite-width traces of words with "
                       "rectangular letters are not supported yet",
                       invalid_program);
  CHECK_THROWS_WITH_AS(lim.trace(Word(V)), "Limit::trace: the word V is m x n, not square", invalid_program);
}

TEST_CASE("degree 6: sim.trace of (ab)^3 and of ab a^2 b^2 approach lim.trace as n grows") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = (W * x).named("h");
  Vector y = (1 + tanh(h)).named("y");  // b1 != 0, so every term of the formulas is exercised
  Limit lim = limit(p, {.digits = 20});
  const Word a = W * W.T(), b = diag(y);
  for (const Word& w : {a * b * a * b * a * b, a * b * a * a * b * b}) {
    CAPTURE(w.to_string());
    const double l = static_cast<double>(lim.trace(w).value);
    double previous = 1e300;
    for (long width : {256L, 1024L}) {
      Simulation sim = simulate(p, {.n = width, .trials = 8, .seed = 9});
      const Stat s = sim.trace(w);
      CAPTURE(width);
      CAPTURE(s.mean);
      CAPTURE(l);
      // the deviation shrinks with n (bias O(1/n)) and ends within 4 SE plus a 1% allowance for that bias
      const double dev = std::abs(s.mean - l);
      CHECK(dev < std::max(previous, 4 * s.error));
      previous = dev;
      if (width == 1024) CHECK(dev < 4 * s.error + 0.01 * std::abs(l));
    }
  }
}

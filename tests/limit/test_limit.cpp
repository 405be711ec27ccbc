// Tests of the Master Theorem evaluator against independent references: closed forms, combinatorial
// identities, and python3-mpmath quadratures run separately (tests/limit/reference/limits_mpmath.py, values pasted
// to 70 digits, more than any test checks).
#include <netsor/limit.hpp>
#include <netsor/netsor.hpp>
#include <netsor/programs.hpp>

#include "precision.hpp"

#include <doctest/doctest.h>

using namespace netsor;

namespace {
Integer binomial(int n, int k) {
  Integer r = 1;
  for (int i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return r;
}
Rational catalan(int n) { return Rational(binomial(2 * n, n), Integer(n + 1)); }
// Moments of Marchenko–Pastur with ratio lambda: sum_{r=0}^{k-1} lambda^r/(r+1) binom(k,r) binom(k-1,r).
Rational narayana(int k, const Rational& lambda) {
  Rational s = 0, lp = 1;
  for (int r = 0; r < k; ++r) {
    s += lp * Rational(binomial(k, r) * binomial(k - 1, r), Integer(r + 1));
    lp *= lambda;
  }
  return s;
}
Real ref(const char* digits) {
  precision_scope s(80);
  return Real(digits);
}
}  // namespace

TEST_CASE("semicircle moments (1/n) v^T S^k v are exactly the Catalan numbers, k up to 40") {
  auto e = programs::semicircle(40);
  Limit lim = limit(e.program, {.digits = 30});
  for (int k = 1; k <= 40; ++k) {
    CAPTURE(k);
    Estimate m = lim[e.moments[k - 1]];
    REQUIRE(m.exact);
    CHECK(*m.exact == (k % 2 ? Rational(0) : catalan(k / 2)));
  }
}

TEST_CASE("Marchenko–Pastur moments are exactly the Narayana polynomials, ratios 1/2, 1, 2") {
  for (const Rational& lambda : {Rational(1, 2), Rational(1), Rational(2)}) {
    auto e = programs::marchenko_pastur(lambda, 12);
    Limit lim = limit(e.program, {.digits = 30});
    for (int k = 1; k <= 12; ++k) {
      CAPTURE(lambda.str());
      CAPTURE(k);
      Estimate m = lim[e.moments[k - 1]];
      REQUIRE(m.exact);
      CHECK(*m.exact == narayana(k, lambda));
    }
  }
}

TEST_CASE("MATH.md's worked example: (1/n) x^T W^T tanh(W x) -> E[tanh'(h)] to 50 digits") {
  auto e = programs::worked_example("tanh");
  Limit lim = limit(e.program, {.digits = 50});
  const Real tp = ref("0.6057055096021588255835402275558804394262092505776949023788767472311884");
  NETSOR_CHECK_DIGITS(lim[e.moments[0]].value, tp, 50);
  const Real gg = ref("0.7611736547602520916768959347796887564564646052123559653935824766784739");
  NETSOR_CHECK_DIGITS(lim[e.moments[1]].value, gg, 50);
  NETSOR_CHECK_DIGITS(lim[e.moments[2]].value, gg, 50);  // y.u/n has the same limit (MATH.md)
  CHECK_FALSE(lim[e.moments[0]].exact);
}

TEST_CASE("the relu worked example gives exactly 1/2 and 3/4 (to 50 digits through quadrature)") {
  auto e = programs::worked_example("relu");
  Limit lim = limit(e.program, {.digits = 50});
  NETSOR_CHECK_DIGITS(lim[e.moments[0]].value, Real(1) / 2, 50);
  NETSOR_CHECK_DIGITS(lim[e.moments[1]].value, Real(3) / 4, 50);
  NETSOR_CHECK_DIGITS(lim[e.moments[2]].value, Real(3) / 4, 50);
}

TEST_CASE("deep tanh MLP variances (sigma_w^2 = 3/2, sigma_b^2 = 1/20) to 50 digits") {
  auto e = programs::mlp("tanh", 3, 1.5, 0.05);
  Limit lim = limit(e.program, {.digits = 50});
  Estimate q1 = lim[e.moments[0]];
  REQUIRE(q1.exact);  // q1 = sigma_w^2 E x^2 + sigma_b^2 = 31/20 is polynomial, hence exact
  CHECK(*q1.exact == Rational(31, 20));
  NETSOR_CHECK_DIGITS(lim[e.moments[1]].value, ref("0.7613643224002772372594541071532553404193384821257166382098542279987124"), 50);
  NETSOR_CHECK_DIGITS(lim[e.moments[2]].value, ref("0.5679463997710602218356749387461232350055864950499208529680665889874708"), 50);
}

TEST_CASE("erf and relu kernels of correlated inputs against their closed forms, to 50 digits") {
  Program p;
  Dim n = p.dim("n");
  auto [a, b] = p.gaussian_vectors<2>({"a", "b"}, n, {{1, 0.5}, {0.5, 1}});
  Limit lim = limit(p, {.digits = 50});
  // (2/pi) asin(2 rho / (1 + 2)) and the arc-cosine kernel (sin t + (pi - t) cos t)/(2 pi), t = acos(1/2)
  NETSOR_CHECK_DIGITS(lim.expect(erf(a) * erf(b)).value,
                      ref("0.2163468959387854596582888815551381773667427011211994254241234039559972"), 50);
  NETSOR_CHECK_DIGITS(lim.expect(relu(a) * relu(b)).value,
                      ref("0.3044988905221146790444982912449090270160132867583268298665081717394242"), 50);
}

TEST_CASE("a Moment feeding a later nonlinearity, to 50 digits") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = 2});
  Vector x = p.gaussian_vector("x", n);
  Vector h = W * x;
  Scalar s = p.moment("s", tanh(h) * tanh(h));
  Vector y = tanh(s * h + 0.5);
  Scalar t = p.moment("t", y * y);
  Limit lim = limit(p, {.digits = 50});
  NETSOR_CHECK_DIGITS(lim[s].value, ref("0.5199757456639486235318157735445355492858356356027947089355090252568224"), 50);
  NETSOR_CHECK_DIGITS(lim[t].value, ref("0.3588404915834733095745794877288635780061443303577869162998463376149606"), 50);
}

TEST_CASE("E[tanh(z)^2] from 15 to 300 digits") {
  Program p;
  Dim n = p.dim("n");
  Vector z = p.gaussian_vector("z", n);
  // E tanh^2 = 1 - E tanh' (the two are computed independently by netsor; the reference comes from mpmath)
  const Real r = ref("0.3942944903978411744164597724441195605737907494223050976211232527688116");
  for (unsigned d : {15u, 30u, 60u}) {
    CAPTURE(d);
    Limit lim = limit(p, {.digits = d});
    NETSOR_CHECK_DIGITS(lim.expect(tanh(z) * tanh(z)).value, r, d);
  }
  precision_scope scope(320);
  Limit lim = limit(p, {.digits = 300});
  const Real v = lim.expect(tanh(z) * tanh(z)).value;
  const Real w = lim.expect(1 - tanh(z) * tanh(z)).value;
  NETSOR_CHECK_DIGITS(v + w, Real(1), 299);
  NETSOR_CHECK_DIGITS(v, r, 69);
}

TEST_CASE("every catalogue program agrees with itself at 30 and 60 digits") {
  for (const auto& name : programs::catalogue()) {
    CAPTURE(name);
    auto e = programs::make_program(name);
    Limit l30 = limit(e.program, {.digits = 30});
    Limit l60 = limit(e.program, {.digits = 60});
    for (const auto& m : e.moments) {
      CAPTURE(m.name());
      NETSOR_CHECK_CONTRACT(l30[m].value, l60[m].value, 30);
    }
  }
}

TEST_CASE("limits that are not covered, or bad options, are refused with a clear message") {
  Program p;
  Dim n = p.dim("n");
  Matrix O = p.orthogonal_matrix("O", n);
  Vector x = p.gaussian_vector("x", n);
  Vector y = (O * x).named("y");
  Vector z = tanh(y).named("z");
  Vector w = (O * z).named("w");
  (void)w;
  CHECK_THROWS_WITH_AS(limit(p), "limit: w = O * z: 'z' depends on the Haar orthogonal matrix O; the limit is covered only for orthogonal matrices applied to vectors independent of them", invalid_program);
  Program q;
  Dim nq = q.dim("n");
  Matrix Oq = q.orthogonal_matrix("O", nq);
  Vector xq = q.gaussian_vector("x", nq);
  Vector t = (Oq.T() * xq).named("t");
  (void)t;
  CHECK_THROWS_WITH_AS(limit(q), "limit: t = O^T * x: the limit of a Haar orthogonal transpose is covered only as O^T (O h) = h; here 'x' is not a product by O", invalid_program);
  CHECK_THROWS_WITH_AS(limit(q, {.digits = 5}), "limit: digits must be between 15 and 1000, got 5", invalid_argument);
  CHECK_THROWS_WITH_AS(limit(q, {.digits = 5000}), "limit: digits must be between 15 and 1000, got 5000", invalid_argument);
}

TEST_CASE("Haar orthogonal: forward use and O^T O = I") {
  Program p;
  Dim n = p.dim("n");
  Matrix O = p.orthogonal_matrix("O", n, {.variance = 2});
  Vector x = p.gaussian_vector("x", n);
  Vector y = O * x;
  Vector back = O.T() * y;
  Scalar a = p.moment("a", y * y), b = p.moment("b", back * x), c = p.moment("c", tanh(y) * tanh(y));
  Limit lim = limit(p, {.digits = 30});
  CHECK(*lim[a].exact == 2);
  CHECK(*lim[b].exact == 2);
  // tanh(y) with y ~ N(0, 2): same as the Moment s of the feedback test
  NETSOR_CHECK_DIGITS(lim[c].value, ref("0.5199757456639486235318157735445355492858356356027947089355090252568224"), 30);
}

TEST_CASE("the finite-width simulation at n = 4096 agrees with the limit within 4 standard errors") {
  for (const auto& name : programs::catalogue()) {
    CAPTURE(name);
    auto e = programs::make_program(name);
    Limit lim = limit(e.program, {.digits = 20});
    Simulation sim = simulate(e.program, {.n = 4096, .trials = 16, .seed = 17});
    for (const auto& m : e.moments) {
      CAPTURE(m.name());
      const double l = static_cast<double>(lim[m].value);
      const Stat s = sim[m];
      CAPTURE(l);
      CAPTURE(s.mean);
      CAPTURE(s.error);
      CHECK(std::abs(s.mean - l) < 4 * s.error + 1e-12);
    }
  }
}

TEST_CASE("the evaluator's fast paths on 2-D kernels against direct mpmath quadrature, to 40 digits") {
  // References: tests/limit/reference/kernels_mpmath.py (mpmath quad at 50 digits, no netsor code involved).
  // The 3-layer tanh kernel walks even integrands on half a line and updates exponentials along the lattice;
  // the nearly parallel pair has a strip 22 times wider than tanh's; the shifted integrands are not even.
  auto e = programs::kernel("tanh", 3, 1.5, 0.05, 0.5);
  Limit lim = limit(e.program, {.digits = 40});
  NETSOR_CHECK_DIGITS(lim[e.moments[0]].value, ref("0.226121301293433033533125822564447570789918194255"), 40);
  NETSOR_CHECK_DIGITS(lim[e.moments[1]].value, ref("0.169027319958265183741929152565454983203123143757"), 40);
  NETSOR_CHECK_DIGITS(lim[e.moments[2]].value, ref("0.152676314640805370594096233894706067586070518617"), 40);

  Program p;
  Dim n = p.dim("n");
  auto [u, v] = p.gaussian_vectors<2>({"u", "v"}, n, {{1, 0.5}, {0.5, 1}});
  auto [a, b] = p.gaussian_vectors<2>({"a", "b"}, n, {{1, 0.999}, {0.999, 1}});
  Limit l2 = limit(p, {.digits = 40});
  NETSOR_CHECK_DIGITS(l2.expect(tanh(a) * tanh(b)).value,
                      ref("0.393830237424896510313348703090625827762755042844"), 40);
  NETSOR_CHECK_DIGITS(l2.expect(sigmoid(u + 0.5) * exp(v / 4)).value,
                      ref("0.646541444749333067805939939966538043523514216283"), 40);
  NETSOR_CHECK_DIGITS(l2.expect(tanh(u) * tanh(v + Rational(1, 3))).value,
                      ref("0.180009234317560257779036446725695131483465808923"), 40);
}

// Tests of the Gaussian expectation engine (limit/gaussian_quadrature.hpp) against independent references:
// moments and closed forms evaluated by MPFR at the working precision (erfc, asin, ...), and python3-mpmath
// quadratures run separately at more digits than any test checks (the commands are next to the values).
// Besides agreement to the target digits, every case checks that the reported error bounds the true one.
#include <netsor/errors.hpp>
#include <netsor/limit/gaussian_quadrature.hpp>

#include "precision.hpp"

#include <doctest/doctest.h>
#include <boost/math/constants/constants.hpp>

#include <array>
#include <functional>
#include <memory>
#include <utility>
#include <string>
#include <vector>

using namespace netsor;
using netsor::detail::gaussian_expectation;
using netsor::detail::GaussianIntegrand;
using netsor::detail::Kink;
using netsor::detail::QuadratureOptions;
using netsor::detail::QuadratureResult;

namespace {

// Guard digits of the working precision above the target, as the limit evaluator uses them (at least).
constexpr unsigned kGuard = 10;

// E[tanh(Z)^2], Z ~ N(0,1), to 335 digits:
//   python3 -c "import mpmath as mp; mp.mp.dps=340; print(mp.nstr(mp.quad(lambda z: mp.tanh(z)**2*mp.exp(-z*z/2),
//   [-mp.inf,0,mp.inf])/mp.sqrt(2*mp.pi), 335))"
const char* const kTanh2 =
    "0.39429449039784117441645977244411956057379074942230509762112325276881158375169204467208024874671536"
    "59386263771226016323115940557186836524075005875061243270166742991385547593014639654951360523141065747"
    "42696099821354967821527298489800399231083442814826062270727596414313689589419408031912873151262832945"
    "41015866020582470344693129476222759";
// E[tanh(Z1) tanh(0.6 Z1 + 0.8 Z2)] to 58 digits:
//   python3 -c "import mpmath as mp; mp.mp.dps=60; c,s=mp.mpf(3)/5,mp.mpf(4)/5; print(mp.nstr(mp.quad(lambda x,y:
//   mp.tanh(x)*mp.tanh(c*x+s*y)*mp.exp(-(x*x+y*y)/2),[-mp.inf,0,mp.inf],[-mp.inf,0,mp.inf])/(2*mp.pi), 58))"
const char* const kTanhTanh2d = "0.2252221535268836561140057494480209601939644881409437982377";

Real pi() { return boost::math::constants::pi<Real>(); }

// Runs the engine at `digits` and checks the value against `ref` to `digits` digits, convergence, and that the
// reported error bounds the actual one.
QuadratureResult check(const GaussianIntegrand& g, unsigned digits, const Real& ref, QuadratureOptions opt = {}) {
  opt.digits = digits;
  const QuadratureResult r = gaussian_expectation(g, opt);
  CHECK(r.converged);
  CHECK(r.digits_reached >= digits);
  NETSOR_CHECK_DIGITS(r.value, ref, digits);
  INFO("error " << to_string(r.error, 5) << " actual " << to_string(abs(r.value - ref), 5));
  CHECK(abs(r.value - ref) <= r.error);
  return r;
}

GaussianIntegrand one_d(std::function<Real(const Real&)> f, std::vector<Kink> kinks = {}) {
  GaussianIntegrand g;
  g.dim = 1;
  g.f = [f = std::move(f)](const Real* z) { return f(z[0]); };
  g.kinks = std::move(kinks);
  return g;
}

Real relu(const Real& x) { return x > 0 ? x : Real(0); }

// An orthogonal 3x3 matrix (a scaled integer matrix), so u = Q z is again N(0, I_3). Built inside the caller's
// precision scope: thirds rounded at a lower precision would make Q orthogonal only to that precision.
std::array<std::array<Real, 3>, 3> rotation() {
  return {{{Real(2) / 3, Real(1) / 3, Real(2) / 3},
           {Real(-2) / 3, Real(2) / 3, Real(1) / 3},
           {Real(1) / 3, Real(2) / 3, Real(-2) / 3}}};
}

}  // namespace

TEST_SUITE_BEGIN("gaussian_quadrature");

TEST_CASE("Gaussian moments E[z^2] = 1 and E[z^4] = 3 to 50 digits") {
  precision_scope scope(50 + kGuard);
  check(one_d([](const Real& z) { return Real(z * z); }), 50, Real(1));
  check(one_d([](const Real& z) { return Real(z * z * z * z); }), 50, Real(3));
}

TEST_CASE("E[tanh(z)^2] against mpmath at 50 and 300 digits") {
  for (unsigned digits : {50u, 300u}) {
    CAPTURE(digits);
    precision_scope scope(digits + kGuard);
    check(one_d([](const Real& z) {
            const Real t = tanh(z);
            return Real(t * t);
          }),
          digits, Real(kTanh2));
  }
}

TEST_CASE("E[tanh'(z)] = 0.60570550960215882558... (shared/MATH.md) and 1 - E[tanh^2] to 60 digits") {
  precision_scope scope(60 + kGuard);
  const auto g = one_d([](const Real& z) {
    const Real s = 1 / cosh(z);
    return Real(s * s);
  });
  const QuadratureResult r = check(g, 60, 1 - Real(kTanh2));
  NETSOR_CHECK_DIGITS(r.value, Real("0.60570550960215882558"), 20);
}

TEST_CASE("kinked 1-D integrands reach full precision: relu, relu^2, step (50 and 200 digits)") {
  for (unsigned digits : {50u, 200u}) {
    CAPTURE(digits);
    precision_scope scope(digits + kGuard);
    const std::vector<Kink> at0 = {Kink{{Real(1)}, Real(0)}};
    check(one_d([](const Real& z) { return relu(z); }, at0), digits, 1 / sqrt(2 * pi()));
    check(one_d([](const Real& z) { return Real(relu(z) * relu(z)); }, at0), digits, Real(1) / 2);
    const Real a = Real(3) / 10;
    check(one_d([a](const Real& z) { return z > a ? Real(1) : Real(0); }, {Kink{{Real(1)}, a}}), digits,
          erfc(a / sqrt(Real(2))) / 2);
    // |z - 1.7| with its kink off the centre: E = 2 phi(a) + a (2 Phi(a) - 1), a = 1.7
    const Real b = Real(17) / 10;
    const Real phi = exp(-b * b / 2) / sqrt(2 * pi()), Phi = erfc(-b / sqrt(Real(2))) / 2;
    check(one_d([b](const Real& z) { return Real(abs(z - b)); }, {Kink{{Real(1)}, b}}), digits,
          2 * phi + b * (2 * Phi - 1));
  }
}

TEST_CASE("integrands that cancel or grow: E[tanh z] = 0 converges, E[exp(3z)] = exp(9/2)") {
  precision_scope scope(50 + kGuard);
  const QuadratureResult odd = gaussian_expectation(one_d([](const Real& z) { return tanh(z); }), {.digits = 50});
  CHECK(odd.converged);
  CHECK(abs(odd.value) <= odd.error + odd.magnitude * pow(Real(10), -50));
  // The terms peak at z = 3 and fall below the tolerance only near z = 3 + 15.2: truncation follows them.
  check(one_d([](const Real& z) { return exp(3 * z); }), 50, exp(Real(9) / 2));
}

TEST_CASE("2-D relu arc-cosine kernel E[relu(z1) relu(c z1 + s z2)] = (sin t + (pi - t) cos t) / (2 pi)") {
  precision_scope scope(50 + kGuard);
  for (double td : {0.3, 1.2, 2.5}) {
    CAPTURE(td);
    const Real t = td, c = cos(t), s = sin(t);
    GaussianIntegrand g;
    g.dim = 2;
    g.f = [c, s](const Real* z) { return Real(relu(z[0]) * relu(c * z[0] + s * z[1])); };
    g.kinks = {Kink{{Real(1), Real(0)}, Real(0)}, Kink{{c, s}, Real(0)}};
    check(g, 50, (sin(t) + (pi() - t) * cos(t)) / (2 * pi()));
  }
}

TEST_CASE("2-D kinks that cross off the origin: E[relu(z1 - 1/2) step(z1 + z2 - 1/5)] by a 1-D route") {
  precision_scope scope(40 + kGuard);
  const Real a = Real(1) / 2, b = Real(1) / 5;
  GaussianIntegrand g;
  g.dim = 2;
  g.f = [a, b](const Real* z) { return z[0] + z[1] > b ? relu(z[0] - a) : Real(0); };
  g.kinks = {Kink{{Real(1), Real(0)}, a}, Kink{{Real(1), Real(1)}, b}};
  // Integrating z2 out: E_z1[relu(z1 - a) Phi(z1 - b)], a 1-D integral with one kink.
  Real ref;
  {
    precision_scope more(60 + kGuard);
    const Real am = a, bm = b;
    ref = gaussian_expectation(
              one_d([am, bm](const Real& z) { return Real(relu(z - am) * erfc((bm - z) / sqrt(Real(2))) / 2); },
                    {Kink{{Real(1)}, am}}),
              {.digits = 60})
              .value;
  }
  check(g, 40, ref);
}

TEST_CASE("2-D inner breakpoints that collide: E[relu(z1 + z2 - 1/5) step(z1 - z2 - 1/2)] factorizes") {
  // The inner line (over z2) is cut at 1/5 - z1 and z1 - 1/2, which collide at z1 = 7/20: the outer line must be
  // cut there too. In u = (z1 + z2)/sqrt 2, v = (z1 - z2)/sqrt 2 (independent) the expectation is
  // sqrt 2 E[(u - a)+] P(v > b) = sqrt 2 (phi(a) - a Phi(-a)) erfc(b / sqrt 2) / 2, a = 1/(5 sqrt 2), b = 1/(2 sqrt 2).
  precision_scope scope(50 + kGuard);
  GaussianIntegrand g;
  g.dim = 2;
  g.f = [](const Real* z) { return z[0] - z[1] > Real(1) / 2 ? relu(z[0] + z[1] - Real(1) / 5) : Real(0); };
  g.kinks = {Kink{{Real(1), Real(1)}, Real(1) / 5}, Kink{{Real(1), Real(-1)}, Real(1) / 2}};
  const Real r2 = sqrt(Real(2)), a = 1 / (5 * r2), b = 1 / (2 * r2);
  const Real phi = exp(-a * a / 2) / sqrt(2 * pi()), Phi_minus = erfc(a / r2) / 2;
  check(g, 50, r2 * (phi - a * Phi_minus) * erfc(b / r2) / 2);
}

TEST_CASE("2-D E[erf(a.z) erf(b.z)] = (2/pi) asin(2 a.b / sqrt((1 + 2|a|^2)(1 + 2|b|^2))) at 30 digits") {
  precision_scope scope(30 + kGuard);
  const Real a0 = Real(3) / 10, a1 = Real(-7) / 10, b0 = Real(11) / 10, b1 = Real(2) / 5;
  GaussianIntegrand g;
  g.dim = 2;
  g.f = [=](const Real* z) { return Real(erf(a0 * z[0] + a1 * z[1]) * erf(b0 * z[0] + b1 * z[1])); };
  const Real ab = a0 * b0 + a1 * b1, aa = a0 * a0 + a1 * a1, bb = b0 * b0 + b1 * b1;
  check(g, 30, 2 / pi() * asin(2 * ab / sqrt((1 + 2 * aa) * (1 + 2 * bb))));
}

TEST_CASE("2-D E[tanh(z1) tanh(0.6 z1 + 0.8 z2)] against mpmath at 50 digits, on one and two threads") {
  precision_scope scope(50 + kGuard);
  GaussianIntegrand g;
  g.dim = 2;
  g.f = [](const Real* z) { return Real(tanh(z[0]) * tanh(z[0] * 3 / 5 + z[1] * 4 / 5)); };
  const QuadratureResult one = check(g, 50, Real(kTanhTanh2d));
  const QuadratureResult two = check(g, 50, Real(kTanhTanh2d), {.threads = 2});
  CHECK(one.value == two.value);  // the same nodes in the same order per half: bit-identical
  CHECK(one.evaluations == two.evaluations);
}

TEST_CASE("3-D: a rotated product factorizes, E[tanh(u1)^2 tanh(u2)^2 exp(-u3^2)] = E[tanh^2]^2 / sqrt 3") {
  precision_scope scope(15 + kGuard);
  const auto q = rotation();
  GaussianIntegrand g;
  g.dim = 3;
  g.f = [q](const Real* z) {
    Real u[3];
    for (int i = 0; i < 3; ++i) u[i] = q[i][0] * z[0] + q[i][1] * z[1] + q[i][2] * z[2];
    const Real a = tanh(u[0]), b = tanh(u[1]);
    return Real(a * a * b * b * exp(-u[2] * u[2]));
  };
  const Real t2 = Real(kTanh2);
  check(g, 15, t2 * t2 / sqrt(Real(3)), {.threads = 2});
}

TEST_CASE("3-D kinks: E[relu(u1) relu(u2) relu(u3)] = (2 pi)^(-3/2) for u = Q z, three planes through 0") {
  precision_scope scope(12 + kGuard);
  const auto q = rotation();
  GaussianIntegrand g;
  g.dim = 3;
  g.f = [q](const Real* z) {
    Real p = 1;
    for (int i = 0; i < 3; ++i) p *= relu(q[i][0] * z[0] + q[i][1] * z[1] + q[i][2] * z[2]);
    return p;
  };
  for (int i = 0; i < 3; ++i) g.kinks.push_back(Kink{{q[i][0], q[i][1], q[i][2]}, Real(0)});
  check(g, 12, pow(2 * pi(), Real(-3) / 2));
}

TEST_CASE("a target equal to the working precision converges at the rounding level (the evaluator's use)") {
  precision_scope scope(40);
  const auto r = gaussian_expectation(one_d([](const Real& z) {
                                        const Real t = tanh(z);
                                        return Real(t * t);
                                      }),
                                      {.digits = 40});
  CHECK(r.converged);
  NETSOR_CHECK_DIGITS(r.value, Real(kTanh2), 38);
  CHECK(abs(r.value - Real(kTanh2)) <= r.error);
}

TEST_CASE("node tables follow the precision: 50, then 300, then 50 digits again agree with the reference") {
  const auto g = one_d([](const Real& z) {
    const Real t = tanh(z);
    return Real(t * t);
  });
  for (unsigned digits : {50u, 300u, 50u}) {
    CAPTURE(digits);
    precision_scope scope(digits + kGuard);
    check(g, digits, Real(kTanh2));
  }
}

TEST_CASE("non-convergence is a status: a tiny evaluation budget gives converged = false and few digits") {
  precision_scope scope(50 + kGuard);
  const auto g = one_d([](const Real& z) {
    const Real t = tanh(z);
    return Real(t * t);
  });
  const auto r = gaussian_expectation(g, {.digits = 50, .max_evaluations = 20});
  CHECK_FALSE(r.converged);
  CHECK(r.digits_reached < 50);
  CHECK(r.digits_reached >= 0);
  CHECK(r.evaluations < 200);  // the budget stops refinement (one coarse level may finish)
  GaussianIntegrand g2;
  g2.dim = 2;
  g2.f = [](const Real* z) { return Real(tanh(z[0]) * tanh(z[0] + z[1])); };
  const auto r2 = gaussian_expectation(g2, {.digits = 50, .max_evaluations = 1000});
  CHECK_FALSE(r2.converged);
  CHECK(r2.digits_reached < 50);
  // A strip far narrower than any step the engine tries (tanh(10^6 (z - 0.3)), poles 1.6e-6 from the axis): it
  // gives up after a bounded number of halvings or evaluations, it does not loop.
  const auto r3 = gaussian_expectation(one_d([](const Real& z) { return tanh((z - Real(3) / 10) * 1000000); }),
                                       {.digits = 50, .max_evaluations = 200'000});
  CHECK_FALSE(r3.converged);
  CHECK(r3.evaluations < 1'000'000);
}

TEST_CASE("bad input throws invalid_argument naming the problem") {
  precision_scope scope(30);
  GaussianIntegrand g;
  g.dim = 4;
  g.f = [](const Real*) { return Real(1); };
  CHECK_THROWS_WITH_AS(gaussian_expectation(g, {}), doctest::Contains("dimension 4"), netsor::invalid_argument);
  g.dim = 0;
  CHECK_THROWS_AS(gaussian_expectation(g, {}), netsor::invalid_argument);
  g.dim = 2;
  g.kinks = {Kink{{Real(1)}, Real(0)}};
  CHECK_THROWS_WITH_AS(gaussian_expectation(g, {}), doctest::Contains("kink 0 has 1 coefficients, expected 2"),
                       netsor::invalid_argument);
  GaussianIntegrand empty;
  CHECK_THROWS_WITH_AS(gaussian_expectation(empty, {}), doctest::Contains("empty"), netsor::invalid_argument);
}

// ------------------------------------------------------------------------------------------------ fast paths
// GaussianIntegrand::even (half the outer line, mirrored) and f_lattice (exponentials updated along the inner
// lattice by LatticeExp), as the limit evaluator uses them, against the same references as the plain engine.

namespace {
// tanh x = (E - 1)/(E + 1) from E = exp(2 x), at E's precision, rounded into a Real at the working precision.
Real tanh_from_exp2(mpfr_srcptr e) {
  Real a, b, r;
  mpfr_set_prec(a.backend().data(), mpfr_get_prec(e));
  mpfr_set_prec(b.backend().data(), mpfr_get_prec(e));
  mpfr_sub_ui(a.backend().data(), e, 1, MPFR_RNDN);
  mpfr_add_ui(b.backend().data(), e, 1, MPFR_RNDN);
  mpfr_div(r.backend().data(), a.backend().data(), b.backend().data(), MPFR_RNDN);
  return r;
}
}  // namespace

TEST_CASE("fast paths: E[tanh(z)^2] declared even, with tanh from exp(2 z) on the lattice, at 50 and 300 digits") {
  for (unsigned digits : {50u, 300u}) {
    CAPTURE(digits);
    precision_scope scope(digits + kGuard);
    GaussianIntegrand plain = one_d([](const Real& z) {
      const Real t = tanh(z);
      return Real(t * t);
    });
    const QuadratureResult base = check(plain, digits, Real(kTanh2));
    GaussianIntegrand g = plain;
    g.even = true;
    const QuadratureResult half = check(g, digits, Real(kTanh2));
    CHECK(half.evaluations * 10 < base.evaluations * 6);  // about half the nodes
    auto e = std::make_shared<netsor::detail::LatticeExp>();
    e->set_slope(Real(2));
    e->set_line(Real(0));
    g.f_lattice = [e](const Real*, long j, double h) {
      const Real t = tanh_from_exp2(e->eval(j, h));
      return Real(t * t);
    };
    check(g, digits, Real(kTanh2));
  }
}

TEST_CASE("fast paths: 2-D E[tanh(z1) tanh(0.6 z1 + 0.8 z2)] even and on the lattice, one and two threads") {
  precision_scope scope(50 + kGuard);
  GaussianIntegrand g;
  g.dim = 2;
  g.f = [](const Real* z) { return Real(tanh(z[0]) * tanh(z[0] * 3 / 5 + z[1] * 4 / 5)); };
  g.even = true;
  // Per-thread lattice state, reset when the thread meets a new line (z1 changed).
  struct State {
    netsor::detail::LatticeExp e;
    Real z0, t0;
    bool ready = false;
  };
  const Real slope = Real(8) / 5;
  g.f_lattice = [slope](const Real* z, long j, double h) {
    thread_local std::unique_ptr<State> st;
    if (!st || mpfr_get_prec(st->z0.backend().data()) != mpfr_get_prec(z[0].backend().data())) {
      st = std::make_unique<State>();
      st->e.set_slope(slope);
    }
    if (!st->ready || st->z0 != z[0]) {
      st->z0 = z[0];
      st->t0 = tanh(z[0]);
      st->e.set_line(Real(z[0] * 6 / 5));
      st->ready = true;
    }
    return Real(st->t0 * tanh_from_exp2(st->e.eval(j, h)));
  };
  check(g, 50, Real(kTanhTanh2d));
  check(g, 50, Real(kTanhTanh2d), {.threads = 2});
  g.even = false;  // both halves walked, on two threads
  check(g, 50, Real(kTanhTanh2d), {.threads = 2});
}

TEST_CASE("fast paths: integrands that are not even on the lattice, E[exp(a.z + c)] and E[sigmoid(a.z)] = 1/2") {
  precision_scope scope(50 + kGuard);
  {
    // E exp(0.3 z1 - 0.7 z2 + 0.2) = exp(0.2 + (0.09 + 0.49) / 2)
    const Real a0 = Real(3) / 10, a1 = Real(-7) / 10, c = Real(1) / 5;
    GaussianIntegrand g;
    g.dim = 2;
    g.f = [=](const Real* z) { return Real(exp(a0 * z[0] + a1 * z[1] + c)); };
    auto e = std::make_shared<netsor::detail::LatticeExp>();
    e->set_slope(a1);
    auto last = std::make_shared<Real>(-1000);
    g.f_lattice = [=](const Real* z, long j, double h) {
      if (*last != z[0]) {
        *last = z[0];
        e->set_line(Real(a0 * z[0] + c));
      }
      Real r;
      mpfr_set(r.backend().data(), e->eval(j, h), MPFR_RNDN);
      return r;
    };
    check(g, 50, exp(c + (a0 * a0 + a1 * a1) / 2));
  }
  {
    // sigmoid(x) + sigmoid(-x) = 1: E sigmoid(0.6 z1 + 0.8 z2) = 1/2; sigmoid = 1 / (1 + exp(-x)).
    GaussianIntegrand g;
    g.dim = 2;
    g.f = [](const Real* z) { return Real(1 / (1 + exp(-(z[0] * 3 / 5 + z[1] * 4 / 5)))); };
    auto e = std::make_shared<netsor::detail::LatticeExp>();
    e->set_slope(Real(-4) / 5);
    auto last = std::make_shared<Real>(-1000);
    g.f_lattice = [=](const Real* z, long j, double h) {
      if (*last != z[0]) {
        *last = z[0];
        e->set_line(Real(-z[0] * 3 / 5));
      }
      Real d, r;
      mpfr_set_prec(d.backend().data(), e->bits());
      mpfr_add_ui(d.backend().data(), e->eval(j, h), 1, MPFR_RNDN);
      mpfr_ui_div(r.backend().data(), 1, d.backend().data(), MPFR_RNDN);
      return r;
    };
    check(g, 50, Real(1) / 2);
  }
}

TEST_CASE("LatticeExp along the engine's walk patterns equals exp(base + slope j h) to the working precision") {
  precision_scope scope(60);
  netsor::detail::LatticeExp e;
  const Real slope = Real(-7) / 3;
  e.set_slope(slope);
  Real ref, x;
  mpfr_set_prec(ref.backend().data(), e.bits());
  mpfr_set_prec(x.backend().data(), e.bits());
  Real worst = 0;
  for (const char* base : {"0.1", "-2.5", "7.25"}) {
    e.set_line(Real(base));
    for (double h : {0.0625, 0.09375, 0.0078125}) {
      // A level walked right from 0 and left from -1, then the odd nodes of the next level both ways, at
      // strides 8, 4 and 1 of the table step, with a jump between walks; 600 nodes per walk (beyond kReanchor).
      for (long stride : {8L, 4L, 1L})
        for (auto [j0, step] : {std::pair{0L, 1L}, {-1L, -1L}, {1L, 2L}, {-1L, -2L}}) {
          for (long i = 0; i < 600; ++i) {
            const long j = (j0 + i * step) * stride;
            mpfr_srcptr v = e.eval(j, h);
            mpfr_set(x.backend().data(), slope.backend().data(), MPFR_RNDN);
            mpfr_mul_d(x.backend().data(), x.backend().data(), static_cast<double>(j) * h, MPFR_RNDN);
            mpfr_add(x.backend().data(), x.backend().data(), Real(base).backend().data(), MPFR_RNDN);
            mpfr_exp(ref.backend().data(), x.backend().data(), MPFR_RNDN);
            Real rel = abs(Real(v) / ref - 1);
            if (rel > worst) worst = rel;
          }
        }
    }
  }
  // The guard bits keep the error of hundreds of multiplications far below the working precision's unit.
  INFO("worst relative error " << to_string(worst, 5));
  CHECK(worst < pow(Real(2), -static_cast<int>(mpfr_get_prec(slope.backend().data()))));
}

TEST_SUITE_END();

TEST_SUITE("slow") {
  TEST_CASE("2-D E[erf(a.z) erf(b.z)] at 50 digits (mpfr_erf costs 10 us a call)") {
    precision_scope scope(50 + kGuard);
    const Real a0 = Real(3) / 10, a1 = Real(-7) / 10, b0 = Real(11) / 10, b1 = Real(2) / 5;
    GaussianIntegrand g;
    g.dim = 2;
    g.f = [=](const Real* z) { return Real(erf(a0 * z[0] + a1 * z[1]) * erf(b0 * z[0] + b1 * z[1])); };
    const Real ab = a0 * b0 + a1 * b1, aa = a0 * a0 + a1 * a1, bb = b0 * b0 + b1 * b1;
    check(g, 50, 2 / pi() * asin(2 * ab / sqrt((1 + 2 * aa) * (1 + 2 * bb))), {.threads = 2});
  }

  TEST_CASE("3-D rotated tanh product at 25 digits and relu product at 20 digits") {
    {
      precision_scope scope(25 + kGuard);
      const auto q = rotation();
      GaussianIntegrand g;
      g.dim = 3;
      g.f = [q](const Real* z) {
        Real u[3];
        for (int i = 0; i < 3; ++i) u[i] = q[i][0] * z[0] + q[i][1] * z[1] + q[i][2] * z[2];
        const Real a = tanh(u[0]), b = tanh(u[1]);
        return Real(a * a * b * b * exp(-u[2] * u[2]));
      };
      const Real t2 = Real(kTanh2);
      check(g, 25, t2 * t2 / sqrt(Real(3)), {.threads = 2});
    }
    {
      precision_scope scope(20 + kGuard);
      const auto q = rotation();
      GaussianIntegrand g;
      g.dim = 3;
      g.f = [q](const Real* z) {
        Real p = 1;
        for (int i = 0; i < 3; ++i) p *= relu(q[i][0] * z[0] + q[i][1] * z[1] + q[i][2] * z[2]);
        return p;
      };
      for (int i = 0; i < 3; ++i) g.kinks.push_back(Kink{{q[i][0], q[i][1], q[i][2]}, Real(0)});
      check(g, 20, pow(2 * pi(), Real(-3) / 2), {.threads = 2});
    }
  }
}

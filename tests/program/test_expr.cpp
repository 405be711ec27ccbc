// Tests of symbolic nonlinearities: evaluation in double/Real/Rational, derivatives, polynomial detection.
#include <netsor/netsor.hpp>
#include <netsor/program/expr_eval.hpp>

#include "precision.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace netsor;
using detail::Expr;
using detail::Op;

namespace {
// An expression in the abstract variable x = Var 0 (and y = Var 1), built with the user-facing operators.
VExpr var(int i) { return VExpr(nullptr, Expr::make_leaf(Op::Var, i)); }
double eval_d(const Expr& e, double x, double y = 0) {
  return detail::evaluate<double>(e, [&](Op, std::int32_t r) { return r == 0 ? x : y; });
}
Real eval_r(const Expr& e, const Real& x, const Real& y = 0) {
  return detail::evaluate<Real>(e, [&](Op, std::int32_t r) { return r == 0 ? x : y; });
}
// Central finite difference of a double expression (step 1e-5, error ~1e-10 for smooth functions).
double fd(const Expr& e, double x) { return (eval_d(e, x + 1e-5) - eval_d(e, x - 1e-5)) / 2e-5; }
}  // namespace

TEST_CASE("every nonlinearity evaluates in double like the C library") {
  const VExpr x = var(0);
  struct Case {
    VExpr e;
    double (*f)(double);
  };
  const Case cases[] = {
      {tanh(x), [](double t) { return std::tanh(t); }},
      {sigmoid(x), [](double t) { return 1 / (1 + std::exp(-t)); }},
      {erf(x), [](double t) { return std::erf(t); }},
      {relu(x), [](double t) { return t > 0 ? t : 0.0; }},
      {abs(x), [](double t) { return std::abs(t); }},
      {step(x), [](double t) { return t > 0 ? 1.0 : 0.0; }},
      {exp(x), [](double t) { return std::exp(t); }},
      {sin(x), [](double t) { return std::sin(t); }},
      {cos(x), [](double t) { return std::cos(t); }},
      {softplus(x), [](double t) { return std::log1p(std::exp(t)); }},
      {gelu(x), [](double t) { return t * 0.5 * (1 + std::erf(t / std::sqrt(2.0))); }},
      {pow(x, 3), [](double t) { return t * t * t; }},
  };
  for (const auto& c : cases)
    for (double t : {-2.5, -0.3, 0.7, 1.9}) {
      CAPTURE(c.e.expr().to_string([](Op, int) { return "x"; }));
      CAPTURE(t);
      CHECK(eval_d(c.e.expr(), t) == doctest::Approx(c.f(t)).epsilon(1e-14));
    }
  CHECK(eval_d(sqrt(x).expr(), 2.0) == doctest::Approx(std::sqrt(2.0)));
  CHECK(eval_d(log(x).expr(), 2.0) == doctest::Approx(std::log(2.0)));
  CHECK(eval_d(pow(x, 0.5).expr(), 2.0) == doctest::Approx(std::sqrt(2.0)));
}

TEST_CASE("Real evaluation carries the working precision") {
  precision_scope scope(60);
  const Real half = Real(1) / 2;
  // tanh(1/2) = (e - 1)/(e + 1) with e = exp(1): an independent route through exp.
  const Real e1 = exp(Real(1));
  NETSOR_CHECK_DIGITS(eval_r(tanh(var(0)).expr(), half), (e1 - 1) / (e1 + 1), 58);
  // gelu(1) = Phi(1) = (1 + erf(1/sqrt2))/2
  NETSOR_CHECK_DIGITS(eval_r(gelu(var(0)).expr(), Real(1)), (1 + erf(1 / sqrt(Real(2)))) / 2, 58);
  // A decimal constant is exact: 0.1 * 10 = 1 at 60 digits.
  NETSOR_CHECK_DIGITS(eval_r((0.1 * var(0)).expr(), Real(10)), Real(1), 59);
}

TEST_CASE("symbolic derivatives match finite differences") {
  const VExpr x = var(0);
  const VExpr exprs[] = {tanh(x),     sigmoid(x),           erf(x),         exp(0.3 * x),     sin(x) * cos(x),
                         softplus(x), gelu(x),              pow(x, 4) - x,  tanh(tanh(x) + 0.5 * x),
                         x / (2 + x * x), sqrt(1 + x * x),   log(2 + sin(x)), pow(1 + x * x, 0.75)};
  for (const auto& e : exprs) {
    const Expr d = e.expr().derivative(Op::Var, 0);
    for (double t : {-1.3, -0.2, 0.4, 1.1}) {
      CAPTURE(e.expr().to_string([](Op, int) { return "x"; }));
      CAPTURE(t);
      CHECK(eval_d(d, t) == doctest::Approx(fd(e.expr(), t)).epsilon(1e-8));
    }
  }
  // second derivatives of erf and gelu (the derivative primitives differentiate too)
  const Expr d2 = erf(x).expr().derivative(Op::Var, 0).derivative(Op::Var, 0);
  CHECK(eval_d(d2, 0.7) == doctest::Approx(-2 * 0.7 * 2 / std::sqrt(M_PI) * std::exp(-0.49)).epsilon(1e-12));
  const Expr g2 = gelu(x).expr().derivative(Op::Var, 0).derivative(Op::Var, 0);
  CHECK(eval_d(g2, 0.7) ==
        doctest::Approx(std::exp(-0.245) / std::sqrt(2 * M_PI) * (2 - 0.49)).epsilon(1e-12));
}

TEST_CASE("derivatives of kinked functions and the Dirac flag") {
  const VExpr x = var(0), y = var(1);
  const Expr dr = relu(x).expr().derivative(Op::Var, 0);
  CHECK(eval_d(dr, 0.5) == 1);
  CHECK(eval_d(dr, -0.5) == 0);
  CHECK(eval_d(abs(x).expr().derivative(Op::Var, 0), -0.5) == -1);
  CHECK_FALSE(relu(x).expr().has_dirac_derivative(Op::Var, 0));
  CHECK(step(x - 0.3).expr().has_dirac_derivative(Op::Var, 0));
  CHECK_FALSE(step(y).expr().has_dirac_derivative(Op::Var, 0));  // does not depend on x
  // partial derivatives of a two-variable expression
  const Expr e = (x * y + tanh(x - y)).expr();
  const double t = std::tanh(0.3 - 0.8);
  CHECK(eval_d(e.derivative(Op::Var, 0), 0.3, 0.8) == doctest::Approx(0.8 + 1 - t * t));
  CHECK(eval_d(e.derivative(Op::Var, 1), 0.3, 0.8) == doctest::Approx(0.3 - (1 - t * t)));
}

TEST_CASE("polynomial detection and exact evaluation") {
  const VExpr x = var(0), y = var(1);
  CHECK((x * y + 3 * pow(x, 5) - Rational(1, 3)).expr().is_polynomial());
  CHECK((x / 2).expr().is_polynomial());
  CHECK_FALSE((x / y).expr().is_polynomial());
  CHECK_FALSE(tanh(x).expr().is_polynomial());
  CHECK_FALSE((x * relu(y)).expr().is_polynomial());
  const Expr p = (x * y + 3 * pow(x, 5) - Rational(1, 3)).expr();
  const Rational v = detail::evaluate<Rational>(p, [](Op, std::int32_t r) { return r == 0 ? Rational(1, 2) : Rational(2); });
  CHECK(v == Rational(1) + Rational(3, 32) - Rational(1, 3));
  // The derivative of a polynomial is a polynomial, computed exactly.
  const Expr dp = p.derivative(Op::Var, 0);
  CHECK(dp.is_polynomial());
  CHECK(detail::evaluate<Rational>(dp, [](Op, std::int32_t r) { return r == 0 ? Rational(1, 2) : Rational(2); }) ==
        Rational(2) + Rational(15, 16));
  CHECK_THROWS_AS(detail::evaluate<Rational>(tanh(x).expr(), [](Op, std::int32_t) { return Rational(0); }),
                  invalid_program);
}

TEST_CASE("substitution and simplification") {
  const VExpr x = var(0), y = var(1);
  const Expr e = (tanh(x) * 1 + 0 * y + pow(x, 1)).expr();
  const Expr s = e.simplified();
  CHECK(s.nodes.size() < e.nodes.size());
  CHECK(eval_d(s, 0.4) == doctest::Approx(eval_d(e, 0.4)));
  // x -> (y + 1): tanh(y + 1) + y + 1 at y = 0.2
  const Expr sub = (y + 1).expr();
  const Expr yy = y.expr();
  const Expr t2 = e.substitute(Op::Var, {&sub, &yy});
  CHECK(eval_d(t2, 0, 0.2) == doctest::Approx(std::tanh(1.2) + 1.2));
}

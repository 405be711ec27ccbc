// netsor/program/expr_eval.hpp — evaluating symbolic nonlinearities.
//
// `evaluate<T>(expr, leaf)` evaluates at one point in T = double, Real (MPFR, at the current default
// precision) or Rational (polynomial expressions only). `evaluate_array` evaluates coordinatewise on Eigen
// arrays of doubles for the simulator. Both are single loops over the node array.
#pragma once

#include <netsor/errors.hpp>
#include <netsor/numbers.hpp>
#include <netsor/program/expr.hpp>

#include <Eigen/Core>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

namespace netsor::detail {

/// pi at the current default precision of Real (never cached: a cached pi is wrong at another precision).
Real real_pi();

template <class T>
struct ScalarOps;

template <>
struct ScalarOps<double> {
  static double from_constant(const Expr& e, std::int32_t ref) { return e.constants_double[ref]; }
  static double apply(Op op, double x) {
    constexpr double inv_sqrt_pi_2 = 1.1283791670955125739;   // 2/sqrt(pi)
    constexpr double inv_sqrt_2pi = 0.39894228040143267794;  // 1/sqrt(2 pi)
    switch (op) {
      case Op::Neg: return -x;
      case Op::Tanh: return std::tanh(x);
      case Op::Sigmoid: return 1 / (1 + std::exp(-x));
      case Op::Erf: return std::erf(x);
      case Op::Relu: return x > 0 ? x : 0;
      case Op::Abs: return std::abs(x);
      case Op::Step: return x > 0 ? 1 : 0;
      case Op::Sign: return x > 0 ? 1 : (x < 0 ? -1 : 0);
      case Op::Exp: return std::exp(x);
      case Op::Log: return std::log(x);
      case Op::Sin: return std::sin(x);
      case Op::Cos: return std::cos(x);
      case Op::Sqrt: return std::sqrt(x);
      case Op::Softplus: return (x > 0 ? x : 0) + std::log1p(std::exp(-std::abs(x)));
      case Op::Gelu: return 0.5 * x * std::erfc(-x * 0.70710678118654752440);
      case Op::ErfPrime: return inv_sqrt_pi_2 * std::exp(-x * x);
      case Op::GeluPrime:
        return 0.5 * std::erfc(-x * 0.70710678118654752440) + x * inv_sqrt_2pi * std::exp(-0.5 * x * x);
      case Op::NormPdf: return inv_sqrt_2pi * std::exp(-0.5 * x * x);
      default: throw invalid_program(std::string("evaluate: bad unary operation ") + op_name(op));
    }
  }
  static double pow(double x, int k) {
    double r = 1;
    for (int i = 0; i < k; ++i) r *= x;
    return r;
  }
  static double powc(double x, double c) { return std::pow(x, c); }
};

template <>
struct ScalarOps<Real> {
  static Real from_constant(const Expr& e, std::int32_t ref) { return to_real(e.constants[ref]); }
  static Real apply(Op op, const Real& x);
  static Real pow(const Real& x, int k) { return boost::multiprecision::pow(x, k); }
  static Real powc(const Real& x, const Real& c) { return boost::multiprecision::pow(x, c); }
};

template <>
struct ScalarOps<Rational> {
  static Rational from_constant(const Expr& e, std::int32_t ref) { return e.constants[ref]; }
  static Rational apply(Op op, const Rational& x) {
    if (op == Op::Neg) return -x;
    throw invalid_program(std::string("exact evaluation: ") + op_name(op) + " is not a polynomial operation");
  }
  static Rational pow(const Rational& x, int k) {
    Rational r = 1;
    for (int i = 0; i < k; ++i) r *= x;
    return r;
  }
  static Rational powc(const Rational&, const Rational&) {
    throw invalid_program("exact evaluation: a real power is not a polynomial operation");
  }
};

/// Evaluates `e` at one point; `leaf(op, ref)` returns the value of a Vec/Sca/Var leaf as a T.
template <class T, class Leaf>
T evaluate(const Expr& e, Leaf&& leaf) {
  using Ops = ScalarOps<T>;
  if (e.nodes.empty()) return T(0);
  std::vector<T> v(e.nodes.size());
  for (std::size_t i = 0; i < e.nodes.size(); ++i) {
    const ExprNode& n = e.nodes[i];
    switch (n.op) {
      case Op::Const: v[i] = Ops::from_constant(e, n.ref); break;
      case Op::Vec: case Op::Sca: case Op::Var: v[i] = leaf(n.op, n.ref); break;
      case Op::Add: v[i] = v[n.a] + v[n.b]; break;
      case Op::Sub: v[i] = v[n.a] - v[n.b]; break;
      case Op::Mul: v[i] = v[n.a] * v[n.b]; break;
      case Op::Div: v[i] = v[n.a] / v[n.b]; break;
      case Op::Pow: v[i] = Ops::pow(v[n.a], n.k); break;
      case Op::PowC:
        if constexpr (std::is_same_v<T, double>) v[i] = Ops::powc(v[n.a], e.constants_double[n.ref]);
        else if constexpr (std::is_same_v<T, Real>) v[i] = Ops::powc(v[n.a], to_real(e.constants[n.ref]));
        else v[i] = Ops::powc(v[n.a], e.constants[n.ref]);
        break;
      default: v[i] = Ops::apply(n.op, v[n.a]); break;
    }
  }
  return v.back();
}

/// A coordinatewise value: a constant (scalar) or an array of doubles.
struct ArrayValue {
  bool is_scalar = true;
  double scalar = 0;
  Eigen::ArrayXd array;
};

/// Evaluates `e` coordinatewise on arrays of length `size`. `vec(ref)` returns a `const Eigen::VectorXd&`
/// for a program vector, `sca(ref)` a double for a program scalar.
template <class VecFn, class ScaFn>
Eigen::ArrayXd evaluate_array(const Expr& e, Eigen::Index size, VecFn&& vec, ScaFn&& sca) {
  if (e.nodes.empty()) return Eigen::ArrayXd::Zero(size);
  std::vector<ArrayValue> v(e.nodes.size());
  const auto live = e.live_mask();
  for (std::size_t i = 0; i < e.nodes.size(); ++i) {
    if (!live[i]) continue;
    const ExprNode& n = e.nodes[i];
    ArrayValue& r = v[i];
    switch (n.op) {
      case Op::Const: r.scalar = e.constants_double[n.ref]; break;
      case Op::Sca: r.scalar = sca(n.ref); break;
      case Op::Vec: r.is_scalar = false; r.array = vec(n.ref).array(); break;
      case Op::Var: throw invalid_program("evaluate_array: abstract variables cannot be simulated");
      case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: {
        const ArrayValue& x = v[n.a];
        const ArrayValue& y = v[n.b];
        if (x.is_scalar && y.is_scalar) {
          r.scalar = n.op == Op::Add ? x.scalar + y.scalar
                   : n.op == Op::Sub ? x.scalar - y.scalar
                   : n.op == Op::Mul ? x.scalar * y.scalar : x.scalar / y.scalar;
          break;
        }
        r.is_scalar = false;
        if (x.is_scalar) {
          switch (n.op) {
            case Op::Add: r.array = x.scalar + y.array; break;
            case Op::Sub: r.array = x.scalar - y.array; break;
            case Op::Mul: r.array = x.scalar * y.array; break;
            default: r.array = x.scalar / y.array; break;
          }
        } else if (y.is_scalar) {
          switch (n.op) {
            case Op::Add: r.array = x.array + y.scalar; break;
            case Op::Sub: r.array = x.array - y.scalar; break;
            case Op::Mul: r.array = x.array * y.scalar; break;
            default: r.array = x.array / y.scalar; break;
          }
        } else {
          switch (n.op) {
            case Op::Add: r.array = x.array + y.array; break;
            case Op::Sub: r.array = x.array - y.array; break;
            case Op::Mul: r.array = x.array * y.array; break;
            default: r.array = x.array / y.array; break;
          }
        }
        break;
      }
      default: {
        const ArrayValue& x = v[n.a];
        if (x.is_scalar) {
          if (n.op == Op::Pow) r.scalar = ScalarOps<double>::pow(x.scalar, n.k);
          else if (n.op == Op::PowC) r.scalar = std::pow(x.scalar, e.constants_double[n.ref]);
          else r.scalar = ScalarOps<double>::apply(n.op, x.scalar);
          break;
        }
        r.is_scalar = false;
        switch (n.op) {
          case Op::Neg: r.array = -x.array; break;
          case Op::Tanh: r.array = x.array.tanh(); break;
          case Op::Exp: r.array = x.array.exp(); break;
          case Op::Log: r.array = x.array.log(); break;
          case Op::Sin: r.array = x.array.sin(); break;
          case Op::Cos: r.array = x.array.cos(); break;
          case Op::Sqrt: r.array = x.array.sqrt(); break;
          case Op::Abs: r.array = x.array.abs(); break;
          case Op::Relu: r.array = x.array.max(0.0); break;
          case Op::Sigmoid: r.array = 1.0 / (1.0 + (-x.array).exp()); break;
          case Op::Pow: {
            if (n.k == 0) { r.array = Eigen::ArrayXd::Ones(x.array.size()); break; }
            r.array = x.array;
            for (int k = 1; k < n.k; ++k) r.array *= x.array;
            break;
          }
          case Op::PowC: r.array = x.array.pow(e.constants_double[n.ref]); break;
          default: r.array = x.array.unaryExpr([op = n.op](double t) { return ScalarOps<double>::apply(op, t); });
        }
        // Release the arguments' memory early when this was their only use is not tracked; arrays are small.
      }
    }
  }
  const ArrayValue& out = v.back();
  if (out.is_scalar) return Eigen::ArrayXd::Constant(size, out.scalar);
  return out.array;
}

}  // namespace netsor::detail

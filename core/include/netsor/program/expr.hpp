// netsor/program/expr.hpp — coordinatewise nonlinearities as symbolic expressions.
//
// A Nonlin node of a tensor program (Yang, Tensor Programs I, NETSOR) applies phi(v_1..v_k; theta)
// coordinatewise. netsor keeps phi symbolic: a flat array of operations in dependency order (children come
// before parents, refer to them by index), so that it can be
//   * evaluated on arrays of doubles (the simulator) and at a point in `Real` or `Rational` (the limit),
//   * differentiated symbolically (the Zdot coefficients E[dZ/dZhat] of the Master Theorem),
//   * recognized as a polynomial (the exact path of the limit evaluator),
// all by loops, never by recursion, so a 10 000-operation expression cannot overflow the stack.
#pragma once

#include <netsor/numbers.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace netsor::detail {

enum class Op : std::uint8_t {
  Const,   // constants[ref]
  Vec,     // program vector node `ref` (coordinatewise value)
  Sca,     // program scalar (Moment) node `ref`
  Var,     // abstract variable number `ref` (used by the limit evaluator after substitution)
  Add, Sub, Mul, Div, Neg,
  Pow,     // a ^ k, k = `k` a non-negative integer (a polynomial operation)
  PowC,    // a ^ constants[ref], a real exponent (a > 0 required)
  Tanh, Sigmoid, Erf, Relu, Abs, Step, Sign, Exp, Log, Sin, Cos, Sqrt, Softplus, Gelu,
  // derivatives of the above that are not themselves expressible with rational constants:
  ErfPrime,   // 2/sqrt(pi) exp(-a^2)
  GeluPrime,  // Phi(a) + a phi(a)
  NormPdf,    // phi(a) = exp(-a^2/2)/sqrt(2 pi)
};

/// Name of an operation as it prints ("tanh", "+", ...).
const char* op_name(Op op);
/// True for the operations that take one argument.
bool is_unary(Op op);
/// True for the operations that take two arguments.
bool is_binary(Op op);

struct ExprNode {
  Op op = Op::Const;
  std::int32_t a = -1;    // first argument (index into the same expression)
  std::int32_t b = -1;    // second argument
  std::int32_t ref = -1;  // constant index, program node id or variable number
  std::int32_t k = 0;     // integer exponent of Pow
};

/// A symbolic expression: nodes in dependency order; the last node is the value.
class Expr {
 public:
  std::vector<ExprNode> nodes;
  std::vector<Rational> constants;       // exact values of the constants
  std::vector<double> constants_double;  // the same, rounded

  bool empty() const { return nodes.empty(); }
  std::int32_t root() const { return static_cast<std::int32_t>(nodes.size()) - 1; }

  // ---- building (each returns the new node index)
  std::int32_t constant(const Rational& q);
  std::int32_t leaf(Op op, std::int32_t ref);
  std::int32_t unary(Op op, std::int32_t a);
  std::int32_t binary(Op op, std::int32_t a, std::int32_t b);
  std::int32_t pow(std::int32_t a, std::int32_t k);
  std::int32_t powc(std::int32_t a, const Rational& c);
  /// Appends all of `other`'s nodes (shifted) and returns the index of its root.
  std::int32_t append(const Expr& other);

  static Expr make_constant(const Rational& q);
  static Expr make_leaf(Op op, std::int32_t ref);
  static Expr combine(Op op, const Expr& x, const Expr& y);
  static Expr apply(Op op, const Expr& x);

  // ---- queries
  /// Program node ids of the vector (Op::Vec) or scalar (Op::Sca) leaves, sorted, without repeats.
  std::vector<std::int32_t> leaves(Op kind) const;
  /// True when the expression is a polynomial in its leaves (only + - * neg, integer powers, constants;
  /// division by a constant is allowed).
  bool is_polynomial() const;
  /// True when the expression contains an operation whose derivative has a Dirac part (step, sign) applied
  /// to something that depends on a leaf of kind `kind` with id `ref` (then E[d/dx] needs Stein's lemma).
  bool has_dirac_derivative(Op kind, std::int32_t ref) const;
  /// Nodes reachable from the root (a mask).
  std::vector<char> live_mask() const;

  // ---- transformations
  /// d/d(leaf of kind `kind`, id `ref`), as an a.e. derivative: step' = sign' = 0, relu' = step, abs' = sign.
  Expr derivative(Op kind, std::int32_t ref) const;
  /// Replaces every leaf of kind `kind` by the expression `subs[ref]` (which must be non-empty for every ref
  /// that occurs). Leaves of other kinds stay.
  Expr substitute(Op kind, const std::vector<const Expr*>& subs) const;
  /// Removes unreachable nodes and folds operations on constants (exactly, in Rational) and trivial identities.
  Expr simplified() const;

  /// The sub-expression rooted at node `root`, compacted (unreachable nodes dropped).
  Expr extract(std::int32_t root) const;

  // ---- printing
  /// Infix text; `name(kind, ref)` names the leaves (Vec, Sca, Var).
  std::string to_string(const std::function<std::string(Op, std::int32_t)>& name) const;
};

}  // namespace netsor::detail

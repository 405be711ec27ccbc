// netsor/limit/detail/evaluator.hpp — the Master Theorem evaluator (internal).
//
// For one working number type T (Rational for the exact path, Real for MPFR), builds the Z of every vector of
// a program as one expression graph over Gaussian atoms (Var leaves) and slots (Sca leaves: Moment limits and
// Zdot coefficients), then evaluates expectations:
//   * linearity and independence first: E[a F + b G] = a E F + b E G, and a product of factors over
//     independent atom groups is the product of their expectations;
//   * the "frontier" reduction: the integrand depends on the atoms only through the affine forms that feed
//     its nonlinear operations; their covariance C = A Sigma A^T is factored C = L L^T with pivoting, and the
//     integral runs over rank(C) standard Gaussians (shared/MATH.md: whiten, integrate in `rank` dimensions);
//   * polynomial integrands go to Isserlis/Wick (exact in Rational), the rest to the Gaussian quadrature with
//     the kinks of relu/abs/step/sign given as hyperplanes;
//   * E[dF/dZhat] for the Zdot rule: symbolic derivative, or Stein's lemma E[grad G(l)] = C^{-1} E[l G(l)] when
//     F contains step/sign (whose derivative has a Dirac part).
// Values are std::optional: the exact evaluator returns nullopt for what is not polynomial.
#pragma once

#include <netsor/numbers.hpp>
#include <netsor/program/detail/program_data.hpp>
#include <netsor/program/expr.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace netsor::detail {

struct AtomInfo {
  std::int32_t group = -1;  // atoms of different groups are independent
  std::int32_t node = -1;   // the input or MatMul node it belongs to
  std::int32_t arg = -1;    // for a MatMul atom: the argument vector (its covariance comes from it)
};

struct AtomGroup {
  std::string name;          // e.g. "W", "W^T", "input family {a, b}"
  std::vector<std::int32_t> atoms;
};

template <class T>
class Evaluator {
 public:
  /// `digits`: working precision for T = Real (ignored for Rational). Throws invalid_program for programs
  /// outside the Master Theorem.
  Evaluator(const ProgramData& d, unsigned digits);

  /// The limit of Moment node `id` (nullopt when not available in T).
  std::optional<T> moment(std::int32_t id);
  /// E[e] for an expression over program vectors (Vec leaves) and Moments (Sca leaves).
  std::optional<T> expect(const Expr& e, const std::string& what);
  /// E[e] for an expression over atoms (Var leaves) and slots (Sca leaves, slot ids).
  std::optional<T> expect_atoms(const Expr& e, const std::string& what);
  /// The Z of vector node `id` as an expression over atoms and slots.
  Expr z_of(std::int32_t id) const { return graph_.extract(z_[id]); }
  const std::vector<AtomInfo>& atoms() const { return atoms_; }
  /// Covariance of two atoms (zero across groups).
  std::optional<T> atom_covariance(std::int32_t i, std::int32_t j) const;
  /// Value of a slot.
  const std::optional<T>& slot(std::int32_t s) const { return slots_[s]; }
  unsigned digits() const { return digits_; }
  /// Number of Gaussian integrals computed (for benchmarks).
  std::size_t integrals() const { return integrals_; }

 private:
  void build();
  std::int32_t new_slot(std::optional<T> v);
  std::int32_t graph_from_program_expr(const Expr& e);
  std::optional<T> expect_graph(std::int32_t root, const std::string& what);
  std::optional<T> expect_product(const Expr& f, const std::string& what);
  std::optional<T> integrate(const Expr& f, const std::string& what, std::int32_t weight_form = -1);
  std::optional<T> expect_derivative(std::int32_t root, std::int32_t atom, const std::string& what);

  const ProgramData& d_;
  unsigned digits_;
  Expr graph_;
  std::vector<std::int32_t> z_;     // node id -> graph index (vector nodes)
  std::vector<std::int32_t> slot_of_moment_;  // node id -> slot (Moment nodes)
  std::vector<std::optional<T>> slots_;
  std::vector<AtomInfo> atoms_;
  std::vector<AtomGroup> groups_;
  std::vector<std::int32_t> atom_index_in_group_;
  std::vector<std::vector<std::vector<std::optional<T>>>> group_cov_;  // per group, full symmetric matrix
  std::map<std::string, std::optional<T>> memo_;
  std::size_t integrals_ = 0;
};

extern template class Evaluator<Real>;
extern template class Evaluator<Rational>;

}  // namespace netsor::detail

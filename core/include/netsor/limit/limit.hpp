// netsor/limit/limit.hpp — infinite-width limits of tensor programs (shared/API.md, "Infinite-width limit").
//
// Implements the Master Theorem for NETSOR-transpose programs with Moment nodes (Yang, Tensor Programs I,
// Thm 5.4; Tensor Programs III, Thm 2.5 and §2.2 for the Zdot rule) in the conventions of shared/MATH.md:
// every vector v gets a random variable Z^v = Zhat^v + Zdot^v built from jointly Gaussian "atoms", every Moment
// its deterministic limit, and every requested quantity is an expectation over the atoms.
//
// What "digits" means (the contract, after Arb): `limit(p, {.digits = D})` returns values whose relative error
// is below 10^-D (absolute, for values below 10^-D in size). It evaluates the whole program twice, at two working
// precisions above D, and accepts a value only when both agree to D digits (plus one); otherwise it raises the
// precision, and after that throws `convergence_error` naming the quantity and the digits reached.
// Polynomial programs are evaluated exactly in rationals (Isserlis/Wick) and carry `Estimate::exact`.
#pragma once

#include <netsor/numbers.hpp>
#include <netsor/program/program.hpp>
#include <netsor/program/word.hpp>

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

namespace netsor {

struct LimitOptions {
  unsigned digits = 30;   // significant decimal digits every returned value must have (15 to 1000)
  bool exact = true;      // try the exact rational path for polynomial quantities
};

/// A limit value with its error bound.
struct Estimate {
  Real value;                       // at the requested precision
  Real error;                       // bound on |value - truth| as estimated (0 when exact)
  std::optional<Rational> exact;    // set when the limit is exactly this rational
  unsigned digits = 0;              // significant digits guaranteed (what operator<< prints)
  std::string name;                 // the quantity, for messages
};
std::ostream& operator<<(std::ostream& os, const Estimate& e);

namespace detail {
class LimitState;
}

class Limit {
 public:
  Limit(Limit&&) noexcept;
  Limit& operator=(Limit&&) noexcept;
  ~Limit();

  /// A Moment's limit.
  Estimate operator[](const Scalar& s) const;
  /// E[psi(Z^{v_1}, ..., Z^{v_k})] for any expression of program vectors and scalars.
  Estimate expect(const VExpr& e) const;
  /// The infinite-width normalized trace tau(w) of a square word (Master Theorem for the diagonal letters,
  /// free independence for the matrices: Gaussian = circular, Wigner = semicircular, Haar = Haar unitary).
  Estimate trace(const Word& w) const;
  /// Digits requested.
  unsigned digits() const;
  /// The internal state (for the free-probability layer and tests).
  detail::LimitState& state() const { return *state_; }

 private:
  friend Limit limit(const Program&, const LimitOptions&);
  explicit Limit(std::unique_ptr<detail::LimitState> s);
  std::unique_ptr<detail::LimitState> state_;
};

/// Builds the infinite-width limit of `p`. Throws `invalid_program` for what the Master Theorem does not cover
/// (e.g. a Haar orthogonal matrix applied to a vector that depends on it), `invalid_argument` for digits out
/// of range, `convergence_error` when a value cannot be certified to the requested digits.
Limit limit(const Program& p, const LimitOptions& opt = {});

}  // namespace netsor

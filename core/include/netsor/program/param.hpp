// netsor/program/param.hpp — a user-supplied number, kept both exactly and as a double.
//
// Researchers type `0.05` and mean 1/20, not the binary double nearest to it: a difference at the 18th
// digit that a 30-digit limit would print. So a `double` is read as the shortest decimal that prints as the
// same double (`0.05` -> 1/20, `1.5` -> 3/2); an `int` or a `Rational` is taken as it is.
#pragma once

#include <netsor/numbers.hpp>

#include <cmath>
#include <string>

namespace netsor {

/// The exact rational a double stands for when read as the shortest decimal that round-trips to it.
/// Throws `invalid_argument` for NaN and infinities.
Rational decimal_rational(double x);

/// A number given by the user: exact rational value plus its double.
struct Param {
  Rational exact;
  double approx = 0;

  Param() = default;
  Param(int v) : exact(v), approx(v) {}                                       // NOLINT: implicit on purpose
  Param(long v) : exact(v), approx(static_cast<double>(v)) {}                  // NOLINT
  /// NaN and infinities are kept (exact = 0, approx = v) so that the function receiving the number can name
  /// the argument in its error; every consumer checks `finite()`.
  Param(double v) : exact(std::isfinite(v) ? decimal_rational(v) : Rational(0)), approx(v) {}  // NOLINT
  Param(const Rational& q) : exact(q), approx(static_cast<double>(q)) {}      // NOLINT

  bool finite() const { return std::isfinite(approx); }
  /// The number as the user typed it: the shortest decimal of the double ("-1", "0.05", "nan", "inf").
  std::string text() const;
};

}  // namespace netsor

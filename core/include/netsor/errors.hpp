// netsor/errors.hpp — the three kinds of failure (STYLE.md, point 7).
//
//  * `invalid_program`   — an ill-formed tensor program (width mismatch, foreign handle, duplicate name, a
//                          limit the mathematics does not cover). The message names the nodes and widths.
//  * `invalid_argument`  — a bad option or value (NaN variance, digits out of range, width too large).
//  * `convergence_error` — a numerical method did not reach the requested accuracy; the message names the
//                          quantity, the digits reached and why. netsor never returns a number it does not
//                          stand behind.
#pragma once

#include <stdexcept>
#include <string>

namespace netsor {

class invalid_program : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class convergence_error : public std::runtime_error {
 public:
  convergence_error(const std::string& what, double digits_reached = 0)
      : std::runtime_error(what), digits_reached_(digits_reached) {}
  /// Decimal digits that were reached before giving up (0 when unknown).
  double digits_reached() const noexcept { return digits_reached_; }

 private:
  double digits_reached_;
};

}  // namespace netsor

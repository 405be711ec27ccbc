// netsor/numbers.hpp — the number types of netsor and the one place where precision is set.
//
// `Real` is an MPFR float whose precision is chosen at run time (expression templates off, as shared/API.md
// fixes); `Rational` is GMP's exact rational. Users ask for *decimal digits*; MPFR works in *bits*: the
// conversion happens here and nowhere else. Every evaluation opens a `precision_scope` so that temporaries
// get the evaluation's precision and not whatever the thread default happened to be (STYLE.md, pitfalls).
#pragma once

#include <boost/multiprecision/gmp.hpp>
#include <boost/multiprecision/mpfr.hpp>

#include <cmath>
#include <string>

namespace netsor {

using Real = boost::multiprecision::number<boost::multiprecision::mpfr_float_backend<0>,
                                           boost::multiprecision::et_off>;
using Rational = boost::multiprecision::mpq_rational;
using Integer = boost::multiprecision::mpz_int;

/// Bits of binary precision needed to hold `digits` significant decimal digits.
inline unsigned digits_to_bits(unsigned digits) {
  return static_cast<unsigned>(std::ceil(digits * 3.321928094887362347870319429489390175864831393)) + 1;
}
/// Decimal digits carried by `bits` of binary precision (rounded down).
inline unsigned bits_to_digits(unsigned bits) {
  return static_cast<unsigned>(std::floor((bits - 1) * 0.301029995663981195213738894724493026768189881));
}

/// RAII: sets the default precision of `Real` (in decimal digits) and restores it on exit.
/// Boost.Multiprecision counts in decimal digits; we keep that unit at this boundary only.
/// Boost 1.74 (Debian 12) keeps one process-wide default precision, not one per thread: MPFR evaluations that
/// run concurrently must therefore use the same precision (netsor's evaluators run their MPFR work on the
/// calling thread).
class precision_scope {
 public:
  explicit precision_scope(unsigned digits) : saved_(Real::default_precision()) { Real::default_precision(digits); }
  precision_scope(const precision_scope&) = delete;
  precision_scope& operator=(const precision_scope&) = delete;
  ~precision_scope() { Real::default_precision(saved_); }

 private:
  unsigned saved_;
};

/// An exact rational from a double (every finite double is a dyadic rational); throws on NaN/inf.
Rational to_rational(double x);

/// A Real (at the current default precision) from an exact rational.
inline Real to_real(const Rational& q) {
  Real num(boost::multiprecision::numerator(q));
  Real den(boost::multiprecision::denominator(q));
  return num / den;
}

/// Full-precision decimal text of a Real (`digits` significant digits, scientific when needed).
std::string to_string(const Real& x, unsigned digits);
/// `p/q` text of a Rational.
std::string to_string(const Rational& q);

}  // namespace netsor

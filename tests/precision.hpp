// tests/precision.hpp — comparing high-precision numbers in tests (STYLE.md, point 10).
//
// doctest's Approx works in double and silently drops everything past 16 digits, so every Real comparison
// goes through `agrees_to_digits`, which rejects NaN/inf and prints both values in full on failure.
#pragma once

#include <netsor/numbers.hpp>

#include <doctest/doctest.h>

#include <string>

namespace netsor::testing {

/// Number of correct significant digits of `got` against `ref` (relative when |ref| > 1e-300).
inline double digits_of_agreement(const Real& got, const Real& ref) {
  using boost::multiprecision::abs;
  using boost::multiprecision::log10;
  if (!boost::multiprecision::isfinite(got) || !boost::multiprecision::isfinite(ref)) return -1;
  Real diff = abs(got - ref);
  if (diff == 0) return 1e9;
  Real scale = abs(ref) > 0 ? abs(ref) : Real(1);
  return static_cast<double>(-log10(diff / scale));
}

/// Checks that `got` agrees with `ref` to `digits` significant digits; prints both in full otherwise.
#define NETSOR_CHECK_DIGITS(got, ref, digits)                                                                   \
  do {                                                                                                           \
    const ::netsor::Real netsor_got_ = (got);                                                                    \
    const ::netsor::Real netsor_ref_ = (ref);                                                                    \
    const double netsor_have_ = ::netsor::testing::digits_of_agreement(netsor_got_, netsor_ref_);               \
    INFO("got " << ::netsor::to_string(netsor_got_, (digits) + 5) << "\n ref "                                  \
                << ::netsor::to_string(netsor_ref_, (digits) + 5) << "\n agree to " << netsor_have_             \
                << " digits, need " << (digits));                                                                \
    CHECK(netsor_have_ >= (digits));                                                                             \
  } while (0)

/// The contract of `limit(p, {.digits = d})`: relative error below 10^-d, or absolute error below 10^-d for
/// values smaller than 10^-d (a quantity that is zero by symmetry has no significant digits).
inline bool meets_contract(const Real& got, const Real& ref, unsigned digits) {
  using boost::multiprecision::abs;
  if (!boost::multiprecision::isfinite(got) || !boost::multiprecision::isfinite(ref)) return false;
  const Real tiny = boost::multiprecision::pow(Real(10), -static_cast<int>(digits));
  const Real scale = abs(ref) > tiny ? abs(ref) : tiny;
  return abs(got - ref) <= tiny * scale;
}

#define NETSOR_CHECK_CONTRACT(got, ref, digits)                                                                \
  do {                                                                                                          \
    const ::netsor::Real netsor_got_ = (got);                                                                   \
    const ::netsor::Real netsor_ref_ = (ref);                                                                   \
    INFO("got " << ::netsor::to_string(netsor_got_, (digits) + 5) << "\n ref "                                 \
                << ::netsor::to_string(netsor_ref_, (digits) + 5));                                             \
    CHECK(::netsor::testing::meets_contract(netsor_got_, netsor_ref_, (digits)));                               \
  } while (0)

}  // namespace netsor::testing

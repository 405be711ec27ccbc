// numbers.cpp — conversions between double, Rational, Real and text.
#include <netsor/errors.hpp>
#include <netsor/numbers.hpp>

#include <cmath>
#include <sstream>

namespace netsor {

Rational to_rational(double x) {
  if (!std::isfinite(x)) {
    std::ostringstream os;
    os << "to_rational: value " << x << " is not finite";
    throw invalid_argument(os.str());
  }
  // x = m * 2^e with integer m (53 bits): exact.
  int e = 0;
  double m = std::frexp(x, &e);  // x = m * 2^e, 0.5 <= |m| < 1
  const int shift = 53;
  auto mi = static_cast<long long>(std::ldexp(m, shift));
  e -= shift;
  Rational q{Integer(mi)};
  if (e > 0) {
    Integer p = 1;
    p <<= e;
    q *= Rational(p);
  } else if (e < 0) {
    Integer p = 1;
    p <<= -e;
    q /= Rational(p);
  }
  return q;
}

std::string to_string(const Real& x, unsigned digits) {
  std::ostringstream os;
  os.precision(digits);
  os << x;
  return os.str();
}

std::string to_string(const Rational& q) { return q.str(); }

}  // namespace netsor

// core/src/spectra/two_precisions.hpp — moments computed at two working precisions that must agree (internal to
// the spectra module: jacobian.cpp, fisher.cpp). A disagreement is reported, never hidden.
#pragma once

#include <netsor/errors.hpp>
#include <netsor/numbers.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace netsor::detail {

inline unsigned spectra_guard_digits(unsigned digits) { return 10 + digits / 8; }

inline bool spectra_agree(const Real& x, const Real& y, unsigned digits) {
  const Real d = abs(x - y), s = std::max(abs(x), abs(y));
  const Real tiny = pow(Real(10), -static_cast<int>(digits));
  return d <= tiny * std::max(s, tiny);
}

/// m_1..m_k = at(k, target) evaluated at D + g and D + 2g digits (g = spectra_guard_digits(D)); throws
/// convergence_error naming `who` and the moment when they differ in the first D + 1 digits. The result carries at
/// least D + 5 digits of precision.
template <class Fn>
std::vector<Real> moments_at_two_precisions(Fn at, int k, unsigned D, const std::string& who) {
  if (k < 1) throw invalid_argument("Spectrum::moments: k must be at least 1, got " + std::to_string(k));
  const unsigned g = spectra_guard_digits(D);
  std::vector<Real> lo, hi;
  {
    precision_scope ps(D + g);
    lo = at(k, D + g);
  }
  {
    precision_scope ps(D + 2 * g);
    hi = at(k, D + 2 * g);
  }
  for (int j = 0; j < k; ++j)
    if (!spectra_agree(lo[j], hi[j], D + 1))
      throw convergence_error(who + ": moment " + std::to_string(j + 1) + " differs between working precisions " +
                                  std::to_string(D + g) + " and " + std::to_string(D + 2 * g) + " digits: " +
                                  to_string(lo[j], D + 2) + " vs " + to_string(hi[j], D + 2),
                              0);
  if (Real::default_precision() < D + 5) Real::default_precision(D + 5);
  return hi;
}

}  // namespace netsor::detail

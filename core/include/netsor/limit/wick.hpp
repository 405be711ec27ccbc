// netsor/limit/wick.hpp — exact Gaussian expectations of polynomials (Isserlis 1918; Wick's theorem).
//
// `Polynomial<T>`: a sparse multivariate polynomial (monomial exponent vector -> coefficient). `wick_expectation`
// computes E[P(X)] for a centered Gaussian vector X with covariance Sigma (possibly singular) without any square
// root, by the Gaussian integration-by-parts recursion E[x_i m(x)] = sum_j Sigma_ij E[d m/d x_j], memoized on
// monomials. Exact for T = Rational; to working precision for Real. Degree-2 polynomials (the common case of
// linear programs: covariances of linear forms) take the direct route E[x_i x_j] = Sigma_ij.
#pragma once

#include <netsor/numbers.hpp>

#include <cstdint>
#include <map>
#include <vector>

namespace netsor::detail {

template <class T>
class Polynomial {
 public:
  using Monomial = std::vector<std::uint32_t>;  // exponents, trailing zeros trimmed

  static Polynomial constant(const T& c) {
    Polynomial p;
    if (c != 0) p.terms_[Monomial{}] = c;
    return p;
  }
  static Polynomial variable(std::size_t i) {
    Polynomial p;
    Monomial m(i + 1, 0);
    m[i] = 1;
    p.terms_[m] = T(1);
    return p;
  }
  const std::map<Monomial, T>& terms() const { return terms_; }
  bool is_zero() const { return terms_.empty(); }
  unsigned degree() const {
    unsigned d = 0;
    for (const auto& [m, c] : terms_) {
      unsigned s = 0;
      for (auto e : m) s += e;
      d = std::max(d, s);
    }
    return d;
  }

  friend Polynomial operator+(Polynomial a, const Polynomial& b) {
    for (const auto& [m, c] : b.terms_) a.add(m, c);
    return a;
  }
  friend Polynomial operator-(const Polynomial& a) {
    Polynomial r = a;
    for (auto& [m, c] : r.terms_) c = -c;
    return r;
  }
  friend Polynomial operator-(Polynomial a, const Polynomial& b) {
    for (const auto& [m, c] : b.terms_) a.add(m, T(-c));
    return a;
  }
  friend Polynomial operator*(const Polynomial& a, const Polynomial& b) {
    Polynomial r;
    for (const auto& [m1, c1] : a.terms_)
      for (const auto& [m2, c2] : b.terms_) {
        Monomial m(std::max(m1.size(), m2.size()), 0);
        for (std::size_t i = 0; i < m1.size(); ++i) m[i] += m1[i];
        for (std::size_t i = 0; i < m2.size(); ++i) m[i] += m2[i];
        r.add(m, T(c1 * c2));
      }
    return r;
  }
  friend Polynomial pow(const Polynomial& a, unsigned k) {
    Polynomial r = constant(T(1)), base = a;
    while (k) {  // square and multiply
      if (k & 1) r = r * base;
      k >>= 1;
      if (k) base = base * base;
    }
    return r;
  }

 private:
  void add(const Monomial& m, const T& c) {
    if (c == 0) return;
    auto it = terms_.find(m);
    if (it == terms_.end()) {
      terms_.emplace(m, c);
    } else {
      it->second += c;
      if (it->second == 0) terms_.erase(it);
    }
  }
  std::map<Monomial, T> terms_;
};

namespace wick_detail {
template <class T>
T monomial_expectation(typename Polynomial<T>::Monomial m, const std::vector<std::vector<T>>& sigma,
                       std::map<typename Polynomial<T>::Monomial, T>& memo) {
  while (!m.empty() && m.back() == 0) m.pop_back();
  if (m.empty()) return T(1);
  unsigned total = 0;
  for (auto e : m) total += e;
  if (total % 2) return T(0);  // odd moments of a centered Gaussian vanish
  if (auto it = memo.find(m); it != memo.end()) return it->second;
  std::size_t i = 0;
  while (m[i] == 0) ++i;
  auto rest = m;
  rest[i] -= 1;
  T r = T(0);
  for (std::size_t j = 0; j < rest.size(); ++j) {
    if (rest[j] == 0 || sigma[i][j] == 0) continue;
    auto d = rest;
    const T k = T(d[j]);
    d[j] -= 1;
    r += sigma[i][j] * k * monomial_expectation<T>(d, sigma, memo);
  }
  memo.emplace(m, r);
  return r;
}
}  // namespace wick_detail

/// E[P(X)] for X ~ N(0, sigma) (sigma symmetric PSD, possibly singular; k x k with k >= number of variables).
template <class T>
T wick_expectation(const Polynomial<T>& p, const std::vector<std::vector<T>>& sigma) {
  std::map<typename Polynomial<T>::Monomial, T> memo;
  T r = T(0);
  for (const auto& [m, c] : p.terms()) {
    unsigned total = 0;
    std::size_t a = 0, b = 0, seen = 0;
    for (std::size_t i = 0; i < m.size(); ++i) {
      total += m[i];
      if (m[i] == 2) a = b = i, seen += 2;
      else if (m[i] == 1) (seen++ == 0 ? a : b) = i;
    }
    if (total == 0) r += c;
    else if (total == 2) r += c * sigma[a][b];  // the bilinear fast path
    else if (total % 2 == 0) r += c * wick_detail::monomial_expectation<T>(m, sigma, memo);
  }
  return r;
}

}  // namespace netsor::detail

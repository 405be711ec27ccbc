// netsor/free/toolkit.hpp — moments, free cumulants, R- and S-transforms and free convolutions of moment
// sequences, templated on the coefficient type (Rational, Real, double). shared/MATH.md, "Freeness".
//
// With M(z) = 1 + sum_n m_n z^n and C(w) = 1 + sum_n kappa_n w^n the moment-cumulant relation is
// M(z) = C(z M(z)) (Nica & Speicher, Lectures on the Combinatorics of Free Probability, Thm 16.15), i.e.
// m_n = sum_{s=1}^{n} kappa_s [z^{n-s}] M(z)^s. Both directions run over the table of powers [z^j] M^s with
// s + j <= k: about k^3/6 multiply-adds, exact in Rational. The S-transform S(z) = chi(z)(1+z)/z with
// chi = psi^{-1}, psi(z) = sum m_n z^n (Voiculescu 1987; Nica & Speicher Lecture 18) turns free multiplicative
// convolution into a product of series.
#pragma once

#include <netsor/errors.hpp>
#include <netsor/numbers.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace netsor::free {

namespace detail {

/// [z^0..n] of the product of two series given by their coefficients from z^0.
template <class T>
std::vector<T> mul(const std::vector<T>& a, const std::vector<T>& b, std::size_t n) {
  std::vector<T> r(n + 1, T(0));
  for (std::size_t i = 0; i < a.size() && i <= n; ++i) {
    if (a[i] == 0) continue;
    for (std::size_t j = 0; j < b.size() && i + j <= n; ++j) r[i + j] += a[i] * b[j];
  }
  return r;
}

/// Compositional inverse g of f = f_1 z + f_2 z^2 + ... (f[0] must be 0, f[1] != 0), to order n.
template <class T>
std::vector<T> inverse_series(const std::vector<T>& f, std::size_t n, const char* who) {
  if (f.size() < 2 || f[1] == 0)
    throw invalid_argument(std::string(who) + ": the series has no linear term, it cannot be inverted (m1 = 0?)");
  std::vector<T> g(n + 1, T(0));
  g[1] = T(1) / f[1];
  // pw[k] = g^k, updated as coefficients of g become known; [z^m] f(g) = 0 for m >= 2 determines g_m.
  std::vector<std::vector<T>> pw(n + 1, std::vector<T>(n + 1, T(0)));
  pw[0][0] = T(1);
  for (std::size_t k = 1; k <= n; ++k) pw[k][k] = pw[k - 1][k - 1] * g[1];
  for (std::size_t m = 2; m <= n; ++m) {
    // [z^m] g^k for k >= 2 uses g_1..g_{m-1} only
    T s = T(0);
    for (std::size_t k = 2; k <= m && k < f.size(); ++k) {
      T c = T(0);
      for (std::size_t i = 1; i <= m - (k - 1); ++i) c += g[i] * pw[k - 1][m - i];
      pw[k][m] = c;
      s += f[k] * c;
    }
    g[m] = -s / f[1];
    pw[1][m] = g[m];
  }
  return g;
}

}  // namespace detail

/// A set partition of {0..k-1} as block labels in restricted-growth form (first occurrence order).
using Partition = std::vector<int>;

/// Number of blocks.
inline int block_count(const Partition& p) {
  int b = 0;
  for (int x : p) b = std::max(b, x + 1);
  return b;
}

/// True when no a < b < c < d has a, c in one block and b, d in another.
inline bool is_noncrossing(const Partition& p) {
  const int k = static_cast<int>(p.size());
  for (int a = 0; a < k; ++a)
    for (int b = a + 1; b < k; ++b)
      if (p[b] != p[a])
        for (int c = b + 1; c < k; ++c)
          if (p[c] == p[a])
            for (int d = c + 1; d < k; ++d)
              if (p[d] == p[b]) return false;
  return true;
}

/// All non-crossing partitions of {0..k-1} (Catalan(k) of them), for small k (at most 12).
inline std::vector<Partition> noncrossing_partitions(int k) {
  if (k < 0 || k > 12)
    throw invalid_argument("noncrossing_partitions: k must be in [0, 12] (use the recursions for larger orders), got " +
                           std::to_string(k));
  std::vector<Partition> out;
  Partition p(k, 0);
  // restricted growth strings, pruned as soon as a crossing appears
  std::vector<int> maxlabel(k + 1, -1);
  std::function<void(int, int)> rec = [&](int i, int used) {
    if (i == k) {
      out.push_back(p);
      return;
    }
    for (int b = 0; b <= used; ++b) {
      p[i] = b;
      Partition prefix(p.begin(), p.begin() + i + 1);
      if (is_noncrossing(prefix)) rec(i + 1, std::max(used, b + 1));
    }
  };
  if (k == 0) return {Partition{}};
  rec(0, 0);
  return out;
}

/// The Kreweras complement K(p) (Nica & Speicher, Lecture 9): as permutations K = p^{-1} gamma, with gamma the
/// cycle (0 1 ... k-1) and each block of p a cycle in increasing order. |p| + |K(p)| = k + 1.
inline Partition kreweras_complement(const Partition& p) {
  const int k = static_cast<int>(p.size());
  std::vector<int> next(k), prev(k);
  for (int i = 0; i < k; ++i) {
    int j = i;
    do j = (j + 1) % k;
    while (p[j] != p[i]);
    next[i] = j;
    prev[j] = i;
  }
  // K(i) = p^{-1}(gamma(i)) = prev[(i + 1) % k]; its cycles are the blocks.
  Partition out(k, -1);
  int label = 0;
  for (int i = 0; i < k; ++i) {
    if (out[i] >= 0) continue;
    int j = i;
    do {
      out[j] = label;
      j = prev[(j + 1) % k];
    } while (j != i);
    ++label;
  }
  return out;
}

/// Free cumulants kappa_1..kappa_k from moments m_1..m_k.
template <class T>
std::vector<T> free_cumulants(const std::vector<T>& moments) {
  const std::size_t k = moments.size();
  std::vector<T> m(k + 1, T(0)), kappa(k, T(0));
  m[0] = T(1);
  for (std::size_t i = 0; i < k; ++i) m[i + 1] = moments[i];
  // P[s] = M^s truncated to degree k - s; then kappa_n = m_n - sum_{s<n} kappa_s [z^{n-s}] M^s.
  std::vector<std::vector<T>> P(k + 1);
  P[0] = std::vector<T>(k + 1, T(0));
  P[0][0] = T(1);
  for (std::size_t s = 1; s <= k; ++s) P[s] = detail::mul(P[s - 1], m, k - s);
  for (std::size_t n = 1; n <= k; ++n) {
    T r = m[n];
    for (std::size_t s = 1; s < n; ++s) r -= kappa[s - 1] * P[s][n - s];
    kappa[n - 1] = r;
  }
  return kappa;
}

/// Moments m_1..m_k from free cumulants kappa_1..kappa_k.
template <class T>
std::vector<T> moments_from_cumulants(const std::vector<T>& cumulants) {
  const std::size_t k = cumulants.size();
  std::vector<T> m(k + 1, T(0));
  m[0] = T(1);
  // P[s][j] = [z^j] M^s, filled column by column as m_j becomes known (only s + j <= k is needed).
  std::vector<std::vector<T>> P(k + 1, std::vector<T>(k + 1, T(0)));
  for (std::size_t s = 0; s <= k; ++s) P[s][0] = T(1);
  for (std::size_t n = 1; n <= k; ++n) {
    T r = T(0);
    for (std::size_t s = 1; s <= n; ++s) r += cumulants[s - 1] * P[s][n - s];
    m[n] = r;
    // now column n of the powers: P[s][n] = sum_{i=0}^{n} m_i P[s-1][n-i]
    for (std::size_t s = 1; s + n <= k; ++s) {
      T c = T(0);
      for (std::size_t i = 0; i <= n; ++i) c += m[i] * P[s - 1][n - i];
      P[s][n] = c;
    }
  }
  return std::vector<T>(m.begin() + 1, m.end());
}

/// R-transform coefficients: R(z) = sum_{n>=0} kappa_{n+1} z^n (the list is kappa_1..kappa_k).
template <class T>
std::vector<T> r_transform(const std::vector<T>& moments) {
  return free_cumulants(moments);
}

/// S-transform coefficients s_0..s_{k-1} of S(z) = chi(z)(1+z)/z, chi the inverse of psi(z) = sum m_n z^n.
/// Needs m_1 != 0.
template <class T>
std::vector<T> s_transform(const std::vector<T>& moments) {
  const std::size_t k = moments.size();
  if (k == 0) return {};
  if (moments[0] == 0) throw invalid_argument("s_transform: the first moment is 0; the S-transform needs m1 != 0");
  std::vector<T> psi(k + 1, T(0));
  for (std::size_t i = 0; i < k; ++i) psi[i + 1] = moments[i];
  const std::vector<T> chi = detail::inverse_series(psi, k, "s_transform");
  // chi(z)/z = chi_1 + chi_2 z + ...; times (1 + z)
  std::vector<T> s(k, T(0));
  for (std::size_t j = 0; j < k; ++j) s[j] = chi[j + 1] + (j >= 1 ? chi[j] : T(0));
  return s;
}

/// Moments of a + b for free a, b (cumulants add). Returns as many moments as the shorter input.
template <class T>
std::vector<T> free_additive_convolution(const std::vector<T>& a, const std::vector<T>& b) {
  const std::size_t k = std::min(a.size(), b.size());
  auto ka = free_cumulants(std::vector<T>(a.begin(), a.begin() + k));
  auto kb = free_cumulants(std::vector<T>(b.begin(), b.begin() + k));
  for (std::size_t i = 0; i < k; ++i) ka[i] += kb[i];
  return moments_from_cumulants(ka);
}

/// Moments of ab (equivalently of a^{1/2} b a^{1/2}) for free a, b: S_{ab} = S_a S_b. Needs m1 != 0 for both.
template <class T>
std::vector<T> free_multiplicative_convolution(const std::vector<T>& a, const std::vector<T>& b) {
  const std::size_t k = std::min(a.size(), b.size());
  if (k == 0) return {};
  if (a[0] == 0 || b[0] == 0)
    throw invalid_argument("free_multiplicative_convolution: a first moment is 0; the S-transform needs m1 != 0");
  const auto sa = s_transform(std::vector<T>(a.begin(), a.begin() + k));
  const auto sb = s_transform(std::vector<T>(b.begin(), b.begin() + k));
  const auto s = detail::mul(sa, sb, k - 1);
  // chi(z) = z S(z) / (1 + z): divide by (1 + z) as a series, shift by one
  std::vector<T> chi(k + 1, T(0));
  T prev = T(0);
  for (std::size_t j = 0; j < k; ++j) {
    const T q = s[j] - prev;  // coefficients of S/(1+z)
    chi[j + 1] = q;
    prev = q;
  }
  const auto psi = detail::inverse_series(chi, k, "free_multiplicative_convolution");
  return std::vector<T>(psi.begin() + 1, psi.end());
}

/// A letter of a word in several free families: (family, symbol).
struct FreeLetter {
  int family;
  int symbol;
};

/// Free cumulants of one family from its joint moments: returns a memoized callable
/// kappa(family, symbols) built from `moment(family, symbols)` (the tau of that ordered product) by the
/// first-block expansion m(s) = sum_{V containing the first} kappa(V) prod_gaps m(gap) (Moebius inversion on NC).
template <class T, class MomentFn>
auto cumulants_from_moments(MomentFn moment) {
  auto memo = std::make_shared<std::map<std::pair<int, std::vector<int>>, T>>();
  auto self = std::make_shared<std::function<T(int, const std::vector<int>&)>>();
  *self = [memo, moment, weak = std::weak_ptr<std::function<T(int, const std::vector<int>&)>>(self)](
              int f, const std::vector<int>& sy) -> T {
    auto key = std::make_pair(f, sy);
    if (auto it = memo->find(key); it != memo->end()) return it->second;
    auto kappa = weak.lock();
    const std::size_t m = sy.size();
    T r = moment(f, sy);
    for (std::uint64_t mask = 0; mask + 1 < (std::uint64_t(1) << (m - 1)); ++mask) {
      std::vector<std::size_t> block{0};
      for (std::size_t b = 1; b < m; ++b)
        if (mask >> (b - 1) & 1) block.push_back(b);
      std::vector<int> bs;
      for (auto b : block) bs.push_back(sy[b]);
      T k = (*kappa)(f, bs);
      for (std::size_t b = 0; b < block.size() && k != 0; ++b) {
        const std::size_t from = block[b] + 1, to = b + 1 < block.size() ? block[b + 1] : m;
        if (from < to) k *= moment(f, std::vector<int>(sy.begin() + from, sy.begin() + to));
      }
      r -= k;
    }
    memo->emplace(key, r);
    return r;
  };
  // The returned callable owns the recursion (and through it the memo).
  return [self](int f, const std::vector<int>& sy) { return (*self)(f, sy); };
}

/// tau(a_1 ... a_n) for letters from mutually free families, given the free cumulants within each family:
/// `kappa(family, symbols)`. Sum over non-crossing partitions whose blocks stay in one family of products of
/// free cumulants (mixed cumulants vanish: Nica & Speicher, Thm 11.20), expanded by the block of the first
/// letter and memoized on intervals. Words up to 24 letters.
template <class T, class KappaFn>
T mixed_moment_from_cumulants(const std::vector<FreeLetter>& word, KappaFn&& kappa) {
  const int n = static_cast<int>(word.size());
  if (n > 24) throw invalid_argument("mixed_moment_free: at most 24 letters, got " + std::to_string(n));
  std::map<std::pair<int, int>, T> memo;
  std::function<T(int, int)> tau = [&](int i, int j) -> T {
    if (i >= j) return T(1);
    auto key = std::make_pair(i, j);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
    std::vector<int> same;
    for (int k = i + 1; k < j; ++k)
      if (word[k].family == word[i].family) same.push_back(k);
    T total = T(0);
    for (std::uint64_t mask = 0; mask < (std::uint64_t(1) << same.size()); ++mask) {
      std::vector<int> block{i}, sy{word[i].symbol};
      for (std::size_t b = 0; b < same.size(); ++b)
        if (mask >> b & 1) block.push_back(same[b]), sy.push_back(word[same[b]].symbol);
      T k = kappa(word[i].family, sy);
      for (std::size_t b = 0; b < block.size() && k != 0; ++b)
        k *= tau(block[b] + 1, b + 1 < block.size() ? block[b + 1] : j);
      total += k;
    }
    memo.emplace(key, total);
    return total;
  };
  return tau(0, n);
}

/// tau(a_1 ... a_n) for letters from mutually free families, given each family's joint moments:
/// `moment(family, symbols)` returns tau of the product of those symbols of that family, in order.
template <class T, class MomentFn>
T mixed_moment_free(const std::vector<FreeLetter>& word, MomentFn&& moment) {
  return mixed_moment_from_cumulants<T>(word, cumulants_from_moments<T>(std::forward<MomentFn>(moment)));
}

}  // namespace netsor::free

// trace_limit.cpp — infinite-width normalized traces of matrix words (shared/API.md, `lim.trace`).
//
// By the Free Independence Principle (Yang, Tensor Programs III, Thm 4.2) each Gaussian pair {W, W^T} is
// asymptotically a circular element (a Wigner S a semicircular one), free from the other matrices and from the
// algebra of the program's diagonal matrices diag(v), whose joint law is that of the Z's (Master Theorem).
// Haar orthogonal O used as the evaluator allows is a Haar unitary free from the diagonals (Hayase & Collins
// 2021). A mixed moment of free families is the sum over non-crossing partitions whose blocks stay inside one
// family of products of free cumulants (Nica & Speicher, Lectures on the Combinatorics of Free Probability,
// Lecture 11). We expand by the block that contains the first letter: with V = {1 = v_1 < ... < v_s},
//     tau(a_1 ... a_n) = sum_V kappa(a_V) * prod_gaps tau(gap),
// memoized on intervals. Free cumulants: circular kappa(c, c*) = kappa(c*, c) = sigma^2; semicircular
// kappa_2 = sigma^2; Haar unitary kappa_{2m}(u, u*, ..., u, u*) = (-1)^{m-1} C_{m-1} (Nica–Speicher, Prop.
// 15.1) times sigma^{2m}; the diagonal family's cumulants come from its moments by Moebius inversion.
#include <netsor/free/toolkit.hpp>
#include <netsor/limit/detail/limit_state.hpp>
#include <netsor/limit/limit.hpp>
#include <netsor/program/detail/program_data.hpp>

#include <algorithm>
#include <map>

namespace netsor {

namespace detail {

namespace {

// The free cumulants of the matrix families, in closed form (see the file comment); `symbol` 0 is W, 1 is W^T.
template <class T>
T matrix_cumulant(const ProgramData& d, int matrix, const std::vector<int>& sy) {
  const auto& node = d.nodes[matrix];
  const T var = node.variance.exact;  // T is Rational or Real; Real converts from Rational below
  const std::size_t n = sy.size();
  switch (node.matrix_kind) {
    case MatrixKind::Wigner: return n == 2 ? var : T(0);
    case MatrixKind::Gaussian: return n == 2 && sy[0] != sy[1] ? var : T(0);
    case MatrixKind::Orthogonal: {
      if (n % 2) return T(0);
      for (std::size_t t = 1; t < n; ++t)
        if (sy[t] == sy[t - 1]) return T(0);
      const std::size_t m = n / 2;
      Integer c = 1;  // Catalan C_{m-1}
      for (std::size_t t = 0; t + 1 < m; ++t) c = c * 2 * (2 * t + 1) / (t + 2);
      T r = T(Rational(c));
      if ((m - 1) % 2) r = -r;
      for (std::size_t t = 0; t < m; ++t) r *= var;
      return r;
    }
  }
  return T(0);
}

template <class T>
std::optional<T> word_trace(Evaluator<T>& ev, const ProgramData& d, const Word& w) {
  std::vector<free::FreeLetter> word;
  std::vector<const Expr*> diags;
  constexpr int diag_family = -1;
  for (const auto& l : w.letters()) {
    if (l.kind == Letter::Kind::Diag) {
      word.push_back({diag_family, static_cast<int>(diags.size())});
      diags.push_back(&l.diag);
    } else {
      word.push_back({l.matrix, l.transposed ? 1 : 0});
    }
  }
  // Joint moments of the (commutative) diagonal family from the Master Theorem.
  bool failed = false;
  std::map<std::vector<int>, T> dmom;
  auto diag_moment = [&](int, std::vector<int> sy) -> T {
    if (sy.empty()) return T(1);
    std::sort(sy.begin(), sy.end());
    if (auto it = dmom.find(sy); it != dmom.end()) return it->second;
    Expr prod;
    std::int32_t r = prod.append(*diags[sy[0]]);
    for (std::size_t t = 1; t < sy.size(); ++t) r = prod.binary(Op::Mul, r, prod.append(*diags[sy[t]]));
    auto v = ev.expect(prod, "tau(diag product)");
    if (!v) failed = true;
    return dmom[sy] = v ? *v : T(0);
  };
  auto diag_kappa = free::cumulants_from_moments<T>(diag_moment);
  const T v = free::mixed_moment_from_cumulants<T>(word, [&](int f, const std::vector<int>& sy) -> T {
    return f == diag_family ? diag_kappa(f, sy) : matrix_cumulant<T>(d, f, sy);
  });
  if (failed) return std::nullopt;
  return v;
}

}  // namespace

}  // namespace detail

Estimate Limit::trace(const Word& w) const {
  const auto& d = state_->data();
  if (w.empty()) throw invalid_program("Limit::trace: empty word");
  if (w.data() != &d) throw invalid_program("Limit::trace: the word " + w.to_string() + " belongs to another program");
  if (!w.square())
    throw invalid_program("Limit::trace: the word " + w.to_string() + " is " + d.dims[w.letters().front().rows].name +
                          " x " + d.dims[w.letters().back().cols].name + ", not square");
  const auto dim = w.letters().front().rows;
  for (const auto& l : w.letters()) {
    if (l.rows != dim || l.cols != dim)
      throw invalid_program("Limit::trace: the letter " + (l.kind == Letter::Kind::Matrix ? d.nodes[l.matrix].name : std::string("diag")) +
                            " in " + w.to_string() + " is not " + d.dims[dim].name + " x " + d.dims[dim].name +
                            "; infinite-width traces of words with rectangular letters are not supported yet");
    if (l.kind == Letter::Kind::Matrix && l.matrix >= static_cast<std::int32_t>(d.nodes.size()))
      throw invalid_program("Limit::trace: a matrix was added after the limit was built");
  }
  if (w.letters().size() > 24)
    throw invalid_argument("Limit::trace: words of more than 24 letters are not supported (got " +
                           std::to_string(w.letters().size()) + ")");
  const std::string name = "tau(" + w.to_string() + ")";
  return state_->certify(
      name,
      [&](detail::Evaluator<Rational>& ev) { return detail::word_trace<Rational>(ev, d, w); },
      [&](detail::Evaluator<Real>& ev) { return detail::word_trace<Real>(ev, d, w); });
}

}  // namespace netsor

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
#include <netsor/limit/detail/limit_state.hpp>
#include <netsor/limit/limit.hpp>
#include <netsor/program/detail/program_data.hpp>

#include <algorithm>
#include <map>

namespace netsor {

namespace detail {

namespace {

struct TLetter {
  int family;      // -1: the diagonal family; otherwise a matrix node id
  int symbol;      // diagonal: index into the diag expressions; matrix: 0 = W, 1 = W^T
};

template <class T>
class TraceEvaluator {
 public:
  TraceEvaluator(Evaluator<T>& ev, const ProgramData& d, const Word& w) : ev_(ev), d_(d) {
    for (const auto& l : w.letters()) {
      if (l.kind == Letter::Kind::Diag) {
        letters_.push_back({-1, static_cast<int>(diags_.size())});
        diags_.push_back(&l.diag);
      } else {
        letters_.push_back({l.matrix, l.transposed ? 1 : 0});
      }
    }
  }

  std::optional<T> trace() {
    failed_ = false;
    T v = tau(0, static_cast<int>(letters_.size()));
    if (failed_) return std::nullopt;
    return v;
  }

 private:
  // tau of the letters in [i, j).
  T tau(int i, int j) {
    if (i >= j) return T(1);
    auto key = std::make_pair(i, j);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    std::vector<int> same;  // positions after i in the same family as letter i
    for (int k = i + 1; k < j; ++k)
      if (letters_[k].family == letters_[i].family) same.push_back(k);
    T total = T(0);
    const auto m = same.size();
    for (std::uint64_t mask = 0; mask < (std::uint64_t(1) << m) && !failed_; ++mask) {
      std::vector<int> block{i};
      for (std::size_t b = 0; b < m; ++b)
        if (mask >> b & 1) block.push_back(same[b]);
      T k = cumulant(block);
      if (failed_) break;
      if (k == 0) continue;
      for (std::size_t b = 0; b < block.size() && k != 0; ++b) {
        const int from = block[b] + 1, to = b + 1 < block.size() ? block[b + 1] : j;
        k *= tau(from, to);
      }
      total += k;
    }
    memo_[key] = total;
    return total;
  }

  // Free cumulant of the letters at the given positions (all of one family).
  T cumulant(const std::vector<int>& pos) {
    const int fam = letters_[pos[0]].family;
    const std::size_t n = pos.size();
    if (fam < 0) return diag_cumulant(pos);
    const auto& node = d_.nodes[fam];
    const T var = from_q(node.variance.exact);
    switch (node.matrix_kind) {
      case MatrixKind::Wigner:
        return n == 2 ? var : T(0);
      case MatrixKind::Gaussian:
        return n == 2 && letters_[pos[0]].symbol != letters_[pos[1]].symbol ? var : T(0);
      case MatrixKind::Orthogonal: {
        if (n % 2) return T(0);
        for (std::size_t t = 1; t < n; ++t)
          if (letters_[pos[t]].symbol == letters_[pos[t - 1]].symbol) return T(0);
        const std::size_t mm = n / 2;
        // (-1)^{m-1} C_{m-1} sigma^{2m}
        Integer c = 1;
        for (std::size_t t = 0; t < mm - 1; ++t) c = c * 2 * (2 * t + 1) / (t + 2);
        T r = from_q(Rational(c));
        if ((mm - 1) % 2) r = -r;
        for (std::size_t t = 0; t < mm; ++t) r *= var;
        return r;
      }
    }
    return T(0);
  }

  // Cumulants of the commutative diagonal family by Moebius inversion: kappa(S) = m(S) - sum over non-crossing
  // partitions of S other than {S} of products of cumulants; computed by the same first-block recursion on the
  // moment: m(S) = sum_{V containing the first} kappa(V) prod_gaps m(gap).
  T diag_cumulant(const std::vector<int>& pos) {
    std::vector<int> syms;
    for (int p : pos) syms.push_back(letters_[p].symbol);
    if (auto it = dcum_.find(syms); it != dcum_.end()) return it->second;
    // m(S) - [sum over V strictly smaller than S containing the first element]
    T r = diag_moment(syms);
    if (failed_) return T(0);
    const std::size_t n = syms.size();
    for (std::uint64_t mask = 0; mask + 1 < (std::uint64_t(1) << (n - 1)); ++mask) {
      std::vector<int> block{0};
      for (std::size_t b = 1; b < n; ++b)
        if (mask >> (b - 1) & 1) block.push_back(static_cast<int>(b));
      std::vector<int> bsyms;
      for (int b : block) bsyms.push_back(syms[b]);
      // the letters of `pos` at `block` positions form the cumulant; gaps are moments of the sub-words
      std::vector<int> bpos;
      for (int b : block) bpos.push_back(pos[b]);
      T k = diag_cumulant(bpos);
      for (std::size_t b = 0; b < block.size() && k != 0; ++b) {
        const int from = block[b] + 1, to = b + 1 < block.size() ? block[b + 1] : static_cast<int>(n);
        std::vector<int> gap(syms.begin() + from, syms.begin() + to);
        k *= diag_moment(gap);
      }
      r -= k;
    }
    dcum_[syms] = r;
    return r;
  }

  T diag_moment(std::vector<int> syms) {
    if (syms.empty()) return T(1);
    std::sort(syms.begin(), syms.end());  // the diagonal family is commutative
    if (auto it = dmom_.find(syms); it != dmom_.end()) return it->second;
    Expr prod;
    std::int32_t r = prod.append(*diags_[syms[0]]);
    for (std::size_t t = 1; t < syms.size(); ++t) r = prod.binary(Op::Mul, r, prod.append(*diags_[syms[t]]));
    auto v = ev_.expect(prod, "tau(diag product)");
    if (!v) {
      failed_ = true;
      return T(0);
    }
    dmom_[syms] = *v;
    return *v;
  }

  static T from_q(const Rational& q) {
    if constexpr (std::is_same_v<T, Rational>) return q;
    else return to_real(q);
  }

  Evaluator<T>& ev_;
  const ProgramData& d_;
  std::vector<TLetter> letters_;
  std::vector<const Expr*> diags_;
  std::map<std::pair<int, int>, T> memo_;
  std::map<std::vector<int>, T> dcum_, dmom_;
  bool failed_ = false;
};

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
      [&](detail::Evaluator<Rational>& ev) { return detail::TraceEvaluator<Rational>(ev, d, w).trace(); },
      [&](detail::Evaluator<Real>& ev) { return detail::TraceEvaluator<Real>(ev, d, w).trace(); });
}

}  // namespace netsor

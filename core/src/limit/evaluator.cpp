// evaluator.cpp — the Master Theorem evaluator (see limit/detail/evaluator.hpp and shared/MATH.md).
//
// Z rules (shared/MATH.md, "The Master Theorem"; Yang, Tensor Programs III, Def. 2.4 and Thm 2.5):
//   input        Z = atom of its family (covariance as given)
//   W h          Z = atom + sigma^2 sum_{x: W^T x earlier} Z^x E[dZ^h / dZhat^{W^T x}]
//   W^T x        Z = atom + sigma^2 (r/c) sum_{h: W h earlier} Z^h E[dZ^x / dZhat^{W h}]
//   S h (Wigner) Z = atom + sigma^2 sum_{y: S y earlier} Z^y E[dZ^h / dZhat^{S y}]
//   O h (Haar)   Z = atom (h must not depend on O);  O^T (O h) = sigma^2 h;  anything else is not covered.
// Atom covariances: Cov(Zhat^{W y}, Zhat^{W y'}) = sigma^2 E[Z^y Z^y'] (times r/c for W^T).
#include <netsor/errors.hpp>
#include <netsor/limit/detail/evaluator.hpp>
#include <netsor/limit/gaussian_quadrature.hpp>
#include <netsor/limit/wick.hpp>
#include <netsor/program/expr_eval.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <cmath>
#include <numeric>
#include <sstream>

namespace netsor::detail {

namespace {

template <class T>
T from_rational(const Rational& q) {
  if constexpr (std::is_same_v<T, Rational>) return q;
  else return to_real(q);
}

template <class T>
T abs_value(const T& x) {
  return x < 0 ? T(-x) : x;
}

/// An affine form c + sum a_i atom_i (sparse, sorted by atom).
template <class T>
struct Affine {
  T c = T(0);
  std::vector<std::pair<std::int32_t, T>> a;
  bool constant() const { return a.empty(); }
};

template <class T>
Affine<T> combine(const Affine<T>& x, const Affine<T>& y, const T& sy) {  // x + sy * y
  Affine<T> r;
  r.c = x.c + sy * y.c;
  std::size_t i = 0, j = 0;
  while (i < x.a.size() || j < y.a.size()) {
    if (j == y.a.size() || (i < x.a.size() && x.a[i].first < y.a[j].first)) {
      r.a.push_back(x.a[i++]);
    } else if (i == x.a.size() || y.a[j].first < x.a[i].first) {
      r.a.emplace_back(y.a[j].first, sy * y.a[j].second);
      ++j;
    } else {
      T v = x.a[i].second + sy * y.a[j].second;
      if (v != 0) r.a.emplace_back(x.a[i].first, v);
      ++i, ++j;
    }
  }
  return r;
}

template <class T>
Affine<T> scaled(Affine<T> x, const T& s) {
  x.c *= s;
  for (auto& [i, v] : x.a) v *= s;
  if (s == 0) x.a.clear();
  return x;
}

// Digits of the working precision kept for rounding when asking the quadrature for a target.
constexpr unsigned rounding_guard = 6;

bool is_kink(Op op) { return op == Op::Relu || op == Op::Abs || op == Op::Step || op == Op::Sign; }

bool is_polynomial_op(Op op) {
  return op == Op::Add || op == Op::Sub || op == Op::Mul || op == Op::Neg || op == Op::Pow;
}

}  // namespace

/// The affine structure of an integrand: which nodes are affine in the atoms, which feed nonlinear operations.
template <class T>
struct Analysis {
  bool available = true;                      // false: some constant is not available in T
  std::vector<std::optional<Affine<T>>> aff;  // per node: affine form, or nullopt if not affine
  std::vector<std::int32_t> frontier;         // nodes (with atoms) that feed non-affine nodes, or the root
  std::vector<std::int32_t> frontier_of;      // node -> frontier index or -1
  std::vector<char> live;
  bool polynomial = true;                     // every non-affine live node is a polynomial operation
};

template <class T>
static Analysis<T> analyze(const Expr& f, const std::vector<std::optional<T>>& slots) {
  Analysis<T> an;
  const auto n = f.nodes.size();
  an.aff.resize(n);
  an.frontier_of.assign(n, -1);
  an.live = f.live_mask();
  for (std::size_t i = 0; i < n; ++i) {
    if (!an.live[i]) continue;
    const auto& nd = f.nodes[i];
    auto& out = an.aff[i];
    auto A = [&](std::int32_t j) -> const std::optional<Affine<T>>& { return an.aff[j]; };
    switch (nd.op) {
      case Op::Var: out = Affine<T>{T(0), {{nd.ref, T(1)}}}; break;
      case Op::Const: out = Affine<T>{from_rational<T>(f.constants[nd.ref]), {}}; break;
      case Op::Sca:
        if (!slots[nd.ref]) {
          an.available = false;
          return an;
        }
        out = Affine<T>{*slots[nd.ref], {}};
        break;
      case Op::Vec: throw invalid_program("internal: program vector leaf in an atom expression");
      case Op::Add:
        if (A(nd.a) && A(nd.b)) out = combine(*A(nd.a), *A(nd.b), T(1));
        break;
      case Op::Sub:
        if (A(nd.a) && A(nd.b)) out = combine(*A(nd.a), *A(nd.b), T(-1));
        break;
      case Op::Neg:
        if (A(nd.a)) out = scaled(*A(nd.a), T(-1));
        break;
      case Op::Mul:
        if (A(nd.a) && A(nd.b)) {
          if (A(nd.a)->constant()) out = scaled(*A(nd.b), A(nd.a)->c);
          else if (A(nd.b)->constant()) out = scaled(*A(nd.a), A(nd.b)->c);
        }
        break;
      case Op::Div:
        if (A(nd.a) && A(nd.b) && A(nd.b)->constant() && A(nd.b)->c != 0) out = scaled(*A(nd.a), T(1) / A(nd.b)->c);
        break;
      default:
        // A nonlinear operation of a constant is a constant (in Rational only when polynomial).
        if (A(nd.a) && A(nd.a)->constant()) {
          if (nd.op == Op::Pow) {
            out = Affine<T>{ScalarOps<T>::pow(A(nd.a)->c, nd.k), {}};
          } else if constexpr (std::is_same_v<T, Real>) {
            if (nd.op == Op::PowC) out = Affine<T>{ScalarOps<Real>::powc(A(nd.a)->c, to_real(f.constants[nd.ref])), {}};
            else out = Affine<T>{ScalarOps<Real>::apply(nd.op, A(nd.a)->c), {}};
          } else {
            an.available = false;
            return an;
          }
        }
        break;
    }
  }
  // Frontier: affine nodes with atoms used by a non-affine node; the root if affine.
  auto mark = [&](std::int32_t j) {
    if (j >= 0 && an.aff[j] && !an.aff[j]->constant() && an.frontier_of[j] < 0) {
      an.frontier_of[j] = static_cast<std::int32_t>(an.frontier.size());
      an.frontier.push_back(j);
    }
  };
  for (std::size_t i = 0; i < n; ++i) {
    if (!an.live[i] || an.aff[i]) continue;
    const auto& nd = f.nodes[i];
    mark(nd.a);
    mark(nd.b);
    const bool poly = is_polynomial_op(nd.op) ||
                      (nd.op == Op::Div && an.aff[nd.b] && an.aff[nd.b]->constant());
    if (!poly) an.polynomial = false;
  }
  mark(static_cast<std::int32_t>(n) - 1);
  return an;
}

// ------------------------------------------------------------------------------------------ construction
template <class T>
Evaluator<T>::Evaluator(const ProgramData& d, unsigned digits) : d_(d), digits_(digits) {
  build();
}

template <class T>
std::int32_t Evaluator<T>::new_slot(std::optional<T> v) {
  slots_.push_back(std::move(v));
  return static_cast<std::int32_t>(slots_.size() - 1);
}

template <class T>
std::optional<T> Evaluator<T>::atom_covariance(std::int32_t i, std::int32_t j) const {
  if (atoms_[i].group != atoms_[j].group) return T(0);
  return group_cov_[atoms_[i].group][atom_index_in_group_[i]][atom_index_in_group_[j]];
}

template <class T>
std::int32_t Evaluator<T>::graph_from_program_expr(const Expr& e) {
  std::vector<std::int32_t> map(e.nodes.size(), -1);
  for (std::size_t i = 0; i < e.nodes.size(); ++i) {
    ExprNode n = e.nodes[i];
    switch (n.op) {
      case Op::Vec: map[i] = z_[n.ref]; break;
      case Op::Sca: map[i] = graph_.leaf(Op::Sca, slot_of_moment_[n.ref]); break;
      case Op::Const: map[i] = graph_.constant(e.constants[n.ref]); break;
      case Op::PowC: map[i] = graph_.powc(map[n.a], e.constants[n.ref]); break;
      case Op::Var: throw invalid_program("internal: abstract variable in a program expression");
      default:
        if (n.a >= 0) n.a = map[n.a];
        if (n.b >= 0) n.b = map[n.b];
        graph_.nodes.push_back(n);
        map[i] = graph_.root();
    }
  }
  return map.empty() ? graph_.constant(0) : map.back();
}

template <class T>
void Evaluator<T>::build() {
  const auto n = d_.nodes.size();
  z_.assign(n, -1);
  slot_of_moment_.assign(n, -1);
  std::vector<std::vector<std::int32_t>> orth(n);  // orthogonal matrices each vector depends on
  std::vector<std::int32_t> family_group(d_.families.size(), -1);
  std::map<std::pair<std::int32_t, bool>, std::int32_t> matrix_group;
  // Earlier MatMul nodes per (matrix, transposed): their atom and argument.
  struct Use {
    std::int32_t node, atom, arg;
  };
  std::map<std::pair<std::int32_t, bool>, std::vector<Use>> uses;

  auto add_atom = [&](std::int32_t group, std::int32_t node, std::int32_t arg) {
    const auto id = static_cast<std::int32_t>(atoms_.size());
    atoms_.push_back({group, node, arg});
    atom_index_in_group_.push_back(static_cast<std::int32_t>(groups_[group].atoms.size()));
    groups_[group].atoms.push_back(id);
    auto& cov = group_cov_[group];
    for (auto& row : cov) row.emplace_back();
    cov.emplace_back(cov.size() + 1);
    return id;
  };
  auto new_group = [&](std::string name) {
    groups_.push_back({std::move(name), {}});
    group_cov_.emplace_back();
    return static_cast<std::int32_t>(groups_.size() - 1);
  };

  for (std::size_t i = 0; i < n; ++i) {
    const auto& node = d_.nodes[i];
    const auto id = static_cast<std::int32_t>(i);
    switch (node.kind) {
      case NodeKind::Matrix: break;
      case NodeKind::Input: {
        auto& g = family_group[node.family];
        const auto& fam = d_.families[node.family];
        if (g < 0) {
          std::string nm;
          for (auto m : fam.members) nm += (nm.empty() ? "" : ", ") + d_.nodes[m].name;
          g = new_group("inputs {" + nm + "}");
        }
        const auto a = add_atom(g, id, -1);
        auto& cov = group_cov_[g];
        const auto k = atom_index_in_group_[a];
        for (std::int32_t b = 0; b <= k; ++b) {
          const auto other = d_.nodes[atoms_[groups_[g].atoms[b]].node].member;
          cov[k][b] = cov[b][k] = from_rational<T>(fam.covariance[node.member][other].exact);
        }
        z_[i] = graph_.leaf(Op::Var, a);
        break;
      }
      case NodeKind::MatMul: {
        const auto& m = d_.nodes[node.matrix];
        const auto arg = node.arg;
        const Rational var = m.variance.exact;
        orth[i] = orth[arg];
        if (m.matrix_kind == MatrixKind::Orthogonal) {
          if (node.transposed) {
            const auto& an = d_.nodes[arg];
            if (an.kind == NodeKind::MatMul && an.matrix == node.matrix && !an.transposed) {
              // O^T O = sigma^2 I exactly.
              const auto c = graph_.constant(var);
              z_[i] = graph_.binary(Op::Mul, c, z_[an.arg]);
              orth[i] = orth[an.arg];
              break;
            }
            throw invalid_program("limit: " + node.name + " = " + m.name + "^T * " + an.name + ": the limit of a Haar "
                                  "orthogonal transpose is covered only as " + m.name + "^T (" + m.name +
                                  " h) = h; here '" + an.name + "' is not a product by " + m.name);
          }
          if (std::find(orth[arg].begin(), orth[arg].end(), node.matrix) != orth[arg].end())
            throw invalid_program("limit: " + node.name + " = " + m.name + " * " + d_.nodes[arg].name + ": '" +
                                  d_.nodes[arg].name + "' depends on the Haar orthogonal matrix " + m.name +
                                  "; the limit is covered only for orthogonal matrices applied to vectors "
                                  "independent of them");
          orth[i].push_back(node.matrix);
          std::sort(orth[i].begin(), orth[i].end());
        }
        const bool wigner = m.matrix_kind == MatrixKind::Wigner;
        const bool tr = node.transposed && !wigner;  // S^T = S
        const auto key = std::make_pair(node.matrix, tr);
        auto git = matrix_group.find(key);
        if (git == matrix_group.end())
          git = matrix_group.emplace(key, new_group(m.name + (tr ? "^T" : ""))).first;
        const auto g = git->second;
        // Variance scale of this family: sigma^2, times r/c for the transpose of a Gaussian matrix.
        Rational scale = var;
        if (tr) scale *= d_.dims[m.rows].ratio / d_.dims[m.cols].ratio;
        const auto a = add_atom(g, id, arg);
        auto& cov = group_cov_[g];
        const auto k = atom_index_in_group_[a];
        for (std::int32_t b = 0; b <= k; ++b) {
          const auto other_arg = atoms_[groups_[g].atoms[b]].arg;
          // Earlier argument first, as a user's Moment `x * y` would write it, so that the memo is shared.
          Expr prod;
          const auto r1 = prod.append(z_of(other_arg));
          const auto r2 = prod.append(z_of(arg));
          prod.binary(Op::Mul, r1, r2);
          auto e = expect_atoms(prod, "Cov(" + node.name + ", " + d_.nodes[atoms_[groups_[g].atoms[b]].node].name + ")");
          std::optional<T> v;
          if (e) v = from_rational<T>(scale) * *e;
          cov[k][b] = cov[b][k] = v;
        }
        // Zdot: the partner family (W^T for W, W for W^T, S itself for S).
        std::int32_t zi = graph_.leaf(Op::Var, a);
        if (m.matrix_kind != MatrixKind::Orthogonal) {
          const auto partner = wigner ? key : std::make_pair(node.matrix, !tr);
          Rational dscale = var;
          if (!wigner && tr) dscale *= d_.dims[m.rows].ratio / d_.dims[m.cols].ratio;
          for (const auto& u : uses[partner]) {
            auto c = expect_derivative(z_[arg], u.atom,
                                       "E[d" + d_.nodes[arg].name + "/dZhat^" + d_.nodes[u.node].name + "]");
            if (c && *c == 0) continue;
            std::optional<T> coef;
            if (c) coef = from_rational<T>(dscale) * *c;
            const auto s = graph_.leaf(Op::Sca, new_slot(coef));
            const auto term = graph_.binary(Op::Mul, s, z_[u.arg]);
            zi = graph_.binary(Op::Add, zi, term);
          }
        }
        uses[key].push_back({id, a, arg});
        z_[i] = zi;
        break;
      }
      case NodeKind::Nonlin: {
        for (auto v : node.expr.leaves(Op::Vec)) {
          orth[i].insert(orth[i].end(), orth[v].begin(), orth[v].end());
        }
        std::sort(orth[i].begin(), orth[i].end());
        orth[i].erase(std::unique(orth[i].begin(), orth[i].end()), orth[i].end());
        z_[i] = graph_from_program_expr(node.expr);
        break;
      }
      case NodeKind::Moment: {
        const auto root = graph_from_program_expr(node.expr);
        slot_of_moment_[i] = new_slot(expect_graph(root, "moment '" + node.name + "'"));
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------- expectations
template <class T>
std::optional<T> Evaluator<T>::moment(std::int32_t id) {
  return slots_[slot_of_moment_[id]];
}

template <class T>
std::optional<T> Evaluator<T>::expect(const Expr& e, const std::string& what) {
  const auto root = graph_from_program_expr(e);
  return expect_graph(root, what);
}

template <class T>
std::optional<T> Evaluator<T>::expect_graph(std::int32_t root, const std::string& what) {
  return expect_atoms(graph_.extract(root), what);
}

template <class T>
std::optional<T> Evaluator<T>::expect_atoms(const Expr& e, const std::string& what) {
  const Expr f = e.simplified();
  const std::string key = f.to_string([](Op op, std::int32_t r) {
    return (op == Op::Var ? "a" : "s") + std::to_string(r);
  });
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;
  // Linearity: split the top-level sums and constant factors into terms.
  std::vector<char> has_atom(f.nodes.size(), 0);
  for (std::size_t i = 0; i < f.nodes.size(); ++i) {
    const auto& n = f.nodes[i];
    has_atom[i] = n.op == Op::Var || (n.a >= 0 && has_atom[n.a]) || (n.b >= 0 && has_atom[n.b]);
  }
  auto const_value = [&](std::int32_t j) -> std::optional<T> {
    Expr c = f.extract(j);
    bool ok = true;
    T v = T(0);
    try {
      v = evaluate<T>(c, [&](Op op, std::int32_t r) -> T {
        if (op == Op::Sca && slots_[r]) return *slots_[r];
        ok = false;
        return T(0);
      });
    } catch (const invalid_program&) {
      ok = false;  // a transcendental constant in the exact path
    }
    if (!ok) return std::nullopt;
    return v;
  };
  struct Term {
    T coef;
    std::int32_t node;
  };
  std::vector<Term> terms;
  std::optional<T> total = T(0);
  std::vector<std::pair<std::int32_t, T>> stack{{f.root(), T(1)}};
  while (!stack.empty() && total) {
    auto [j, c] = stack.back();
    stack.pop_back();
    const auto& n = f.nodes[j];
    if (!has_atom[j]) {
      auto v = const_value(j);
      if (!v) total.reset();
      else *total += c * *v;
      continue;
    }
    switch (n.op) {
      case Op::Add: stack.push_back({n.a, c}); stack.push_back({n.b, c}); break;
      case Op::Sub: stack.push_back({n.a, c}); stack.push_back({n.b, T(-c)}); break;
      case Op::Neg: stack.push_back({n.a, T(-c)}); break;
      case Op::Mul:
        if (!has_atom[n.a] || !has_atom[n.b]) {
          const auto cj = has_atom[n.a] ? n.b : n.a;
          auto v = const_value(cj);
          if (!v) { total.reset(); break; }
          stack.push_back({has_atom[n.a] ? n.a : n.b, T(c * *v)});
        } else {
          terms.push_back({c, j});
        }
        break;
      case Op::Div:
        if (!has_atom[n.b]) {
          auto v = const_value(n.b);
          if (!v || *v == 0) { total.reset(); break; }
          stack.push_back({n.a, T(c / *v)});
        } else {
          terms.push_back({c, j});
        }
        break;
      case Op::Var: break;  // atoms are centered
      default: terms.push_back({c, j}); break;
    }
  }
  for (const auto& t : terms) {
    if (!total) break;
    auto v = expect_product(f.extract(t.node), what);
    if (!v) total.reset();
    else *total += t.coef * *v;
  }
  memo_[key] = total;
  return total;
}

// A product of factors over independent atom groups is the product of the expectations.
template <class T>
std::optional<T> Evaluator<T>::expect_product(const Expr& f, const std::string& what) {
  // Flatten the top-level product.
  std::vector<std::int32_t> factors, stack{f.root()};
  while (!stack.empty()) {
    const auto j = stack.back();
    stack.pop_back();
    if (f.nodes[j].op == Op::Mul) {
      stack.push_back(f.nodes[j].a);
      stack.push_back(f.nodes[j].b);
    } else {
      factors.push_back(j);
    }
  }
  if (factors.size() < 2) return integrate(f, what);
  // Groups touched by each factor; union-find over groups.
  std::vector<std::int32_t> parent(groups_.size());
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](std::int32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  std::vector<std::vector<std::int32_t>> fgroups(factors.size());
  for (std::size_t k = 0; k < factors.size(); ++k) {
    Expr fe = f.extract(factors[k]);
    for (auto a : fe.leaves(Op::Var)) fgroups[k].push_back(atoms_[a].group);
    for (std::size_t t = 1; t < fgroups[k].size(); ++t) parent[find(fgroups[k][t])] = find(fgroups[k][0]);
  }
  std::map<std::int32_t, std::vector<std::int32_t>> components;  // root group -> factors
  std::vector<std::int32_t> constants;
  for (std::size_t k = 0; k < factors.size(); ++k) {
    if (fgroups[k].empty()) constants.push_back(factors[k]);
    else components[find(fgroups[k][0])].push_back(factors[k]);
  }
  if (components.size() < 2) return integrate(f, what);
  std::optional<T> result = T(1);
  for (auto c : constants) {
    auto v = integrate(f.extract(c), what);
    if (!v) return std::nullopt;
    *result *= *v;
  }
  for (const auto& [g, fs] : components) {
    Expr prod;
    std::int32_t r = prod.append(f.extract(fs[0]));
    for (std::size_t t = 1; t < fs.size(); ++t) r = prod.binary(Op::Mul, r, prod.append(f.extract(fs[t])));
    auto v = expect_atoms(prod, what);
    if (!v) return std::nullopt;
    *result *= *v;
  }
  return result;
}

namespace {

/// Pivoted Cholesky of a symmetric PSD matrix: C = L L^T with L k x r, r the numerical rank.
std::vector<std::vector<Real>> pivoted_cholesky(const std::vector<std::vector<Real>>& c, const Real& tol) {
  const std::size_t k = c.size();
  std::vector<std::vector<Real>> l(k);
  std::vector<Real> diag(k);
  for (std::size_t i = 0; i < k; ++i) diag[i] = c[i][i];
  std::vector<char> used(k, 0);
  for (std::size_t s = 0; s < k; ++s) {
    std::size_t p = k;
    for (std::size_t i = 0; i < k; ++i)
      if (!used[i] && (p == k || diag[i] > diag[p])) p = i;
    if (p == k || diag[p] <= tol) break;
    used[p] = 1;
    const Real piv = sqrt(diag[p]);
    for (std::size_t i = 0; i < k; ++i) {
      if (used[i] && i != p) {
        l[i].push_back(Real(0));
        continue;
      }
      Real v = c[i][p];
      for (std::size_t t = 0; t < s; ++t) v -= l[i][t] * l[p][t];
      v = i == p ? piv : Real(v / piv);
      l[i].push_back(v);
      if (i != p) diag[i] -= v * v;
    }
  }
  return l;
}

// An integrand of the quadrature compiled from an expression over the frontier forms l = c + L xi (xi in R^r):
//  * hot loop on raw MPFR (no temporaries): forms by fma, operations in place on one number per node;
//  * nodes that do not depend on the last coordinate xi_{r-1} are kept while xi_0..xi_{r-2} stay the same (an
//    iterated rule calls f along inner lines);
//  * on the lattice of an innermost line (GaussianIntegrand::f_lattice, xi_{r-1} = j h) tanh, sigmoid and exp of
//    a form that moves along the line are computed from exp(s l) = exp(s l_0) exp(s L_{p,r-1} h)^j by one
//    multiplication (LatticeExp) instead of an MPFR exponential: tanh l = (E - 1)/(E + 1) with E = exp(2 l),
//    sigmoid l = 1/(1 + E) with E = exp(-l);
//  * its parity under xi -> -xi, read off the expression when every form is centered (c = 0).
// Single-threaded (the evaluator runs the quadrature on one thread).
class CompiledIntegrand {
 public:
  enum class Parity { Even, Odd, None };

  CompiledIntegrand(const Expr& f, const Analysis<Real>& an, const std::vector<std::vector<Real>>& L,
                    const std::vector<Real>& centers, std::size_t r, std::int32_t weight_form)
      : f_(f), an_(an), L_(L), centers_(centers), r_(r), weight_form_(weight_form) {
    const auto n = f.nodes.size();
    const auto k = an.frontier.size();
    w_.resize(n);
    l_.resize(k);
    last_.resize(r > 0 ? r - 1 : 0);
    line_const_.assign(n, 0);
    lattice_of_.assign(n, -1);
    // A form is line-constant when its coefficient on the last coordinate is zero.
    std::vector<char> form_line_const(k, 0);
    for (std::size_t p = 0; p < k; ++p) form_line_const[p] = r >= 2 && L[p][r - 1] == 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!an.live[i]) continue;
      const auto& nd = f.nodes[i];
      if (an.frontier_of[i] >= 0) {
        line_const_[i] = form_line_const[an.frontier_of[i]];
      } else if (an.aff[i]) {
        line_const_[i] = 1;
        if (an.aff[i]->constant()) w_[i] = an.aff[i]->c;  // constants once and for all
      } else {
        line_const_[i] = (nd.a < 0 || line_const_[nd.a]) && (nd.b < 0 || line_const_[nd.b]);
        if (nd.op == Op::PowC) powc_[i] = to_real(f.constants[nd.ref]);
        // Exponentials of a form that moves along the inner line: on the lattice.
        const bool expo = nd.op == Op::Tanh || nd.op == Op::Sigmoid || nd.op == Op::Exp;
        if (expo && r >= 1 && an.frontier_of[nd.a] >= 0 && !line_const_[i]) {
          const auto p = an.frontier_of[nd.a];
          Lat lt;
          lt.node = static_cast<std::int32_t>(i);
          lt.form = p;
          lt.scale = nd.op == Op::Tanh ? 2 : (nd.op == Op::Sigmoid ? -1 : 1);
          lt.exp.set_slope(Real(L[p][r - 1] * lt.scale));
          lattice_of_[i] = static_cast<std::int32_t>(lat_.size());
          lat_.push_back(std::move(lt));
        }
      }
    }
    mpfr_prec_t gb = 0;
    for (auto& lt : lat_) gb = std::max(gb, lt.exp.bits());
    if (gb > 0) {
      mpfr_set_prec(t1_.backend().data(), gb);
      mpfr_set_prec(t2_.backend().data(), gb);
      mpfr_set_prec(tmp_.backend().data(), gb);
    }
    // Frontier nodes read only by lattice nodes need not be computed on the lattice.
    lattice_only_.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i)
      if (an.live[i] && an.frontier_of[i] >= 0) lattice_only_[i] = 1;
    for (std::size_t i = 0; i < n; ++i) {
      if (!an.live[i] || an.aff[i]) continue;
      const auto& nd = f.nodes[i];
      if (nd.a >= 0 && lattice_of_[i] < 0) lattice_only_[nd.a] = 0;
      if (nd.b >= 0) lattice_only_[nd.b] = 0;
    }
    lattice_only_[n - 1] = 0;  // the value itself
    parity_ = compute_parity();
    strip_ = compute_strip();
  }

  Parity parity() const { return parity_; }
  const std::vector<double>& strip() const { return strip_; }
  bool has_lattice() const { return !lat_.empty(); }

  Real eval(const Real* xi, bool lattice, long j, double h) {
    auto R = [](Real& x) { return x.backend().data(); };
    auto C = [](const Real& x) { return x.backend().data(); };
    // A new inner line (xi_0..xi_{r-2} changed; in 1-D there is one line)? On the same line, nodes that do not
    // depend on xi_{r-1} keep their values.
    bool new_line = !have_last_;
    for (std::size_t t = 0; !new_line && t + 1 < r_; ++t) new_line = mpfr_equal_p(C(xi[t]), C(last_[t])) == 0;
    const bool same_line = !new_line && r_ >= 2;
    if (new_line) {
      for (std::size_t t = 0; t + 1 < r_; ++t) mpfr_set(R(last_[t]), C(xi[t]), MPFR_RNDN);
      // The lattice exponents at xi_{r-1} = 0: s (c_p + sum_{t < r-1} L_{p,t} xi_t).
      for (auto& lt : lat_) {
        mpfr_set(R(tmp_), C(centers_[lt.form]), MPFR_RNDN);
        for (std::size_t t = 0; t + 1 < r_; ++t) mpfr_fma(R(tmp_), C(L_[lt.form][t]), C(xi[t]), R(tmp_), MPFR_RNDN);
        mpfr_mul_si(R(tmp_), R(tmp_), lt.scale, MPFR_RNDN);
        lt.exp.set_line(tmp_);
      }
      have_last_ = true;
    }
    for (std::size_t p = 0; p < l_.size(); ++p) {
      const auto node = an_.frontier[p];
      if ((same_line && line_const_[node]) || (lattice && lattice_only_[node])) continue;
      mpfr_set(R(l_[p]), C(centers_[p]), MPFR_RNDN);
      for (std::size_t t = 0; t < r_; ++t) mpfr_fma(R(l_[p]), C(L_[p][t]), C(xi[t]), R(l_[p]), MPFR_RNDN);
    }
    const auto& nodes = f_.nodes;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (!an_.live[i] || (same_line && line_const_[i])) continue;
      if (an_.frontier_of[i] >= 0) {
        if (!(lattice && lattice_only_[i])) mpfr_set(R(w_[i]), C(l_[an_.frontier_of[i]]), MPFR_RNDN);
        continue;
      }
      if (an_.aff[i]) continue;  // a constant (set once) or an affine node feeding only affine nodes
      const auto& nd = nodes[i];
      mpfr_ptr out = R(w_[i]);
      switch (nd.op) {
        case Op::Add: mpfr_add(out, C(w_[nd.a]), C(w_[nd.b]), MPFR_RNDN); break;
        case Op::Sub: mpfr_sub(out, C(w_[nd.a]), C(w_[nd.b]), MPFR_RNDN); break;
        case Op::Mul: mpfr_mul(out, C(w_[nd.a]), C(w_[nd.b]), MPFR_RNDN); break;
        case Op::Div: mpfr_div(out, C(w_[nd.a]), C(w_[nd.b]), MPFR_RNDN); break;
        case Op::Neg: mpfr_neg(out, C(w_[nd.a]), MPFR_RNDN); break;
        case Op::Pow:
          if (nd.k == 2) mpfr_sqr(out, C(w_[nd.a]), MPFR_RNDN);
          else mpfr_pow_ui(out, C(w_[nd.a]), static_cast<unsigned long>(nd.k), MPFR_RNDN);
          break;
        case Op::PowC: w_[i] = ScalarOps<Real>::powc(w_[nd.a], powc_.at(i)); break;
        case Op::Tanh:
        case Op::Sigmoid:
        case Op::Exp:
          if (lattice && lattice_of_[i] >= 0) {
            from_lattice(out, lat_[lattice_of_[i]], j, h);
          } else if (nd.op == Op::Tanh) {
            mpfr_tanh(out, C(w_[nd.a]), MPFR_RNDN);
          } else if (nd.op == Op::Exp) {
            mpfr_exp(out, C(w_[nd.a]), MPFR_RNDN);
          } else {
            w_[i] = ScalarOps<Real>::apply(nd.op, w_[nd.a]);
          }
          break;
        default: w_[i] = ScalarOps<Real>::apply(nd.op, w_[nd.a]); break;
      }
    }
    Real out;
    const auto root = nodes.size() - 1;
    if (weight_form_ < 0) {
      mpfr_set(R(out), C(w_[root]), MPFR_RNDN);
    } else {
      mpfr_set_ui(R(out), 0, MPFR_RNDN);
      for (std::size_t t = 0; t < r_; ++t)
        mpfr_fma(R(out), C(L_[weight_form_][t]), C(xi[t]), R(out), MPFR_RNDN);
      mpfr_mul(R(out), R(out), C(w_[root]), MPFR_RNDN);
    }
    return out;
  }

 private:
  struct Lat {
    std::int32_t node = -1, form = -1;
    long scale = 1;  // the exponent is scale * l
    LatticeExp exp;
  };

  // tanh l = (E - 1) / (E + 1), E = exp(2 l); sigmoid l = 1 / (1 + E), E = exp(-l); exp l = E. At E's (guard)
  // precision, rounded once into `out`.
  void from_lattice(mpfr_ptr out, Lat& lt, long j, double h) {
    mpfr_srcptr e = lt.exp.eval(j, h);
    auto t1 = t1_.backend().data();
    auto t2 = t2_.backend().data();
    switch (lt.scale) {
      case 2:
        mpfr_sub_ui(t1, e, 1, MPFR_RNDN);
        mpfr_add_ui(t2, e, 1, MPFR_RNDN);
        mpfr_div(out, t1, t2, MPFR_RNDN);
        break;
      case -1:
        mpfr_add_ui(t2, e, 1, MPFR_RNDN);
        mpfr_ui_div(out, 1, t2, MPFR_RNDN);
        break;
      default: mpfr_set(out, e, MPFR_RNDN); break;
    }
  }

  // Parity of every computed node under xi -> -xi: a centered form is odd, a constant even; odd functions
  // (tanh, erf, sign, sin) keep the parity of an odd argument, every function of an even argument is even, and
  // abs, cos, erf', the normal density of an odd one are even.
  Parity compute_parity() const {
    for (const auto& c : centers_)
      if (c != 0) return Parity::None;
    const auto n = f_.nodes.size();
    std::vector<Parity> par(n, Parity::None);
    auto prod = [](Parity x, Parity y) {
      if (x == Parity::None || y == Parity::None) return Parity::None;
      return x == y ? Parity::Even : Parity::Odd;
    };
    for (std::size_t i = 0; i < n; ++i) {
      if (!an_.live[i]) continue;
      const auto& nd = f_.nodes[i];
      if (an_.frontier_of[i] >= 0) {
        par[i] = Parity::Odd;
        continue;
      }
      if (an_.aff[i]) {
        par[i] = an_.aff[i]->constant() ? Parity::Even : Parity::None;
        continue;
      }
      const Parity a = nd.a >= 0 ? par[nd.a] : Parity::None;
      const Parity b = nd.b >= 0 ? par[nd.b] : Parity::None;
      switch (nd.op) {
        case Op::Add:
        case Op::Sub: par[i] = a == b ? a : Parity::None; break;
        case Op::Mul:
        case Op::Div: par[i] = prod(a, b); break;
        case Op::Neg: par[i] = a; break;
        case Op::Pow: par[i] = a == Parity::Odd && nd.k % 2 == 0 ? Parity::Even : a; break;
        case Op::Tanh:
        case Op::Erf:
        case Op::Sign:
        case Op::Sin: par[i] = a; break;
        case Op::Abs:
        case Op::Cos:
        case Op::ErfPrime:
        case Op::NormPdf: par[i] = a == Parity::None ? Parity::None : Parity::Even; break;
        default: par[i] = a == Parity::Even ? Parity::Even : Parity::None; break;
      }
    }
    Parity root = par[n - 1];
    if (weight_form_ >= 0) root = prod(root, Parity::Odd);
    return root;
  }

  // Half-widths of analyticity per coordinate (GaussianIntegrand::strip), or empty when unknown. The integrand
  // is analytic except where an operation applied to a form l_p = c_p + L_p xi is singular: tanh and sigmoid
  // at Im l = pi/2 and pi, softplus at pi (log(1 + e^l)), at distance P / |L_{p,t}| in xi_t; functions that are
  // entire (exp, erf, sin, cos, polynomials, ...) add no singularity whatever their argument, and the kinks of
  // relu, abs, step, sign of a form are handled by the quadrature. Anything else (log, sqrt, powers, division by
  // a non-constant, tanh of a non-form) gives no hint.
  std::vector<double> compute_strip() const {
    constexpr double pi = 3.14159265358979323846;
    std::vector<double> d(r_, HUGE_VAL);
    for (std::size_t i = 0; i < f_.nodes.size(); ++i) {
      if (!an_.live[i] || an_.aff[i]) continue;
      const auto& nd = f_.nodes[i];
      const bool on_form = nd.a >= 0 && an_.frontier_of[nd.a] >= 0;
      double pole = 0;  // distance of the nearest singularity in l (0: not a meromorphic-in-a-form operation)
      switch (nd.op) {
        case Op::Add: case Op::Sub: case Op::Mul: case Op::Neg: case Op::Pow:
        case Op::Exp: case Op::Erf: case Op::Sin: case Op::Cos: case Op::ErfPrime: case Op::NormPdf:
        case Op::Gelu: case Op::GeluPrime:
          continue;  // entire
        case Op::Div:
          if (an_.aff[nd.b] && an_.aff[nd.b]->constant()) continue;
          return {};
        case Op::Relu: case Op::Abs: case Op::Step: case Op::Sign:
          if (on_form) continue;
          return {};
        case Op::Tanh: pole = pi / 2; break;
        case Op::Sigmoid: case Op::Softplus: pole = pi; break;
        default: return {};
      }
      if (!on_form) return {};
      const auto p = an_.frontier_of[nd.a];
      for (std::size_t t = 0; t < r_; ++t) {
        const double a = std::abs(static_cast<double>(L_[p][t]));
        if (a > 0) d[t] = std::min(d[t], pole / a);
      }
    }
    for (auto& x : d)
      if (!(x < HUGE_VAL)) x = 0;  // no singularity: no hint (entire: the default works)
    return d;
  }

  const Expr& f_;
  const Analysis<Real>& an_;
  const std::vector<std::vector<Real>>& L_;
  const std::vector<Real>& centers_;
  std::size_t r_;
  std::int32_t weight_form_;
  std::vector<Real> w_, l_, last_;
  std::vector<char> line_const_;
  std::vector<std::int32_t> lattice_of_;
  std::vector<char> lattice_only_;
  std::vector<double> strip_;
  std::vector<Lat> lat_;
  std::map<std::size_t, Real> powc_;
  Real tmp_, t1_, t2_;
  bool have_last_ = false;
  Parity parity_ = Parity::None;
};

}  // namespace

template <class T>
std::optional<T> Evaluator<T>::integrate(const Expr& f, const std::string& what, std::int32_t weight_form) {
  Analysis<T> an = analyze<T>(f, slots_);
  if (!an.available) return std::nullopt;
  const auto k = an.frontier.size();
  const auto rootj = f.root();
  if (an.aff[rootj] && weight_form < 0) return an.aff[rootj]->c;  // affine: atoms are centered
  // Covariance of the centered frontier forms.
  std::vector<std::vector<T>> c(k, std::vector<T>(k, T(0)));
  for (std::size_t p = 0; p < k; ++p)
    for (std::size_t q = p; q < k; ++q) {
      T s = T(0);
      for (const auto& [i, ai] : an.aff[an.frontier[p]]->a)
        for (const auto& [j, aj] : an.aff[an.frontier[q]]->a) {
          auto cij = atom_covariance(i, j);
          if (!cij) return std::nullopt;
          if (*cij != 0) s += ai * aj * *cij;
        }
      c[p][q] = c[q][p] = s;
    }
  // Operations undefined or not integrable where a Gaussian argument has positive density: refuse them rather
  // than integrate (an odd 1/x would otherwise come out as its principal value 0).
  for (std::size_t i = 0; i < f.nodes.size(); ++i) {
    if (!an.live[i] || an.aff[i]) continue;
    const auto& nd = f.nodes[i];
    const std::int32_t arg = nd.op == Op::Div ? nd.b : nd.a;
    if (arg < 0 || an.frontier_of[arg] < 0) continue;
    const auto q = static_cast<std::size_t>(an.frontier_of[arg]);
    if (!(c[q][q] > 0)) continue;
    const char* why = nullptr;
    switch (nd.op) {
      case Op::Div: why = "divides by a Gaussian quantity, which vanishes with positive density: 1/x is not integrable "
                          "against a Gaussian, so the expectation does not exist"; break;
      case Op::Log: why = "takes the log of a Gaussian quantity, which is negative with positive probability: the "
                          "expectation is not a real number"; break;
      case Op::Sqrt: why = "takes the sqrt of a Gaussian quantity, which is negative with positive probability: the "
                           "expectation is not a real number (sqrt(abs(x)) is defined)"; break;
      case Op::PowC: why = "raises a Gaussian quantity, which is negative with positive probability, to a non-integer "
                           "or negative power: the expectation is not a real number"; break;
      default: break;
    }
    if (why) throw invalid_program(what + ": the expression " + why);
  }
  if (an.polynomial) {
    // Isserlis/Wick on the frontier forms: exact in Rational, to working precision in Real.
    std::vector<Polynomial<T>> poly(f.nodes.size());
    for (std::size_t i = 0; i < f.nodes.size(); ++i) {
      if (!an.live[i]) continue;
      const auto& nd = f.nodes[i];
      if (an.frontier_of[i] >= 0) {
        poly[i] = Polynomial<T>::constant(an.aff[i]->c) + Polynomial<T>::variable(an.frontier_of[i]);
        continue;
      }
      if (an.aff[i]) {
        if (an.aff[i]->constant()) poly[i] = Polynomial<T>::constant(an.aff[i]->c);
        continue;  // affine but not on the frontier: only feeds other affine nodes
      }
      switch (nd.op) {
        case Op::Add: poly[i] = poly[nd.a] + poly[nd.b]; break;
        case Op::Sub: poly[i] = poly[nd.a] - poly[nd.b]; break;
        case Op::Mul: poly[i] = poly[nd.a] * poly[nd.b]; break;
        case Op::Neg: poly[i] = -poly[nd.a]; break;
        case Op::Pow: poly[i] = pow(poly[nd.a], static_cast<unsigned>(nd.k)); break;
        case Op::Div: poly[i] = poly[nd.a] * Polynomial<T>::constant(T(1) / an.aff[nd.b]->c); break;
        default: throw invalid_program("internal: non-polynomial operation in the Wick path");
      }
    }
    Polynomial<T> p = poly[rootj];
    if (weight_form >= 0) p = p * Polynomial<T>::variable(weight_form);
    ++integrals_;
    return wick_expectation(p, c);
  }
  if constexpr (std::is_same_v<T, Rational>) {
    return std::nullopt;
  } else {
    // Whiten: frontier forms l = c + L xi with xi standard Gaussian in rank(C) dimensions.
    Real maxdiag = 0;
    for (std::size_t p = 0; p < k; ++p) maxdiag = std::max(maxdiag, c[p][p]);
    const Real tol = maxdiag * pow(Real(10), -static_cast<int>(digits_ * 3 / 4));
    const auto L = pivoted_cholesky(c, tol);
    const std::size_t r = k == 0 ? 0 : L[0].size();
    if (r > 3) {
      std::ostringstream os;
      os << what << ": the expectation needs a " << r
         << "-dimensional Gaussian integral after reduction; netsor integrates up to 3 dimensions "
            "(simplify the quantity, or split it into expectations of fewer correlated vectors)";
      throw convergence_error(os.str(), 0);
    }
    std::vector<Real> centers(k);
    for (std::size_t p = 0; p < k; ++p) centers[p] = an.aff[an.frontier[p]]->c;
    GaussianIntegrand g;
    g.dim = static_cast<unsigned>(r);
    for (std::size_t i = 0; i < f.nodes.size(); ++i) {
      if (!an.live[i] || an.aff[i] || !is_kink(f.nodes[i].op)) continue;
      const auto arg = f.nodes[i].a;
      if (an.frontier_of[arg] < 0) continue;
      const auto p = an.frontier_of[arg];
      Kink kk;
      kk.a = L[p];
      kk.b = -centers[p];
      g.kinks.push_back(std::move(kk));
    }
    // The integrand, compiled once: raw MPFR on preallocated numbers, values that do not depend on the last
    // whitened coordinate kept along an inner line, exponentials of affine forms updated along the lattice, and
    // the parity under xi -> -xi (an odd integrand integrates to 0, an even one is walked on half its outer line).
    auto ci = std::make_shared<CompiledIntegrand>(f, an, L, centers, r, weight_form);
    if (ci->parity() == CompiledIntegrand::Parity::Odd) {
      ++integrals_;
      return Real(0);  // E[f(xi)] = E[f(-xi)] = -E[f(xi)]
    }
    // A value that is not a number (log or sqrt of a negative value inside a nonlinearity, 0/0) is flagged and
    // reported after the integral, never integrated (threads cannot throw through the engine).
    auto not_a_number = std::make_shared<std::atomic<bool>>(false);
    auto checked = [not_a_number](Real v) {
      if (!isfinite(v)) {
        not_a_number->store(true, std::memory_order_relaxed);
        return Real(0);
      }
      return v;
    };
    g.f = [ci, checked](const Real* xi) { return checked(ci->eval(xi, false, 0, 0)); };
    if (ci->has_lattice())
      g.f_lattice = [ci, checked](const Real* xi, long j, double h) { return checked(ci->eval(xi, true, j, h)); };
    g.even = ci->parity() == CompiledIntegrand::Parity::Even;
    g.strip = ci->strip();
    if (r == 0) {
      ++integrals_;
      Real v = g.f(nullptr);
      if (not_a_number->load()) throw invalid_program(what + ": the value is not a finite number");
      return v;
    }
    QuadratureOptions qo;
    // Ask for fewer digits than the working precision carries: rounding in thousands of MPFR operations must
    // not be mistaken for non-convergence.
    qo.digits = digits_ > rounding_guard + 10 ? digits_ - rounding_guard : digits_ / 2;
    auto res = gaussian_expectation(g, qo);
    ++integrals_;
    if (not_a_number->load())
      throw invalid_program(what + ": the integrand is not a finite number at some points (log or sqrt of a negative "
                                   "value, a division by zero, an overflow): the expectation is not defined");
    if (!res.converged) {
      std::ostringstream os;
      os << what << ": the " << r << "-dimensional Gaussian integral did not converge: reached "
         << std::max(0.0, res.digits_reached) << " of " << digits_ << " digits after " << res.evaluations
         << " evaluations";
      throw convergence_error(os.str(), res.digits_reached);
    }
    return res.value;
  }
}

template <class T>
std::optional<T> Evaluator<T>::expect_derivative(std::int32_t root, std::int32_t atom, const std::string& what) {
  const Expr f = graph_.extract(root).simplified();
  const auto atoms_in = f.leaves(Op::Var);
  if (!std::binary_search(atoms_in.begin(), atoms_in.end(), atom)) return T(0);
  if (!f.has_dirac_derivative(Op::Var, atom)) return expect_atoms(f.derivative(Op::Var, atom), what);
  if constexpr (std::is_same_v<T, Rational>) {
    return std::nullopt;
  } else {
    // Stein's lemma on the frontier forms l (covariance C): E[grad_l G] = C^{-1} E[(l - E l) G(l)], then the
    // chain rule dF/d atom = sum_k A_{k,atom} d_k G.
    Analysis<Real> an = analyze<Real>(f, slots_);
    if (!an.available) return std::nullopt;
    const auto k = an.frontier.size();
    std::vector<std::vector<Real>> c(k, std::vector<Real>(k, Real(0)));
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t q = p; q < k; ++q) {
        Real s = 0;
        for (const auto& [i, ai] : an.aff[an.frontier[p]]->a)
          for (const auto& [j, aj] : an.aff[an.frontier[q]]->a) s += ai * aj * *atom_covariance(i, j);
        c[p][q] = c[q][p] = s;
      }
    // Solve C y = m by Gaussian elimination with partial pivoting; C must be non-singular.
    std::vector<Real> m(k);
    for (std::size_t p = 0; p < k; ++p) {
      auto v = integrate(f, what, static_cast<std::int32_t>(p));
      if (!v) return std::nullopt;
      m[p] = *v;
    }
    Real maxdiag = 0;
    for (std::size_t p = 0; p < k; ++p) maxdiag = std::max(maxdiag, c[p][p]);
    const Real tol = maxdiag * pow(Real(10), -static_cast<int>(digits_ * 3 / 4));
    for (std::size_t col = 0; col < k; ++col) {
      std::size_t piv = col;
      for (std::size_t i = col + 1; i < k; ++i)
        if (abs(c[i][col]) > abs(c[piv][col])) piv = i;
      if (abs(c[piv][col]) <= tol)
        throw invalid_program(what + ": the derivative of a step or sign through a degenerate Gaussian family is "
                                     "not supported (Stein's lemma needs a non-singular covariance)");
      std::swap(c[piv], c[col]);
      std::swap(m[piv], m[col]);
      for (std::size_t i = col + 1; i < k; ++i) {
        const Real fct = c[i][col] / c[col][col];
        for (std::size_t j = col; j < k; ++j) c[i][j] -= fct * c[col][j];
        m[i] -= fct * m[col];
      }
    }
    std::vector<Real> y(k);
    for (std::size_t i = k; i-- > 0;) {
      Real s = m[i];
      for (std::size_t j = i + 1; j < k; ++j) s -= c[i][j] * y[j];
      y[i] = s / c[i][i];
    }
    Real result = 0;
    for (std::size_t p = 0; p < k; ++p)
      for (const auto& [i, ai] : an.aff[an.frontier[p]]->a)
        if (i == atom) result += ai * y[p];
    return result;
  }
}

template class Evaluator<Real>;
template class Evaluator<Rational>;

}  // namespace netsor::detail

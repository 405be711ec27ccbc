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
    // Nodes that depend only on the first whitened coordinate (the first pivot's form depends on xi_0 alone):
    // an iterated rule calls f along inner lines with xi_0 fixed, so their values are kept between calls.
    std::vector<char> first_only(f.nodes.size(), 1);
    for (std::size_t i = 0; i < f.nodes.size(); ++i) {
      if (!an.live[i]) continue;
      if (an.frontier_of[i] >= 0) {
        const auto& row = L[an.frontier_of[i]];
        for (std::size_t j = 1; j < r; ++j)
          if (row[j] != 0) first_only[i] = 0;
      } else if (!an.aff[i]) {
        const auto& nd = f.nodes[i];
        first_only[i] = (nd.a < 0 || first_only[nd.a]) && (nd.b < 0 || first_only[nd.b]);
      }
    }
    // Workspace reused across points (no allocation in the hot loop beyond MPFR's own).
    auto work = std::make_shared<std::vector<Real>>(f.nodes.size());
    auto forms = std::make_shared<std::vector<Real>>(k);
    auto last0 = std::make_shared<std::pair<bool, Real>>(false, Real(0));
    const Expr* fp = &f;
    const Analysis<T>* ap = &an;
    g.f = [=, &L](const Real* xi) -> Real {
      auto& w = *work;
      auto& l = *forms;
      const bool same_line = r > 1 && last0->first && xi[0] == last0->second;
      if (r > 1) {
        last0->first = true;
        last0->second = xi[0];
      }
      for (std::size_t p = 0; p < k; ++p) {
        l[p] = centers[p];
        for (std::size_t j = 0; j < r; ++j) l[p] += L[p][j] * xi[j];
      }
      const auto& nodes = fp->nodes;
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (!ap->live[i] || (same_line && first_only[i])) continue;
        if (ap->frontier_of[i] >= 0) {
          w[i] = l[ap->frontier_of[i]];
          continue;
        }
        if (ap->aff[i]) {
          if (ap->aff[i]->constant()) w[i] = ap->aff[i]->c;
          continue;
        }
        const auto& nd = nodes[i];
        switch (nd.op) {
          case Op::Add: w[i] = w[nd.a] + w[nd.b]; break;
          case Op::Sub: w[i] = w[nd.a] - w[nd.b]; break;
          case Op::Mul: w[i] = w[nd.a] * w[nd.b]; break;
          case Op::Div: w[i] = w[nd.a] / w[nd.b]; break;
          case Op::Pow: w[i] = ScalarOps<Real>::pow(w[nd.a], nd.k); break;
          case Op::PowC: w[i] = ScalarOps<Real>::powc(w[nd.a], to_real(fp->constants[nd.ref])); break;
          default: w[i] = ScalarOps<Real>::apply(nd.op, w[nd.a]); break;
        }
      }
      if (weight_form < 0) return w[nodes.size() - 1];
      Real wf = 0;
      for (std::size_t j = 0; j < r; ++j) wf += L[weight_form][j] * xi[j];
      return wf * w[nodes.size() - 1];
    };
    if (r == 0) {
      ++integrals_;
      return g.f(nullptr);
    }
    QuadratureOptions qo;
    // Ask for fewer digits than the working precision carries: rounding in thousands of MPFR operations must
    // not be mistaken for non-convergence.
    qo.digits = digits_ > rounding_guard + 10 ? digits_ - rounding_guard : digits_ / 2;
    auto res = gaussian_expectation(g, qo);
    ++integrals_;
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

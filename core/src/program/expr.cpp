// expr.cpp — building, differentiating, substituting, simplifying and printing symbolic nonlinearities.
// Every pass is a loop over the flat node array (children before parents): no recursion anywhere.
#include <netsor/errors.hpp>
#include <netsor/program/expr.hpp>

#include <algorithm>
#include <deque>
#include <sstream>

namespace netsor::detail {

const char* op_name(Op op) {
  switch (op) {
    case Op::Const: return "const";
    case Op::Vec: return "vec";
    case Op::Sca: return "scalar";
    case Op::Var: return "var";
    case Op::Add: return "+";
    case Op::Sub: return "-";
    case Op::Mul: return "*";
    case Op::Div: return "/";
    case Op::Neg: return "-";
    case Op::Pow: return "pow";
    case Op::PowC: return "pow";
    case Op::Tanh: return "tanh";
    case Op::Sigmoid: return "sigmoid";
    case Op::Erf: return "erf";
    case Op::Relu: return "relu";
    case Op::Abs: return "abs";
    case Op::Step: return "step";
    case Op::Sign: return "sign";
    case Op::Exp: return "exp";
    case Op::Log: return "log";
    case Op::Sin: return "sin";
    case Op::Cos: return "cos";
    case Op::Sqrt: return "sqrt";
    case Op::Softplus: return "softplus";
    case Op::Gelu: return "gelu";
    case Op::ErfPrime: return "erf'";
    case Op::GeluPrime: return "gelu'";
    case Op::NormPdf: return "normpdf";
  }
  return "?";
}

bool is_binary(Op op) { return op == Op::Add || op == Op::Sub || op == Op::Mul || op == Op::Div; }
bool is_unary(Op op) {
  return !is_binary(op) && op != Op::Const && op != Op::Vec && op != Op::Sca && op != Op::Var;
}

std::int32_t Expr::constant(const Rational& q) {
  constants.push_back(q);
  constants_double.push_back(static_cast<double>(q));
  nodes.push_back({Op::Const, -1, -1, static_cast<std::int32_t>(constants.size() - 1), 0});
  return root();
}
std::int32_t Expr::leaf(Op op, std::int32_t ref) {
  nodes.push_back({op, -1, -1, ref, 0});
  return root();
}
std::int32_t Expr::unary(Op op, std::int32_t a) {
  nodes.push_back({op, a, -1, -1, 0});
  return root();
}
std::int32_t Expr::binary(Op op, std::int32_t a, std::int32_t b) {
  nodes.push_back({op, a, b, -1, 0});
  return root();
}
std::int32_t Expr::pow(std::int32_t a, std::int32_t k) {
  nodes.push_back({Op::Pow, a, -1, -1, k});
  return root();
}
std::int32_t Expr::powc(std::int32_t a, const Rational& c) {
  constants.push_back(c);
  constants_double.push_back(static_cast<double>(c));
  nodes.push_back({Op::PowC, a, -1, static_cast<std::int32_t>(constants.size() - 1), 0});
  return root();
}

std::int32_t Expr::append(const Expr& other) {
  const auto shift = static_cast<std::int32_t>(nodes.size());
  const auto cshift = static_cast<std::int32_t>(constants.size());
  constants.insert(constants.end(), other.constants.begin(), other.constants.end());
  constants_double.insert(constants_double.end(), other.constants_double.begin(), other.constants_double.end());
  for (ExprNode n : other.nodes) {
    if (n.a >= 0) n.a += shift;
    if (n.b >= 0) n.b += shift;
    if (n.op == Op::Const || n.op == Op::PowC) n.ref += cshift;
    nodes.push_back(n);
  }
  return root();
}

Expr Expr::make_constant(const Rational& q) {
  Expr e;
  e.constant(q);
  return e;
}
Expr Expr::make_leaf(Op op, std::int32_t ref) {
  Expr e;
  e.leaf(op, ref);
  return e;
}
Expr Expr::combine(Op op, const Expr& x, const Expr& y) {
  Expr e = x;
  const auto ra = e.root();
  const auto rb = e.append(y);
  e.binary(op, ra, rb);
  return e;
}
Expr Expr::apply(Op op, const Expr& x) {
  Expr e = x;
  e.unary(op, e.root());
  return e;
}

std::vector<char> Expr::live_mask() const {
  std::vector<char> live(nodes.size(), 0);
  if (nodes.empty()) return live;
  live.back() = 1;
  for (auto i = root(); i >= 0; --i) {
    if (!live[i]) continue;
    if (nodes[i].a >= 0) live[nodes[i].a] = 1;
    if (nodes[i].b >= 0) live[nodes[i].b] = 1;
  }
  return live;
}

std::vector<std::int32_t> Expr::leaves(Op kind) const {
  const auto live = live_mask();
  std::vector<std::int32_t> out;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (live[i] && nodes[i].op == kind) out.push_back(nodes[i].ref);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool Expr::is_polynomial() const {
  const auto live = live_mask();
  // `constant_only[i]`: node i does not depend on any Vec/Var leaf (scalars count as constants).
  std::vector<char> constant_only(nodes.size(), 0);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    switch (n.op) {
      case Op::Const: case Op::Sca: constant_only[i] = 1; break;
      case Op::Vec: case Op::Var: constant_only[i] = 0; break;
      default:
        constant_only[i] = (n.a < 0 || constant_only[n.a]) && (n.b < 0 || constant_only[n.b]);
    }
    if (!live[i] || constant_only[i]) continue;
    switch (n.op) {
      case Op::Vec: case Op::Var: case Op::Add: case Op::Sub: case Op::Mul: case Op::Neg: case Op::Pow: break;
      case Op::Div:
        if (!constant_only[n.b]) return false;
        break;
      default: return false;
    }
  }
  // Scalars inside transcendental functions are fine (they are numbers in the limit), but a polynomial in
  // the exact path also needs exact scalars: the evaluator checks that separately.
  return true;
}

bool Expr::has_dirac_derivative(Op kind, std::int32_t ref) const {
  const auto live = live_mask();
  std::vector<char> depends(nodes.size(), 0);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    if (n.op == kind && n.ref == ref) depends[i] = 1;
    if (n.a >= 0 && depends[n.a]) depends[i] = 1;
    if (n.b >= 0 && depends[n.b]) depends[i] = 1;
    if (live[i] && (n.op == Op::Step || n.op == Op::Sign) && depends[n.a]) return true;
  }
  return false;
}

namespace {

// Builds derivative nodes into `out`; index -1 stands for the zero expression.
class DerivativeBuilder {
 public:
  explicit DerivativeBuilder(Expr& out) : out_(out) {}
  std::int32_t c(const Rational& q) { return out_.constant(q); }
  std::int32_t add(std::int32_t x, std::int32_t y) {
    if (x < 0) return y;
    if (y < 0) return x;
    return out_.binary(Op::Add, x, y);
  }
  std::int32_t sub(std::int32_t x, std::int32_t y) {
    if (y < 0) return x;
    if (x < 0) return out_.unary(Op::Neg, y);
    return out_.binary(Op::Sub, x, y);
  }
  std::int32_t mul(std::int32_t x, std::int32_t y) {
    if (x < 0 || y < 0) return -1;
    return out_.binary(Op::Mul, x, y);
  }
  std::int32_t neg(std::int32_t x) { return x < 0 ? -1 : out_.unary(Op::Neg, x); }

 private:
  Expr& out_;
};

}  // namespace

Expr Expr::derivative(Op kind, std::int32_t ref) const {
  if (nodes.empty()) return make_constant(0);
  Expr out = *this;  // original nodes keep their indices; derivative nodes are appended
  DerivativeBuilder d(out);
  std::vector<std::int32_t> dd(nodes.size(), -1);
  const auto live = live_mask();
  for (std::int32_t i = 0; i <= root(); ++i) {
    if (!live[i]) continue;
    const ExprNode n = nodes[i];
    const std::int32_t a = n.a, b = n.b;
    const std::int32_t da = a >= 0 ? dd[a] : -1, db = b >= 0 ? dd[b] : -1;
    switch (n.op) {
      case Op::Const: case Op::Sca: break;
      case Op::Vec: case Op::Var:
        if (n.op == kind && n.ref == ref) dd[i] = d.c(1);
        break;
      case Op::Add: dd[i] = d.add(da, db); break;
      case Op::Sub: dd[i] = d.sub(da, db); break;
      case Op::Neg: dd[i] = d.neg(da); break;
      case Op::Mul: dd[i] = d.add(d.mul(da, b), d.mul(a, db)); break;
      case Op::Div:  // (a/b)' = a'/b - (a/b) b'/b
        if (da >= 0 || db >= 0) {
          std::int32_t t1 = da >= 0 ? out.binary(Op::Div, da, b) : -1;
          std::int32_t t2 = db >= 0 ? out.binary(Op::Div, d.mul(i, db), b) : -1;
          dd[i] = d.sub(t1, t2);
        }
        break;
      case Op::Pow:
        if (da >= 0) {
          if (n.k == 0) break;
          std::int32_t base = n.k == 1 ? d.c(1) : (n.k == 2 ? a : out.pow(a, n.k - 1));
          dd[i] = d.mul(d.mul(d.c(n.k), base), da);
        }
        break;
      case Op::PowC:
        if (da >= 0) {
          const Rational& e = constants[n.ref];
          dd[i] = d.mul(d.mul(d.c(e), out.powc(a, e - 1)), da);
        }
        break;
      default:
        if (da < 0) break;
        switch (n.op) {
          case Op::Tanh: dd[i] = d.mul(d.sub(d.c(1), d.mul(i, i)), da); break;
          case Op::Sigmoid: dd[i] = d.mul(d.sub(i, d.mul(i, i)), da); break;
          case Op::Erf: dd[i] = d.mul(out.unary(Op::ErfPrime, a), da); break;
          case Op::ErfPrime: dd[i] = d.mul(d.mul(d.mul(d.c(-2), a), i), da); break;
          case Op::Relu: dd[i] = d.mul(out.unary(Op::Step, a), da); break;
          case Op::Abs: dd[i] = d.mul(out.unary(Op::Sign, a), da); break;
          case Op::Step: case Op::Sign: break;  // a.e. zero; the Dirac part is handled by Stein's lemma
          case Op::Exp: dd[i] = d.mul(i, da); break;
          case Op::Log: dd[i] = out.binary(Op::Div, da, a); break;
          case Op::Sin: dd[i] = d.mul(out.unary(Op::Cos, a), da); break;
          case Op::Cos: dd[i] = d.neg(d.mul(out.unary(Op::Sin, a), da)); break;
          case Op::Sqrt: dd[i] = out.binary(Op::Div, da, d.mul(d.c(2), i)); break;
          case Op::Softplus: dd[i] = d.mul(out.unary(Op::Sigmoid, a), da); break;
          case Op::Gelu: dd[i] = d.mul(out.unary(Op::GeluPrime, a), da); break;
          case Op::GeluPrime:  // (Phi + a phi)' = 2 phi - a^2 phi
            dd[i] = d.mul(d.mul(out.unary(Op::NormPdf, a), d.sub(d.c(2), d.mul(a, a))), da);
            break;
          case Op::NormPdf: dd[i] = d.neg(d.mul(d.mul(a, i), da)); break;
          default: throw invalid_program(std::string("derivative: unsupported operation ") + op_name(n.op));
        }
    }
  }
  if (dd[root()] < 0) return make_constant(0);
  return out.extract(dd[root()]).simplified();
}

Expr Expr::extract(std::int32_t r) const {
  Expr out;
  if (r < 0) return make_constant(0);
  std::vector<char> live(nodes.size(), 0);
  live[r] = 1;
  for (auto i = r; i >= 0; --i) {
    if (!live[i]) continue;
    if (nodes[i].a >= 0) live[nodes[i].a] = 1;
    if (nodes[i].b >= 0) live[nodes[i].b] = 1;
  }
  std::vector<std::int32_t> map(nodes.size(), -1);
  for (std::int32_t i = 0; i <= r; ++i) {
    if (!live[i]) continue;
    ExprNode n = nodes[i];
    if (n.op == Op::Const) {
      map[i] = out.constant(constants[n.ref]);
      continue;
    }
    if (n.op == Op::PowC) {
      map[i] = out.powc(map[n.a], constants[n.ref]);
      continue;
    }
    if (n.a >= 0) n.a = map[n.a];
    if (n.b >= 0) n.b = map[n.b];
    out.nodes.push_back(n);
    map[i] = out.root();
  }
  return out;
}

Expr Expr::substitute(Op kind, const std::vector<const Expr*>& subs) const {
  Expr out;
  std::vector<std::int32_t> map(nodes.size(), -1);
  for (std::int32_t i = 0; i <= root(); ++i) {
    ExprNode n = nodes[i];
    if (n.op == kind) {
      if (n.ref < 0 || n.ref >= static_cast<std::int32_t>(subs.size()) || subs[n.ref] == nullptr ||
          subs[n.ref]->empty())
        throw invalid_program("substitute: no expression for leaf " + std::to_string(n.ref));
      map[i] = out.append(*subs[n.ref]);
      continue;
    }
    if (n.op == Op::Const) {
      map[i] = out.constant(constants[n.ref]);
      continue;
    }
    if (n.op == Op::PowC) {
      map[i] = out.powc(map[n.a], constants[n.ref]);
      continue;
    }
    if (n.a >= 0) n.a = map[n.a];
    if (n.b >= 0) n.b = map[n.b];
    out.nodes.push_back(n);
    map[i] = out.root();
  }
  return out.extract(map[root()]);
}

Expr Expr::simplified() const {
  if (nodes.empty()) return *this;
  Expr out;
  std::vector<std::int32_t> map(nodes.size(), -1);
  auto is_const = [&](std::int32_t j) { return out.nodes[j].op == Op::Const; };
  auto cval = [&](std::int32_t j) -> const Rational& { return out.constants[out.nodes[j].ref]; };
  const auto live = live_mask();
  for (std::int32_t i = 0; i <= root(); ++i) {
    if (!live[i]) continue;
    ExprNode n = nodes[i];
    if (n.op == Op::Const) {
      map[i] = out.constant(constants[n.ref]);
      continue;
    }
    if (n.a >= 0) n.a = map[n.a];
    if (n.b >= 0) n.b = map[n.b];
    if (n.op == Op::PowC) {
      map[i] = out.powc(n.a, constants[n.ref]);
      continue;
    }
    // Constant folding (exact) and the identities 0+x, x*1, x*0, x^1, x^0.
    if (is_binary(n.op) && is_const(n.a) && is_const(n.b) && !(n.op == Op::Div && cval(n.b) == 0)) {
      Rational x = cval(n.a), y = cval(n.b), r;
      switch (n.op) {
        case Op::Add: r = x + y; break;
        case Op::Sub: r = x - y; break;
        case Op::Mul: r = x * y; break;
        default: r = x / y; break;
      }
      map[i] = out.constant(r);
      continue;
    }
    if (n.op == Op::Neg && is_const(n.a)) {
      map[i] = out.constant(-cval(n.a));
      continue;
    }
    if (n.op == Op::Pow && is_const(n.a)) {
      Rational r = 1;
      for (int k = 0; k < n.k; ++k) r *= cval(n.a);
      map[i] = out.constant(r);
      continue;
    }
    if (n.op == Op::Pow && n.k == 1) { map[i] = n.a; continue; }
    if (n.op == Op::Pow && n.k == 0) { map[i] = out.constant(1); continue; }
    if (n.op == Op::Add && is_const(n.a) && cval(n.a) == 0) { map[i] = n.b; continue; }
    if ((n.op == Op::Add || n.op == Op::Sub) && is_const(n.b) && cval(n.b) == 0) { map[i] = n.a; continue; }
    if (n.op == Op::Mul) {
      if ((is_const(n.a) && cval(n.a) == 0) || (is_const(n.b) && cval(n.b) == 0)) {
        map[i] = out.constant(0);
        continue;
      }
      if (is_const(n.a) && cval(n.a) == 1) { map[i] = n.b; continue; }
      if (is_const(n.b) && cval(n.b) == 1) { map[i] = n.a; continue; }
    }
    if (n.op == Op::Div && is_const(n.b) && cval(n.b) == 1) { map[i] = n.a; continue; }
    out.nodes.push_back(n);
    map[i] = out.root();
  }
  return out.extract(map[root()]);
}

std::string Expr::to_string(const std::function<std::string(Op, std::int32_t)>& name) const {
  if (nodes.empty()) return "0";
  // Precedence of each node's text: 1 sum, 2 product, 3 atom. A parent parenthesizes a weaker child.
  std::vector<int> prec(nodes.size(), 3);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    if (n.op == Op::Const) {
      const Rational& q = constants[n.ref];
      if (boost::multiprecision::denominator(q) != 1) prec[i] = 2;
      if (q < 0) prec[i] = 1;
    } else if (n.op == Op::Add || n.op == Op::Sub || n.op == Op::Neg) {
      prec[i] = 1;
    } else if (n.op == Op::Mul || n.op == Op::Div) {
      prec[i] = 2;
    }
  }
  // Iterative in-order traversal with an explicit stack: one output string, no recursion, linear size.
  struct Item {
    std::int32_t node;    // >= 0: print this node; -1: print `text`
    int need;             // parenthesize when prec[node] < need
    const char* text;
  };
  std::string out;
  std::deque<std::string> owned;  // texts made on the way (stable addresses)
  std::vector<Item> stack{{root(), 0, nullptr}};
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    if (it.node < 0) {
      out += it.text;
      continue;
    }
    const auto& n = nodes[it.node];
    const bool paren = prec[it.node] < it.need;
    if (paren) {
      out += '(';
      stack.push_back({-1, 0, ")"});
    }
    switch (n.op) {
      case Op::Const: out += constants[n.ref].str(); break;
      case Op::Vec: case Op::Sca: case Op::Var: out += name(n.op, n.ref); break;
      case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: {
        const char* sym = n.op == Op::Add ? " + " : n.op == Op::Sub ? " - " : n.op == Op::Mul ? " * " : " / ";
        const int left = n.op == Op::Add || n.op == Op::Sub ? 1 : 2;
        const int right = n.op == Op::Add ? 1 : n.op == Op::Sub ? 2 : 3;
        stack.push_back({n.b, right, nullptr});
        stack.push_back({-1, 0, sym});
        stack.push_back({n.a, left, nullptr});
        break;
      }
      case Op::Neg:
        out += '-';
        stack.push_back({n.a, 3, nullptr});
        break;
      case Op::Pow:
      case Op::PowC:
        out += "pow(";
        stack.push_back({-1, 0, ")"});
        // the exponent text must outlive the stack item: print it now into a small owned buffer
        owned.push_back(", " + (n.op == Op::Pow ? std::to_string(n.k) : constants[n.ref].str()));
        stack.push_back({-1, 0, owned.back().c_str()});
        stack.push_back({n.a, 0, nullptr});
        break;
      default:
        out += op_name(n.op);
        out += '(';
        stack.push_back({-1, 0, ")"});
        stack.push_back({n.a, 0, nullptr});
        break;
    }
  }
  return out;
}

}  // namespace netsor::detail

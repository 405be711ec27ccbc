// core/src/spectra/activation.cpp — the activations of the spectra module as symbolic expressions with their
// derivatives and kinks (netsor/spectra/activation.hpp).
#include <netsor/errors.hpp>
#include <netsor/program/expr_eval.hpp>
#include <netsor/program/program.hpp>
#include <netsor/spectra/activation.hpp>

#include <complex>
#include <map>
#include <mutex>

namespace netsor::detail {

namespace {

ActivationInfo build(const std::string& name) {
  ActivationInfo a;
  a.name = name;
  const VExpr x(nullptr, Expr::make_leaf(Op::Var, 0));
  VExpr phi;
  if (name == "hard_tanh") {
    phi = relu(x + 1) - relu(x - 1) - 1;
    a.kinks = {Rational(-1), Rational(1)};
    a.piecewise_constant_derivative = true;
  } else {
    phi = activation(name, x);  // throws for unknown names
    if (name == "relu" || name == "abs" || name == "step") a.kinks = {Rational(0)};
    a.piecewise_constant_derivative =
        name == "linear" || name == "identity" || name == "relu" || name == "abs" || name == "step";
    a.positively_homogeneous = name == "linear" || name == "identity" || name == "relu" || name == "abs";
  }
  a.phi = phi.expr().simplified();
  a.dphi = a.phi.derivative(Op::Var, 0).simplified();
  a.d2phi = a.dphi.derivative(Op::Var, 0).simplified();
  return a;
}

}  // namespace

std::vector<std::string> spectra_activation_names() {
  std::vector<std::string> names = activation_names();
  names.push_back("hard_tanh");
  return names;
}

const ActivationInfo& activation_info(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, ActivationInfo> table;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = table.find(name); it != table.end()) return it->second;
  bool known = name == "identity";
  for (const auto& n : spectra_activation_names()) known = known || n == name;
  if (!known) {
    std::string list;
    for (const auto& n : spectra_activation_names()) list += (list.empty() ? "" : ", ") + n;
    throw invalid_argument("activation: unknown name '" + name + "'; known: " + list);
  }
  return table.emplace(name, build(name)).first->second;
}

double eval_double(const Expr& e, double x) {
  return evaluate<double>(e, [x](Op, std::int32_t) { return x; });
}

Real eval_real(const Expr& e, const Real& x) {
  return evaluate<Real>(e, [&x](Op, std::int32_t) { return x; });
}

namespace {
bool complex_op(Op op) {
  switch (op) {
    case Op::Const: case Op::Var: case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Neg:
    case Op::Pow: case Op::Tanh: case Op::Sigmoid: case Op::Exp: case Op::Sin: case Op::Cos: case Op::ErfPrime:
    case Op::NormPdf:
      return true;
    default: return false;
  }
}
}  // namespace

// The analytic operations in std::complex<double>; ErfPrime and NormPdf are entire. Log, Sqrt and real powers
// are left out on purpose (a branch cut would have to be placed), and so are erf/gelu (no complex erf here).
template <>
struct ScalarOps<std::complex<double>> {
  using C = std::complex<double>;
  static C from_constant(const Expr& e, std::int32_t ref) { return e.constants_double[ref]; }
  static C apply(Op op, C x) {
    constexpr double inv_sqrt_pi_2 = 1.1283791670955125739;   // 2/sqrt(pi)
    constexpr double inv_sqrt_2pi = 0.39894228040143267794;  // 1/sqrt(2 pi)
    switch (op) {
      case Op::Neg: return -x;
      case Op::Tanh: return std::tanh(x);
      case Op::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
      case Op::Exp: return std::exp(x);
      case Op::Sin: return std::sin(x);
      case Op::Cos: return std::cos(x);
      case Op::ErfPrime: return inv_sqrt_pi_2 * std::exp(-x * x);
      case Op::NormPdf: return inv_sqrt_2pi * std::exp(-0.5 * x * x);
      default:
        throw invalid_argument(std::string("eval_complex: no complex version of ") + op_name(op));
    }
  }
  static C pow(C x, int k) {
    C r = 1;
    for (int i = 0; i < k; ++i) r *= x;
    return r;
  }
  template <class E>
  static C powc(C, const E&) { throw invalid_argument("eval_complex: no complex version of a real power"); }
};

std::complex<double> eval_complex(const Expr& e, std::complex<double> x) {
  return evaluate<std::complex<double>>(e, [x](Op, std::int32_t) { return x; });
}

std::optional<std::string> complex_unsupported_op(const Expr& e) {
  for (const ExprNode& n : e.nodes)
    if (!complex_op(n.op)) return std::string(op_name(n.op));
  return std::nullopt;
}

}  // namespace netsor::detail

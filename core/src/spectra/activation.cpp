// core/src/spectra/activation.cpp — the activations of the spectra module as symbolic expressions with their
// derivatives and kinks (netsor/spectra/activation.hpp).
#include <netsor/errors.hpp>
#include <netsor/program/expr_eval.hpp>
#include <netsor/program/program.hpp>
#include <netsor/spectra/activation.hpp>

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

}  // namespace netsor::detail

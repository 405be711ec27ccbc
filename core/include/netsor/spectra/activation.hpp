// netsor/spectra/activation.hpp — a named activation as the spectra module needs it: phi, phi' and phi'' as
// symbolic expressions (evaluated in Real for the mean-field integrals and in double for the density solver
// and the network sampler), the points where phi' jumps (kinks, handed to the Gaussian quadrature), and
// whether the law of phi'(sqrt(q) Z)^2 is a finite set of atoms (relu, abs, hard_tanh, linear).
//
// The names are those of `activation_names()` (program/program.hpp) plus "hard_tanh" = clamp(x, -1, 1),
// which shared/MATH.md uses for the Fisher spectrum (written relu(x+1) - relu(x-1) - 1).
#pragma once

#include <netsor/numbers.hpp>
#include <netsor/program/expr.hpp>

#include <complex>
#include <optional>
#include <string>
#include <vector>

namespace netsor::detail {

struct ActivationInfo {
  std::string name;
  Expr phi;    // phi(Var 0)
  Expr dphi;   // phi'(Var 0), a.e. derivative
  Expr d2phi;  // phi''(Var 0), a.e. derivative
  /// Points x where phi or phi' is not analytic (relu: 0; hard_tanh: -1, 1).
  std::vector<Rational> kinks;
  /// phi'(x)^2 takes finitely many values on the pieces between kinks (relu, abs, step, hard_tanh, linear):
  /// the law of D^2 is then a finite set of atoms.
  bool piecewise_constant_derivative = false;
  /// phi(a x) = a phi(x) for a > 0 (relu, linear, abs): E phi(sqrt(q) z)^2 = q E phi(z)^2, and the law of D^2
  /// does not depend on q.
  bool positively_homogeneous = false;
};

/// The activation of that name; throws `invalid_argument` listing the known names otherwise.
const ActivationInfo& activation_info(const std::string& name);

/// Names accepted by the spectra module.
std::vector<std::string> spectra_activation_names();

/// phi, phi' at x in double (for the sampler and the complex-argument quadrature).
double eval_double(const Expr& e, double x);
/// The same in Real at the current default precision.
Real eval_real(const Expr& e, const Real& x);
/// The analytic continuation of e to a complex argument (the contour quadrature of the density solver). Only
/// for expressions whose operations are analytic and have a complex version here (complex_unsupported_op).
std::complex<double> eval_complex(const Expr& e, std::complex<double> x);
/// The name of the first operation of e that eval_complex cannot continue to complex arguments (erf and the
/// gelu pieces: no complex erf here; relu, abs, step, sign: not analytic), or nullopt.
std::optional<std::string> complex_unsupported_op(const Expr& e);

}  // namespace netsor::detail

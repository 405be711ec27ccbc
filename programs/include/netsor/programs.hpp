// netsor/programs.hpp — the catalogue of named tensor programs used by the checks, tests and examples.
//
// Each entry is a complete program plus the Moments that matter for it; `catalogue()` lists the names and
// `make_program(name)` builds one. The programs cover the architectures the Master Theorem is checked on
// (Tensor Programs I–III): MLPs forward and backward (with the true W^T), a residual net, an RNN with shared
// weights, Moment nodes feeding later nonlinearities, and the semicircle / Marchenko–Pastur warm-ups.
#pragma once

#include <netsor/program.hpp>

#include <string>
#include <vector>

namespace netsor::programs {

struct Entry {
  std::string name;
  std::string description;
  Program program;
  std::vector<Scalar> moments;  // the quantities of interest, in a fixed order
  std::vector<Matrix> matrices; // the program's matrices, in creation order (for traces and spectra)
};

/// Names of the catalogue, in a stable order.
const std::vector<std::string>& catalogue();
/// Builds the named program; throws `invalid_argument` for an unknown name.
Entry make_program(const std::string& name);

// The builders, with their parameters.
/// MATH.md's worked example: h = W x, y = phi(h), g = W^T y, u = W g; moments x.g/n, |g|^2/n, y.u/n.
Entry worked_example(const std::string& activation, double weight_variance = 1);
/// MLP h^1 = W^1 x + b^1, h^l = W^l phi(h^{l-1}) + b^l; moments |h^l|^2/n for each layer.
Entry mlp(const std::string& activation, int depth, double weight_variance, double bias_variance);
/// MLP forward then backward with the true transposes: g^L = phi(h^L) ... ; moments of the gradient norms
/// and of x . g (the gradient with respect to the input direction).
Entry mlp_backward(const std::string& activation, int depth, double weight_variance);
/// Residual network h^{l+1} = h^l + W^l phi(h^l) / sqrt(depth); moments |h^l|^2/n.
Entry resnet(const std::string& activation, int depth);
/// RNN s_t = phi(W s_{t-1} + U x_t) with shared W, U over `steps` steps; moments |s_t|^2/n and s_t . s_{t-1}/n.
Entry rnn(const std::string& activation, int steps);
/// A Moment feeding a later nonlinearity: s = E tanh(h)^2, y = tanh(s h + 1/2), t = E y^2, w = y * t.
Entry moment_feedback();
/// Two correlated inputs through an MLP: the kernel E[phi(h_a) phi(h_b)] layer by layer.
Entry kernel(const std::string& activation, int depth, double weight_variance, double bias_variance,
             double correlation);
/// Tensor Programs III warm-up: x_k = S x_{k-1}, x_0 = v; moments (1/n) v . x_k for k = 1..kmax (Catalan).
Entry semicircle(int kmax);
/// X is n x m with m = ratio * n (entries N(0, 1/n): variance `ratio` in fan-in convention); v in width m;
/// alternate X and X^T: moments (1/m) v . (X^T X)^k v for k = 1..kmax (Narayana polynomials).
Entry marchenko_pastur(const Rational& ratio, int kmax);

}  // namespace netsor::programs

// nonlinearities.cpp — every nonlinearity of the DSL, its infinite-width limit and its simulation.
// Shows: h = W x feeds each nonlinearity phi; the Moment (1/n) sum_i phi(h_i) tends to E[phi(Z)], Z ~ N(0, 1.5)
// (Master Theorem), printed to 30 digits next to the simulated value at n = 2048. Kinked nonlinearities
// (relu, abs, step, sign) converge as fast as smooth ones: the quadrature splits at the kinks.
#include <netsor/netsor.hpp>

#include <iostream>
#include <string>
#include <utility>
#include <vector>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = 1.5});
  Vector x = p.gaussian_vector("x", n);
  Vector h = (W * x).named("h");  // Z^h ~ N(0, 1.5)

  // [nonlinearities]
  std::vector<std::pair<std::string, VExpr>> phis = {
      {"tanh", tanh(h)},         {"sigmoid", sigmoid(h)}, {"erf", erf(h)},
      {"relu", relu(h)},         {"abs", abs(h)},         {"step", step(h)},
      {"sign", sign(h)},         {"exp", exp(h)},         {"sin", sin(h)},
      {"cos", cos(h)},           {"softplus", softplus(h)}, {"gelu", gelu(h)},
      {"h^3", pow(h, 3)},        {"sqrt|h|", sqrt(abs(h))}, {"log(1+h^2)", log(1 + h * h)},
      {"|h|^1.5", pow(abs(h), 1.5)},
      {"tanh(h)relu(h)-h/2", tanh(h) * relu(h) - 0.5 * h},  // one Nonlin node
      {"activation:gelu", activation("gelu", h)},           // by name, as a command line would
  };
  // [/nonlinearities]
  std::vector<Scalar> moments;
  for (auto& [name, phi] : phis) moments.push_back(p.moment("E[" + name + "]", phi));

  Limit lim = limit(p, {.digits = 30});
  Simulation sim = simulate(p, {.n = 2048, .trials = 8, .seed = 11});
  for (const Scalar& m : moments)
    std::cout << m.name() << "\n  limit     " << lim[m] << "\n  n = 2048  " << sim[m] << '\n';
}

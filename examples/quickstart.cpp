// quickstart.cpp — the program of shared/API.md: its infinite-width limit and its finite-width behaviour.
// Shows: MatMul by W and by the true W^T, a Nonlin, a Moment feeding a later Nonlin; the limit to 50 digits
// (Master Theorem) side by side with a seeded simulation with error bars.
#include <netsor/netsor.hpp>

#include <iostream>

int main() {
  using namespace netsor;
  // [program]
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);  // entries N(0, 1/n)
  Vector x = p.gaussian_vector("x", n);     // entries N(0, 1)

  Vector h = (W * x).named("h");             // MatMul
  Vector y = tanh(h).named("y");             // Nonlin
  Vector g = (W.T() * y).named("g");         // MatMul by the transpose
  Scalar xg = p.moment("x.g", x * g);        // -> E[tanh'(Z)], Z ~ N(0, 1)
  Scalar s = p.moment("s", y * y);
  Vector w = tanh(s * h).named("w");         // a Scalar feeding a later Nonlin
  Scalar ww = p.moment("|w|^2", w * w);
  // [/program]

  std::cout << p << '\n';
  // [limit_and_simulation]
  Limit lim = limit(p, {.digits = 50});
  Simulation sim = simulate(p, {.n = 1024, .trials = 16, .seed = 7});
  for (const Scalar& m : {xg, s, ww})
    std::cout << m.name() << "\n  limit     " << lim[m] << "\n  n = 1024  " << sim[m] << '\n';
  // [/limit_and_simulation]
}

// quickstart.cpp — the program of shared/API.md, simulated at finite width.
// Shows: building a tensor program (MatMul, W^T, Nonlin, Moment feeding a Nonlin), printing it, and its
// finite-width Moments with error bars over seeded trials.
#include <netsor/netsor.hpp>

#include <iostream>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);  // entries N(0, 1/n)
  Vector x = p.gaussian_vector("x", n);     // entries N(0, 1)

  Vector h = (W * x).named("h");             // MatMul
  Vector y = tanh(h).named("y");             // Nonlin
  Vector g = (W.T() * y).named("g");         // MatMul by the transpose
  Scalar xg = p.moment("x.g", x * g);        // -> E[tanh'(Z^h)] = 0.6057055096...
  Scalar s = p.moment("s", y * y);
  Vector w = tanh(s * h).named("w");         // a Scalar feeding a later Nonlin
  Scalar ww = p.moment("|w|^2", w * w);

  std::cout << p << '\n';
  Simulation sim = simulate(p, {.n = 1024, .trials = 16, .seed = 7});
  std::cout << "x.g/n   = " << sim[xg] << "   (limit E[tanh'(h)] = 0.60570550960...)\n";
  std::cout << "|y|^2/n = " << sim[s] << '\n';
  std::cout << "|w|^2/n = " << sim[ww] << '\n';
  std::cout << "h.y/n   = " << sim.mean(h * y) << '\n';
}

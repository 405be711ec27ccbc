// convergence_rate.cpp — how fast a finite-width Moment approaches its infinite-width limit.
// Shows: a relu MLP with sigma_w^2 = 2 keeps |h^l|^2/n -> 2 at every layer (He initialization); the
// root-mean-square deviation from the limit over seeded trials shrinks like n^-1/2 (fitted slope printed).
#include <netsor/netsor.hpp>

#include <cmath>
#include <iostream>
#include <vector>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  Vector x = p.gaussian_vector("x", n);
  Vector a = x;
  Scalar q;
  for (int l = 1; l <= 4; ++l) {
    Matrix W = p.gaussian_matrix("W" + std::to_string(l), n, n, {.variance = 2});
    Vector h = W * a;
    q = p.moment("q" + std::to_string(l), h * h);
    a = relu(h);
  }
  const double limit = 2;
  std::vector<double> logn, logrms;
  for (long width : {128, 256, 512, 1024, 2048}) {
    Simulation sim = simulate(p, {.n = width, .trials = 32, .seed = 3});
    double ms = 0;
    for (double v : sim[q].samples) ms += (v - limit) * (v - limit) / sim.trials();
    logn.push_back(std::log(width));
    logrms.push_back(0.5 * std::log(ms));
    std::cout << "n = " << width << "   q4 = " << sim[q] << "   rms deviation from 2 = " << std::sqrt(ms) << '\n';
  }
  // least-squares slope of log rms against log n
  double mx = 0, my = 0, sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < logn.size(); ++i) mx += logn[i] / logn.size(), my += logrms[i] / logn.size();
  for (std::size_t i = 0; i < logn.size(); ++i)
    sxy += (logn[i] - mx) * (logrms[i] - my), sxx += (logn[i] - mx) * (logn[i] - mx);
  std::cout << "fitted rate: rms ~ n^" << sxy / sxx << "  (theory: n^-0.5)\n";
}

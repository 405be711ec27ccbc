// free_independence.cpp — the Free Independence Principle (Yang, Tensor Programs III, Thm 4.2), seen twice.
// Shows: the diagonal matrix of tanh(W x) depends on W, yet {W, W^T} is asymptotically free from it: the
// alternating centered words vanish like 1/n (check_freeness), and tau(W W^T D W W^T D) matches free probability.
#include <netsor/netsor.hpp>

#include <iostream>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = (W * x).named("h");
  Vector y = tanh(h).named("y");

  // [freeness]
  FreenessReport r = check_freeness(p, {W, W.T()}, {diag(h), diag(y)},
                                    {.degree = 4, .widths = {256, 512, 1024}, .trials = 8, .seed = 1});
  std::cout << r << '\n';
  // [/freeness]

  // [traces]
  const Word a = W * W.T(), b = diag(y);
  Limit lim = limit(p, {.digits = 30});
  for (long width : {256, 1024}) {
    Simulation sim = simulate(p, {.n = width, .trials = 8, .seed = 2});
    std::cout << "tau(abab) at n = " << width << ": " << sim.trace(a * b * a * b) << '\n';
  }
  std::cout << "tau(abab) in the limit:  " << lim.trace(a * b * a * b) << '\n';
  // [/traces]
}

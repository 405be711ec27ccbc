// semicircle_exact.cpp — Tensor Programs III's warm-up: the semicircle law from the Master Theorem.
// Shows: x_k = S x_{k-1} with S Wigner; (1/n) v^T S^k v tends to the Catalan numbers, computed exactly in
// rationals (every Nonlin is linear, so Wick's rule applies), next to the simulated moments at n = 2000.
#include <netsor/netsor.hpp>
#include <netsor/free.hpp>

#include <iostream>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  Matrix S = p.wigner_matrix("S", n);
  Vector v = p.gaussian_vector("v", n);
  std::vector<Scalar> m;
  Vector x = v;
  for (int k = 1; k <= 8; ++k) {
    x = S * x;
    m.push_back(p.moment("m" + std::to_string(k), v * x));
  }
  // [exact]
  Limit lim = limit(p);
  Simulation sim = simulate(p, {.n = 2000, .trials = 8, .seed = 1});
  const auto semicircle = free::Semicircle{}.moments<Rational>(8);  // the law's moments, independently
  // [/exact]
  for (int k = 1; k <= 8; ++k)
    std::cout << "k = " << k << "  limit " << *lim[m[k - 1]].exact << "  (semicircle: " << semicircle[k - 1]
              << ")   n = 2000: " << sim[m[k - 1]] << '\n';
}

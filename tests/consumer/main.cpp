// The consumer: builds a small program against the installed package, simulates it, checks one fact.
#include <netsor/netsor.hpp>

#include <cmath>
#include <iostream>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  Matrix O = p.orthogonal_matrix("O", n);
  Vector x = p.gaussian_vector("x", n);
  Vector y = O * x;
  Scalar a = p.moment("a", x * x), b = p.moment("b", y * y);
  Simulation sim = simulate(p, {.n = 64, .trials = 2, .seed = 1});
  const bool ok = std::abs(sim[a].mean - sim[b].mean) < 1e-12;
  std::cout << "consumer: |Ox|^2 = |x|^2: " << (ok ? "yes" : "NO") << '\n';
  return ok ? 0 : 1;
}

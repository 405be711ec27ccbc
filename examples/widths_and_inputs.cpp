// widths_and_inputs.cpp — rectangular matrices with width ratios, correlated inputs and a Wigner matrix.
// Shows: a layer V : n -> m = n/2 applied to two inputs a, b with correlation 1/2; the relu kernel
// (1/m) relu(Va) . relu(Vb) tends to the arc-cosine kernel (Cho & Saul) computed in closed form here, and
// the Wigner moment (1/n) x^T S^4 x tends to the Catalan number 2, exactly.
#include <netsor/netsor.hpp>

#include <cmath>
#include <iomanip>
#include <iostream>

int main() {
  using namespace netsor;
  // [widths]
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", Rational(1, 2));                    // m = n / 2
  Matrix V = p.gaussian_matrix("V", m, n);               // m x n, entries N(0, 1/n)
  auto [a, b] = p.gaussian_vectors<2>({"a", "b"}, n, {{1, 0.5}, {0.5, 1}});
  Vector ua = relu(V * a).named("ua");                   // width m
  Vector ub = relu(V * b).named("ub");
  Scalar k = p.moment("K(a,b)", ua * ub);                // (1/m) sum over the m coordinates
  // [/widths]
  // [wigner]
  Matrix S = p.wigner_matrix("S", n);                    // symmetric, off-diagonal N(0, 1/n)
  Vector x = p.gaussian_vector("x", n);
  Vector s2 = S * (S * x);
  Scalar m4 = p.moment("x.S^4.x", s2 * s2);              // (1/n) x^T S^4 x -> Catalan C_2 = 2
  // [/wigner]

  const double pi = std::acos(-1.0), rho = 0.5;
  const double arccos_kernel = (std::sqrt(1 - rho * rho) + (pi - std::acos(rho)) * rho) / (2 * pi);
  Limit lim = limit(p, {.digits = 30});
  Simulation sim = simulate(p, {.n = 2048, .trials = 8, .seed = 5});
  std::cout << "K(a,b)\n  limit        " << lim[k] << "\n  closed form  " << std::setprecision(17) << arccos_kernel << std::setprecision(6) << "\n  n = 2048     "
            << sim[k] << '\n';
  std::cout << "x.S^4.x\n  limit        " << lim[m4] << "   exact: " << (lim[m4].exact ? "yes" : "no")
            << "\n  n = 2048     " << sim[m4] << '\n';
}

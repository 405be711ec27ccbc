// haar_invariance.cpp — facts that hold at every finite width, seen in a simulation.
// Shows: a Haar orthogonal O preserves norms exactly (|Ox|^2 = |x|^2, O^T O x = x), while a Gaussian W only
// does so on average: E|Wx|^2/n = variance * |x|^2/n, with fluctuations of order n^-1/2.
#include <netsor/netsor.hpp>

#include <iostream>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  // [orthogonal]
  Matrix O = p.orthogonal_matrix("O", n);
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = 2});
  Vector x = p.gaussian_vector("x", n);
  Vector ox = (O * x).named("Ox");
  Vector back = (O.T() * ox).named("OtOx");
  // [/orthogonal]
  Vector wx = (W * x).named("Wx");
  Scalar xx = p.moment("|x|^2", x * x), oo = p.moment("|Ox|^2", ox * ox), ww = p.moment("|Wx|^2", wx * wx);
  Scalar err = p.moment("|O^TOx-x|^2", (back - x) * (back - x));

  for (long width : {128, 512, 2048}) {
    Simulation sim = simulate(p, {.n = width, .trials = 8, .seed = 1});
    std::cout << "n = " << width << ":  |x|^2/n = " << sim[xx] << "   |Ox|^2/n = " << sim[oo]
              << "   |O^T O x - x|^2/n = " << sim[err].mean << "   |Wx|^2/n = " << sim[ww] << "  (-> 2)\n";
  }
}

// Must NOT compile: a vector times a matrix makes no sense in a tensor program (STYLE.md, point 3).
#include <netsor/netsor.hpp>

int main() {
  netsor::Program p;
  netsor::Dim n = p.dim("n");
  netsor::Matrix W = p.gaussian_matrix("W", n, n);
  netsor::Vector x = p.gaussian_vector("x", n);
  auto y = x * W;
  (void)y;
}

// Must NOT compile: a matrix is not a coordinatewise quantity, so it cannot enter a Nonlin.
#include <netsor/netsor.hpp>

int main() {
  netsor::Program p;
  netsor::Dim n = p.dim("n");
  netsor::Matrix W = p.gaussian_matrix("W", n, n);
  netsor::Vector y = tanh(W);
  (void)y;
}

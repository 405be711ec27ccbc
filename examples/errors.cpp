// errors.cpp — what netsor says when a program is wrong or a number cannot be delivered.
// Shows: the three error types of <netsor/errors.hpp>. invalid_program: the program is ill-formed or asks for
// something the theory does not cover (the message names the nodes and widths); invalid_argument: a bad
// option or number (the message names it); convergence_error: the requested digits cannot be reached (the
// message names the quantity and the digits reached). netsor never returns a number it does not stand behind.
#include <netsor/netsor.hpp>

#include <iostream>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", 2);
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector u = p.gaussian_vector("u", m);

  // [errors]
  try {
    Vector h = W * u;  // W is n x n, u has width m = 2n
    std::cout << h.name() << '\n';  // not reached
  } catch (const invalid_program& e) {
    std::cout << "invalid_program: " << e.what() << '\n';
  }
  try {
    p.gaussian_vector("z", n, {.variance = -1});
  } catch (const invalid_argument& e) {
    std::cout << "invalid_argument: " << e.what() << '\n';
  }
  try {
    Scalar s = p.moment("E[1/h]", 1 / (W * x));  // E[1/Z] does not exist: refused, not integrated to 0
    Limit lim = limit(p, {.digits = 30});
    std::cout << lim[s] << '\n';
  } catch (const invalid_program& e) {
    std::cout << "invalid_program: " << e.what() << '\n';
  }
  try {
    Program q;
    Dim k = q.dim("k");
    auto [a, b, c, d] = q.gaussian_vectors<4>({"a", "b", "c", "d"}, k,
                                              {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}});
    Scalar s = q.moment("s", tanh(a) * tanh(b) * tanh(c) * tanh(a + d));  // four Gaussian directions
    std::cout << limit(q, {.digits = 30})[s] << '\n';
  } catch (const convergence_error& e) {
    std::cout << "convergence_error: " << e.what() << '\n';
  }
  // [/errors]
}

// A script with a mistake on line 7: `netsor run` must show the compiler's error with this file's line number.
#include <netsor/netsor.hpp>

int main() {
  netsor::Program p;
  netsor::Dim n = p.dim("n");
  netsor::Vector x = p.gaussian_vector("x", m);
}

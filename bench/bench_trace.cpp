// bench_trace.cpp — exact normalized traces of matrix words at finite width, netsor vs numpy
// (bench/peer_numpy_trace.py computes the same words on the same kind of matrices).
// Words: tau(W D W^T D), tau(W D W D W^T D) (one product), tau((W W^T)^3) at n = 512, 1024, 2048.
// Output: "trace word=<w> n=<n> seconds=<best of 3>" (the matrices are sampled once, outside the timing).
#include <netsor/netsor.hpp>
#include <netsor/sim/trace.hpp>

#include <chrono>
#include <iostream>

int main() {
  using namespace netsor;
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector y = tanh(W * x);
  const std::pair<const char*, Word> words[] = {{"WDWtD", W * diag(y) * W.T() * diag(y)},
                                                {"WDWDWtD", W * diag(y) * W * diag(y) * W.T() * diag(y)},
                                                {"(WWt)^3", pow(W * W.T(), 3)}};
  for (long N : {512L, 1024L, 2048L}) {
    Simulation sim = prepare_simulation(p, {.n = N, .trials = 1, .seed = 1});
    const auto tv = sim.run_trial(0);
    for (const auto& [name, w] : words) {
      double best = 1e300, value = 0;
      for (int r = 0; r < 3; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        value = detail::trace_of_product(detail::word_blocks(w, tv, sim.widths())) / N;
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::cout << "trace word=" << name << " n=" << N << " seconds=" << best << "  (value " << value << ")\n";
    }
  }
}

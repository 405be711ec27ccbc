// bench_simulator.cpp — wall time of the finite-width simulator on a 4-layer tanh MLP, forward and backward
// (with the true W^T), 16 trials, widths 1024–4096. Peer: bench/peer_numpy_simulator.py (the same program in
// numpy). `scripts/bench simulator` runs both in one go and prints the ratios.
// Output: one line per width, "simulator n=<n> trials=<t> seconds=<best of 3>".
#include <netsor/programs.hpp>
#include <netsor/sim.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  using namespace netsor;
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 3;
  auto e = programs::mlp_backward("tanh", 4, 1.5);
  for (long n : {1024L, 2048L, 4096L}) {
    double best = 1e300;
    double check = 0;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      Simulation sim = simulate(e.program, {.n = n, .trials = 16, .seed = static_cast<std::uint64_t>(r), .keep_vectors = false});
      const auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
      check = sim[e.moments[0]].mean;
    }
    std::cout << "simulator n=" << n << " trials=16 seconds=" << best << "  (|dx3|^2/n = " << check << ")\n";
  }
}

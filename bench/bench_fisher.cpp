// bench/bench_fisher.cpp — the density of the Fisher information spectrum (fisher_spectrum, docs/spectra.md):
// construction, support, a 1000-point density grid and the integrated mass (the table), for relu at sigma_w^2 = 2
// (Gaussian, L = 10, 20, 50; orthogonal, L = 50) and hard_tanh at sigma_w^2 = 1.05 with orthogonal weights (L = 20,
// 50), tanh with Gaussian weights (sigma_w^2 = 1.5, sigma_b^2 = 0.05, L = 10; 1.05 / 0.01 near criticality, L = 20)
// and with orthogonal weights (1.5 / 0.05, L = 3 and 10), input variance 1. Prints "fisher <case> seconds=..." (one run: the continuation has no warm state to reuse)
// and the accuracy of each: the table's mass against 1 - atoms and its first three moments against the exact ones.
#include <netsor/spectra.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

int main() {
  using clock = std::chrono::steady_clock;
  struct Case {
    const char* act;
    double s2;
    int L;
    netsor::Weights w;
    double b2 = 0;
  };
  for (const Case c : {Case{"relu", 2, 10, netsor::Weights::gaussian}, Case{"relu", 2, 20, netsor::Weights::gaussian},
                       Case{"relu", 2, 50, netsor::Weights::gaussian}, Case{"relu", 2, 50, netsor::Weights::orthogonal},
                       Case{"hard_tanh", 1.05, 20, netsor::Weights::orthogonal},
                       Case{"hard_tanh", 1.05, 50, netsor::Weights::orthogonal},
                       Case{"tanh", 1.5, 10, netsor::Weights::gaussian, 0.05},
                       Case{"tanh", 1.05, 20, netsor::Weights::gaussian, 0.01},
                       Case{"tanh", 1.5, 3, netsor::Weights::orthogonal, 0.05},
                       Case{"tanh", 1.5, 10, netsor::Weights::orthogonal, 0.05}}) {
    const netsor::NetworkSpec net{.activation = c.act, .weight_variance = netsor::Param(c.s2),
                                  .bias_variance = netsor::Param(c.b2), .depth = c.L, .weights = c.w,
                                  .input_variance = netsor::Param(1.0)};
    const auto t0 = clock::now();
    const netsor::Spectrum sp = netsor::fisher_spectrum(net);
    sp.support();
    const auto grid = sp.density_grid(1000);
    const double mass = sp.integrated_mass();
    const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
    const auto m = sp.moments(3);
    const auto md = sp.moments_from_density(3);
    double merr = 0, gerr = 0;
    for (int k = 0; k < 3; ++k) merr = std::max(merr, std::abs(md[k] / static_cast<double>(m[k]) - 1));
    for (const auto& g : grid) gerr = std::max(gerr, g.error);
    std::printf("fisher act=%s sigma_w2=%g sigma_b2=%g depth=%d weights=%s grid=1000 seconds=%.3f\n", c.act, c.s2,
                c.b2, c.L, netsor::to_string(c.w), seconds);
    std::printf("# mass error %.2e; moments 1-3 relative error %.2e; max certified error bound on the grid %.2e\n",
                std::abs(mass - sp.continuous_mass()), merr, gerr);
  }
}

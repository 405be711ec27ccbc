// netsor/spectra/simulate.hpp — finite networks to hold the limiting spectra against: samples an MLP at width n
// (shared/MATH.md conventions: fan-in Gaussian or sqrt(sigma_w^2) times Haar orthogonal weights, N(0, sigma_b^2)
// biases) and returns the eigenvalues of J J^T, J = d x^L / d x^0 (Pennington, Schoenholz & Ganguli 2017, Sec. 4).
// Dense products in double with Eigen: O(L n^3) per trial.
#pragma once

#include <netsor/spectra/spectrum.hpp>

#include <cstdint>
#include <vector>

namespace netsor {

struct NetworkSampleOptions {
  long n = 512;              // width of every layer (equal widths only)
  int trials = 1;            // independent networks
  std::uint64_t seed = 1;    // same seed, same numbers
};

/// Eigenvalues of J J^T for each trial (trial-major, each trial's n values ascending). The input x^0 has
/// coordinates N(0, v) with v = input_variance, or v chosen so that the first pre-activation has variance q_star.
std::vector<std::vector<double>> sample_jacobian_spectrum(const NetworkSpec& net, const NetworkSampleOptions& options);

/// Eigenvalues of Theta = sum_l qhat_{l-1} B_l B_l^T (B_l = d h^L / d h^l, qhat_l = |x^l|^2 / n measured on the
/// sampled network) for each trial: the non-zero spectrum of the weight Fisher information of f = h^L for one input,
/// normalized by n (shared/MATH.md, "The Fisher information spectrum"). Same input as sample_jacobian_spectrum.
std::vector<std::vector<double>> sample_fisher_spectrum(const NetworkSpec& net, const NetworkSampleOptions& options);

}  // namespace netsor

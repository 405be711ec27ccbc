// jacobian_spectrum.cpp — dynamical isometry in numbers: the spectrum of J J^T for deep networks at initialization.
// Shows: the mean field of tanh (q_star, chi, the phase); the moments of J J^T for Gaussian and orthogonal weights
// (free multiplicative convolution, Pennington et al.), where only orthogonal weights keep the variance of the
// singular values small, and the top of the spectrum (the support edge) near 1; and the relu density at a few
// points next to a sampled network of width 1000.
#include <netsor/netsor.hpp>

#include <algorithm>
#include <iostream>

int main() {
  using namespace netsor;
  // [mean_field]
  MeanField mf = mean_field("tanh", {.weight_variance = 1.05, .bias_variance = 2e-5});
  std::cout << "tanh: q_star = " << to_string(mf.q_star, 20) << "  chi = " << to_string(mf.chi, 20) << "  ("
            << to_string(mf.phase) << ")\n";
  // [/mean_field]
  // [moments]
  for (Weights w : {Weights::gaussian, Weights::orthogonal}) {
    Spectrum sp = jacobian_spectrum({.activation = "tanh", .weight_variance = 1.05, .bias_variance = 2e-5,
                                     .depth = 32, .weights = w},
                                    {.digits = 20});
    const auto m = sp.moments(2);
    std::cout << to_string(w) << " weights, depth 32: tau(JJ^T) = " << to_string(m[0], 20)
              << "  variance of the squared singular values = " << to_string(m[1] - m[0] * m[0], 20)
              << "  largest = " << sp.support().second << '\n';
  }
  // [/moments]
  // [density]
  NetworkSpec relu{.activation = "relu", .weight_variance = 2, .depth = 5};
  Spectrum sp = jacobian_spectrum(relu);
  std::vector<double> ev = sample_jacobian_spectrum(relu, {.n = 1000, .trials = 1, .seed = 1})[0];
  std::sort(ev.begin(), ev.end());
  for (double x : {0.25, 1.0, 4.0}) {
    const double sampled = static_cast<double>(std::upper_bound(ev.begin(), ev.end(), x) - ev.begin()) / ev.size();
    std::cout << "relu depth 5: density(" << x << ") = " << sp.density(x) << "   CDF = " << sp.cdf({x})[0]
              << "   sampled CDF at n = 1000: " << sampled << '\n';
  }
  // [/density]
}

// proofs_check/jacobian_spectrum.cpp — the spectrum of the input-output Jacobian of a deep network at
// initialization is the free multiplicative convolution of the layers' laws (Pennington, Schoenholz & Ganguli
// 2017/2018; the Free Independence Principle of Tensor Programs III makes the layers free).
//
// Infinite-width side: netsor::jacobian_spectrum (mean field by Gaussian quadrature, S-transforms for the
// moments, the certified Newton continuation for the density and its CDF). Finite-width side: sampled networks
// (netsor::sample_jacobian_spectrum, dense Eigen products), independent of the program machinery. Moments are
// compared over the width ladder, and the empirical spectral distribution with the predicted CDF by the Kolmogorov
// distance, which must shrink with the width (relu and, with the contour rule of smooth laws, tanh).
#include "check.hpp"
#include "spectral.hpp"

#include <netsor/spectra.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace netsor::checks {

Result check_jacobian_spectrum(const Options& opt) {
  Result r;
  r.statement =
      "For an MLP h^l = W^l phi(h^{l-1}) + b^l at the mean-field fixed point, the eigenvalue distribution of J J^T, "
      "J = D_L W^L ... D_1 W^1, converges as the width grows to the free multiplicative convolution of the laws of "
      "D_l^2 = phi'(h^l)^2 and of W^l W^{lT} (Marchenko-Pastur for Gaussian, a point mass for Haar orthogonal "
      "weights); in particular tau(J J^T) = chi^L.";
  r.citation =
      "J. Pennington, S. Schoenholz, S. Ganguli, Resurrecting the sigmoid in deep learning through dynamical "
      "isometry (NeurIPS 2017), Sec. 2-3; The emergence of spectral universality in deep networks (AISTATS 2018); "
      "G. Yang, Tensor Programs III (arXiv:2009.10685), Free Independence Principle.";
  const LadderRule rule;
  const SpectralRule srule{.max_slope = -0.3, .max_distance = 0.03};
  r.rule = "Moments m1, m2 of J J^T: " + rule.text() + ". Spectrum: the Kolmogorov distance between the empirical "
           "eigenvalue distribution of each sampled network and the predicted law, averaged over the trials (D_n, "
           "with its standard error), must shrink like n^b with b <= " + fmt::format("{}", srule.max_slope) +
           " + 3 se(b) (weighted least squares on log D_n) and be at most " + fmt::format("{}", srule.max_distance) +
           " at the largest width.";
  const std::vector<long> widths = capped_widths(opt, 1024);
  const int trials = std::min(opt.trials, 8);
  struct Case {
    std::string activation;
    double sw, sb;
    int depth;
    Weights w;
    bool kolmogorov;
  };
  const std::vector<Case> cases = {{"relu", 2, 0, 2, Weights::gaussian, true},
                                   {"relu", 2, 0, 10, Weights::orthogonal, true},
                                   {"tanh", 1.5, 0.05, 2, Weights::gaussian, true},
                                   {"tanh", 1.05, 0.05, 10, Weights::orthogonal, true}};
  for (const Case& c : cases) {
    const std::string tag =
        fmt::format("{} L = {} {} (sigma_w^2 = {}, sigma_b^2 = {})", c.activation, c.depth, to_string(c.w), c.sw, c.sb);
    const NetworkSpec truth{.activation = c.activation, .weight_variance = c.sw, .bias_variance = c.sb,
                            .depth = c.depth, .weights = c.w};
    NetworkSpec predicted = truth;
    if (opt.inject == Inject::wrong_limit) predicted.weight_variance = 1.1 * c.sw;
    progress(opt, "jacobian-spectrum: limit, " + tag);
    const Spectrum sp = jacobian_spectrum(predicted, {.digits = opt.digits});
    const auto m = sp.moments(2);
    std::vector<std::vector<double>> s1, s2;
    SpectralLadder spec("eigenvalues of J J^T, " + tag, srule);
    for (long n : widths) {
      progress(opt, fmt::format("jacobian-spectrum: n = {}, {} trials, {}", n, trials, tag));
      const auto ev = sample_jacobian_spectrum(truth, {.n = n, .trials = trials, .seed = opt.seed + 1000 * n});
      std::vector<double> a, b, pooled;
      for (const auto& e : ev) {
        double t1 = 0, t2 = 0;
        for (double x : e) t1 += x, t2 += x * x;
        a.push_back(t1 / n), b.push_back(t2 / n);
        pooled.insert(pooled.end(), e.begin(), e.end());
      }
      s1.push_back(a), s2.push_back(b);
      if (c.kolmogorov) {
        std::sort(pooled.begin(), pooled.end());
        std::vector<double> xs;
        for (double x : pooled)
          if (x > 1e-9) xs.push_back(x);
        const std::vector<double> F = sp.cdf(xs);
        // Eigenvalues below 1e-9 are snapped to the atom at 0 by kolmogorov_distance; at depth 10 the continuous
        // part holds a few percent of its mass there (density ~ x^{1/L - 1}), so the predicted CDF is snapped the
        // same way: F(0) = atom + continuous mass below 1e-9.
        const double below = sp.cdf({1e-9})[0];
        auto cdf = [&xs, &F, below](double x) {
          if (x < 1e-9) return x < 0 ? 0.0 : below;
          auto it = std::lower_bound(xs.begin(), xs.end(), x);
          if (it != xs.end() && *it == x) return F[static_cast<std::size_t>(it - xs.begin())];
          if (it == xs.begin()) return below;
          return F[static_cast<std::size_t>(it - xs.begin()) - 1];  // only reached between samples
        };
        spec.add_trials(n, ev, cdf, 0.0, below);
      }
    }
    r.ladders.push_back(compare_ladder("m1 of J J^T, " + tag, static_cast<double>(m[0]), to_string(m[0], 20), widths,
                                       s1, rule));
    r.ladders.push_back(compare_ladder("m2 of J J^T, " + tag, static_cast<double>(m[1]), to_string(m[1], 20), widths,
                                       s2, rule));
    if (c.kolmogorov) {
      spec.finish(r);
      r.figures.push_back(spec.figure(fmt::format("kolmogorov-{}-{}", c.activation, c.depth)));
    }
  }
  r.figures.push_back(error_figure("errors", "rms error of the moments against the width", r.ladders));
  finish(r);
  return r;
}

}  // namespace netsor::checks

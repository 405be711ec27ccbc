// proofs_check/spectral.hpp — empirical spectra of sampled matrices against a limiting law, for the checks.
#pragma once

#include "check.hpp"

#include <netsor/program/word.hpp>
#include <netsor/sim/simulation.hpp>

#include <functional>
#include <string>
#include <vector>

namespace netsor::checks {

/// Eigenvalues of the symmetric square word `w` (symmetrized) in trial `trial` of `sim`, ascending.
std::vector<double> symmetric_eigenvalues(const Simulation& sim, const Word& w, int trial);

/// The rule for an empirical spectral distribution against a predicted CDF over the width ladder.
struct SpectralRule {
  double max_slope = -0.5;      // Kolmogorov distance D_n ~ n^b with a fitted b <= max_slope
  double max_distance = 0.02;   // and D_n <= max_distance at the largest width
  std::string text() const;
};

/// Kolmogorov distances of sampled spectra at growing widths.
class SpectralLadder {
 public:
  SpectralLadder(std::string what, SpectralRule rule) : what_(std::move(what)), rule_(rule) {}
  /// Adds the spectrum sampled at width n against the law with this CDF and at most one atom.
  void add(long n, std::vector<double> eigenvalues, const std::function<double(double)>& cdf, double atom_at = 0,
           double atom_mass = 0);
  /// Adds several independent samples at width n: D_n is then the mean of their distances, with its standard
  /// error, and the exponent must satisfy b <= max_slope + 3 se(b) (weighted least squares on log D_n). For spectra
  /// whose finite-n error has a random part common to a whole sample (the variance of one input through the layers
  /// moves a tanh network's spectrum by O(n^-1/2)), where three pooled distances are too noisy for a slope.
  void add_trials(long n, const std::vector<std::vector<double>>& samples, const std::function<double(double)>& cdf,
                  double atom_at = 0, double atom_mass = 0);
  /// Appends the table of distances and, if the rule fails, a failure line to `r`.
  void finish(Result& r) const;
  Figure figure(const std::string& name) const;
  const std::vector<double>& last_samples() const { return last_; }
  const std::vector<double>& distances() const { return distance_; }
  double slope() const;

 private:
  std::string what_;
  SpectralRule rule_;
  std::vector<long> widths_;
  std::vector<double> distance_;
  std::vector<double> se_;  // standard errors of distance_ (add_trials only)
  std::vector<double> last_;
  double slope_se() const;
};

/// log-log plot of the rms error of each ladder against the width, with a n^-1/2 guide.
Figure error_figure(const std::string& name, const std::string& title, const std::vector<Ladder>& ladders);

}  // namespace netsor::checks

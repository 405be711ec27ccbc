// proofs_check/semicircle.cpp — the semicircle law from the Master Theorem (Tensor Programs III warm-up).
//
// Infinite-width side: the program x_k = S x_{k-1}, x_0 = v with S Wigner has only linear nonlinearities, so
// the limit evaluator returns (1/n) v^T S^k v exactly as rationals by Wick's rule; the check compares them with
// the Catalan numbers computed here by their recurrence (an independent route), then with simulation.
// Finite-width side: the same program simulated over the width ladder, and the eigenvalues of the sampled S
// (Eigen's symmetric eigensolver) against the semicircle CDF (closed form) in Kolmogorov distance.
#include "check.hpp"
#include "spectral.hpp"

#include <netsor/errors.hpp>
#include <netsor/free/distributions.hpp>
#include <netsor/programs.hpp>

#include <fmt/format.h>

#include <cmath>

namespace netsor::checks {

using namespace netsor::free;

Result check_semicircle(const Options& opt) {
  constexpr int kmax = 8;
  Result r;
  r.statement =
      "For a Wigner matrix S (GOE, variance 1) and v ~ N(0, I), (1/n) v^T S^k v converges almost surely to the k-th "
      "moment of the standard semicircle law: 0 for odd k and the Catalan number C_{k/2} for even k; the empirical "
      "eigenvalue distribution of S converges to the density sqrt(4 - x^2) / (2 pi).";
  r.citation =
      "G. Yang, Tensor Programs III: Neural Matrix Laws (arXiv:2009.10685), warm-up: semicircle law from the Master "
      "Theorem; E. Wigner, Ann. Math. 62 (1955).";
  const LadderRule rule;
  const SpectralRule srule;
  r.rule = "Limits: the evaluator's exact rationals must equal the Catalan numbers. Moments: " + rule.text() +
           ". Spectrum: " + srule.text() + ".";

  programs::Entry e = programs::semicircle(kmax);
  progress(opt, "semicircle: exact limit (Wick)");
  Limit lim = limit(e.program, {.digits = opt.digits});

  // The Catalan numbers by C_{j+1} = sum_i C_i C_{j-i}: a route independent of the evaluator.
  std::vector<Integer> catalan = {1};
  for (int j = 0; j < kmax / 2; ++j) {
    Integer c = 0;
    for (int i = 0; i <= j; ++i) c += catalan[static_cast<std::size_t>(i)] * catalan[static_cast<std::size_t>(j - i)];
    catalan.push_back(c);
  }
  Table exact{"exact limits versus the Catalan numbers", {"k", "limit (evaluator)", "C_{k/2} or 0", "equal"}, {}};
  for (int k = 1; k <= kmax; ++k) {
    const Estimate est = lim[e.moments[static_cast<std::size_t>(k - 1)]];
    const Rational want = k % 2 ? Rational(0) : Rational(catalan[static_cast<std::size_t>(k / 2)]);
    const bool equal = est.exact && *est.exact == want;
    exact.rows.push_back({std::to_string(k), est.exact ? to_string(*est.exact) : "not exact", to_string(want),
                          equal ? "yes" : "NO"});
    if (!equal) r.failures.push_back(fmt::format("m{}: the evaluator gives {}, the Catalan recurrence {}", k,
                                                 limit_text(est, opt.digits), to_string(want)));
    r.extra["catalan"].push_back(to_string(want));
  }
  r.tables.push_back(std::move(exact));

  // Moments over the ladder and the spectrum of the sampled S at each width.
  const double variance = opt.inject == Inject::wrong_limit ? 1.1 : 1.0;
  const Semicircle law{.variance = variance};
  const auto cdf = [&](double x) {
    const double t = law.variance.approx, R = 2 * std::sqrt(t);
    if (x <= -R) return 0.0;
    if (x >= R) return 1.0;
    return 0.5 + x * std::sqrt(4 * t - x * x) / (4 * M_PI * t) + std::asin(x / R) / M_PI;
  };
  SpectralLadder spec("eigenvalues of S", srule);
  r.ladders = compare_moments(e.program, e.moments, lim, opt, "semicircle", [&](long n, const Simulation& sim) {
    progress(opt, fmt::format("semicircle: eigenvalues at n = {}", n));
    spec.add(n, symmetric_eigenvalues(sim, Word(e.matrices.front()), 0), cdf);
  });
  spec.finish(r);

  Figure hist{"histogram", fmt::format("eigenvalues of S at n = {} against the semicircle density", opt.widths.back()),
              "x", "density", false, false, {}};
  hist.series.push_back(histogram(spec.last_samples(), -2.2, 2.2, 60, fmt::format("n = {}", opt.widths.back())));
  Series dens{"semicircle density", Series::Style::lines, {}, {}, {}};
  for (int i = 0; i <= 400; ++i) {
    const double x = -2.2 + 4.4 * i / 400;
    dens.x.push_back(x);
    dens.y.push_back(law.density(x));
  }
  hist.series.push_back(std::move(dens));
  r.figures.push_back(std::move(hist));
  r.figures.push_back(error_figure("errors", "rms error of the moments against the width", r.ladders));
  r.figures.push_back(spec.figure("kolmogorov"));
  finish(r);
  return r;
}

}  // namespace netsor::checks

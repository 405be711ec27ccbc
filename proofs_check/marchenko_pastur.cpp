// proofs_check/marchenko_pastur.cpp — the Marchenko–Pastur law from the Master Theorem (TP3 warm-up).
//
// Infinite-width side: alternating X and X^T is a linear program, so the evaluator returns (1/m) v^T (X^T X)^k v
// exactly; the check compares it with the moments built from the free cumulants kappa_k = lambda^{k-1} of the
// free Poisson law (an independent route through the free-probability toolkit), then with simulation.
// Finite-width side: the moments simulated over the ladder, and the eigenvalues of X^T X against the MP CDF.
// For lambda > 1, X^T X (m x m) has rank n: its spectrum is that of X X^T plus m - n exact zeros, and the
// eigenvalues are computed that way (the same spectrum, at a quarter of the cost).
#include "check.hpp"
#include "spectral.hpp"

#include <netsor/free/distributions.hpp>
#include <netsor/free/toolkit.hpp>
#include <netsor/programs.hpp>

#include <fmt/format.h>

namespace netsor::checks {

using namespace netsor::free;

Result check_marchenko_pastur(const Options& opt) {
  constexpr int kmax = 6;
  Result r;
  r.statement =
      "For X with n rows and m = lambda n columns, entries N(0, 1/n), and v ~ N(0, I_m), (1/m) v^T (X^T X)^k v "
      "converges to the k-th moment of the Marchenko-Pastur law of ratio lambda (the Narayana polynomial "
      "sum_r lambda^r/(r+1) C(k,r) C(k-1,r)), and the eigenvalue distribution of X^T X converges to that law: "
      "density sqrt((b-x)(x-a))/(2 pi lambda x) on [(1-sqrt lambda)^2, (1+sqrt lambda)^2], plus an atom 1 - 1/lambda "
      "at 0 when lambda > 1.";
  r.citation =
      "G. Yang, Tensor Programs III (arXiv:2009.10685), warm-up: Marchenko-Pastur law from the Master Theorem; "
      "V. Marchenko and L. Pastur, Math. USSR Sbornik 1 (1967).";
  const LadderRule rule;
  const SpectralRule srule;
  r.rule = "Limits: the evaluator's exact rationals must equal the moments of the free cumulants lambda^{k-1}. "
           "Moments: " + rule.text() + ". Spectrum: " + srule.text() + ".";

  for (const Rational& lambda : {Rational(1, 2), Rational(1), Rational(2)}) {
    const std::string tag = "lambda = " + to_string(lambda);
    programs::Entry e = programs::marchenko_pastur(lambda, kmax);
    progress(opt, "marchenko-pastur: exact limit (Wick), " + tag);
    Limit lim = limit(e.program, {.digits = opt.digits});

    std::vector<Rational> kappa = {Rational(1)};
    for (int k = 2; k <= kmax; ++k) kappa.push_back(kappa.back() * lambda);
    const std::vector<Rational> want = moments_from_cumulants(kappa);
    Table exact{"exact limits versus the free-Poisson moments, " + tag,
                {"k", "limit (evaluator)", "moment from kappa_k = lambda^{k-1}", "equal"}, {}};
    for (int k = 1; k <= kmax; ++k) {
      const Estimate est = lim[e.moments[static_cast<std::size_t>(k - 1)]];
      const Rational& w = want[static_cast<std::size_t>(k - 1)];
      const bool equal = est.exact && *est.exact == w;
      exact.rows.push_back({std::to_string(k), est.exact ? to_string(*est.exact) : "not exact", to_string(w),
                            equal ? "yes" : "NO"});
      if (!equal)
        r.failures.push_back(fmt::format("{}, m{}: the evaluator gives {}, free cumulants give {}", tag, k,
                                         limit_text(est, opt.digits), to_string(w)));
      r.extra["moments"][to_string(lambda)].push_back(to_string(w));
    }
    r.tables.push_back(std::move(exact));

    const MarchenkoPastur law{.ratio = lambda, .variance = opt.inject == Inject::wrong_limit ? 1.1 : 1.0};
    const auto [a, b] = law.support();
    const double atom = law.atom();
    const auto cdf = cdf_from_density([&](double x) { return law.density(x); }, a, b, atom, 0.0);
    SpectralLadder spec("eigenvalues of X^T X, " + tag, srule);
    const Word X = e.matrices.front();
    const bool wide = lambda > 1;
    std::vector<Ladder> ls = compare_moments(e.program, e.moments, lim, opt, "MP " + tag,
                                             [&](long n, const Simulation& sim) {
      progress(opt, fmt::format("marchenko-pastur: eigenvalues at n = {}, {}", n, tag));
      std::vector<double> ev = symmetric_eigenvalues(sim, wide ? X * X.T() : X.T() * X, 0);
      if (wide) ev.resize(static_cast<std::size_t>(sim.width(X.cols())), 0.0);  // the m - n exact zeros
      spec.add(n, std::move(ev), cdf, 0.0, atom);
    });
    for (Ladder& l : ls) r.ladders.push_back(std::move(l));
    spec.finish(r);

    std::string stem = to_string(lambda);
    for (char& c : stem)
      if (c == '/') c = '_';
    Figure hist{"histogram-" + stem,
                fmt::format("eigenvalues of X^T X at n = {}, {} (atom at 0: {:.3g})", opt.widths.back(), tag, atom),
                "x", "density", false, false, {}};
    std::vector<double> positive;
    for (double v : spec.last_samples())
      if (v > 1e-9) positive.push_back(v);
    Series h = histogram(positive, 0, b * 1.05, 60, fmt::format("n = {} (nonzero eigenvalues)", opt.widths.back()));
    for (double& y : h.y) y *= static_cast<double>(positive.size()) / static_cast<double>(spec.last_samples().size());
    hist.series.push_back(std::move(h));
    Series dens{"Marchenko-Pastur density", Series::Style::lines, {}, {}, {}};
    for (int i = 1; i <= 400; ++i) {
      const double x = b * 1.05 * i / 400;
      dens.x.push_back(x);
      dens.y.push_back(std::min(law.density(x), 3.0));
    }
    hist.series.push_back(std::move(dens));
    r.figures.push_back(std::move(hist));
    r.figures.push_back(spec.figure("kolmogorov-" + stem));
  }
  r.figures.push_back(error_figure("errors", "rms error of the moments against the width", r.ladders));
  finish(r);
  return r;
}

}  // namespace netsor::checks

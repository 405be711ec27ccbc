// proofs_check/master_theorem.cpp — the Master Theorem on every program of the catalogue.
//
// Infinite-width side: `limit` (the Z-structure of shared/MATH.md, Wick in rationals or certified quadrature).
// Finite-width side: seeded simulation over the width ladder. The two share nothing but the program text.
#include "check.hpp"
#include "spectral.hpp"

#include <netsor/programs.hpp>

#include <fmt/format.h>

namespace netsor::checks {

Result check_master_theorem(const Options& opt) {
  Result r;
  r.statement =
      "For a NETSOR-transpose program with Gaussian matrices and polynomially bounded nonlinearities, every Moment "
      "(1/n) sum_a psi(h_a^1, ..., h_a^k) converges almost surely to E psi(Z^{h^1}, ..., Z^{h^k}), where the Z are "
      "built recursively (Zhat Gaussian with the covariance rule, Zdot from the transposes); fluctuations are of "
      "order n^-1/2.";
  r.citation = "G. Yang, Tensor Programs I (arXiv:1910.12478) Thm 5.4 and Tensor Programs III (arXiv:2009.10685) "
               "Thm 2.5 (NETSOR-transpose Master Theorem).";
  const LadderRule rule;
  r.rule = "Each program's Moments are evaluated at the requested digits; " + rule.text() + ".";
  for (const std::string& name : programs::catalogue()) {
    if (name == "semicircle" || name.rfind("marchenko-pastur", 0) == 0) continue;  // checks of their own
    programs::Entry e = programs::make_program(name);
    progress(opt, fmt::format("master-theorem: limit of {} at {} digits", name, opt.digits));
    Limit lim = limit(e.program, {.digits = opt.digits});
    std::vector<Ladder> ls = compare_moments(e.program, e.moments, lim, opt, name, {}, rule);
    r.figures.push_back(error_figure(name, e.description + ": rms error against the width", ls));
    r.extra["programs"].push_back({{"name", name}, {"description", e.description}});
    for (Ladder& l : ls) r.ladders.push_back(std::move(l));
  }
  finish(r);
  return r;
}

}  // namespace netsor::checks

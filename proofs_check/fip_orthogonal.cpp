// proofs_check/fip_orthogonal.cpp — asymptotic freeness of layerwise Jacobians with Haar orthogonal weights.
//
// Freeness side: `check_freeness` on {O2, O2^T} against the derivative matrices D_l = diag(tanh'(h_l)) of a
// two-layer MLP with Haar orthogonal weights. Prediction side: the moments of J J^T, J = D2 O2 D1 O1, by free
// probability (O Haar unitary, the D's from the Master Theorem) against exact traces of the sampled networks.
#include "check.hpp"

#include <fmt/format.h>

namespace netsor::checks {

Result check_fip_orthogonal(const Options& opt) {
  Result r;
  r.statement =
      "For an MLP with Haar orthogonal weights O_l, the pairs {O_l, O_l^T} and the family of derivative matrices "
      "{D_1, ..., D_L}, D_l = diag(phi'(h_l)), are asymptotically free; so the spectrum of the input-output Jacobian "
      "J J^T is the free multiplicative convolution of the layers' laws.";
  r.citation = "T. Hayase and B. Collins, Asymptotic freeness of layerwise Jacobians caused by invariance of "
               "multilayer perceptron: the Haar orthogonal case (Commun. Math. Phys. 2023; arXiv:2103.13466), Thm 1.";
  Program p;
  Dim n = p.dim("n");
  Matrix O1 = p.orthogonal_matrix("O1", n, {.variance = 1.5});
  Matrix O2 = p.orthogonal_matrix("O2", n, {.variance = 1.5});
  Vector x = p.gaussian_vector("x", n);
  Vector h1 = (O1 * x).named("h1");
  Vector x1 = tanh(h1).named("x1");
  Vector h2 = (O2 * x1).named("h2");

  const Word D1 = diag(activation_derivative("tanh", h1)), D2 = diag(activation_derivative("tanh", h2));
  const std::vector<long> widths = capped_widths(opt, 1024);
  // A free word decays like 1/n (exponent 1), a dependent one not at all (0). With 16 trials and three widths the
  // fitted exponent has a standard deviation of about 0.2, so the threshold sits at 0.25, four deviations below 1;
  // dependent words are caught first by their non-zero extrapolated value.
  FreenessOptions fo{.degree = 4, .widths = widths, .trials = opt.trials, .seed = opt.seed, .min_exponent = 0.25};
  std::vector<Word> a = {O2, O2.T()};
  if (opt.inject == Inject::dependence) a = {D2 * O2, O2.T() * D2};
  progress(opt, fmt::format("fip-orthogonal: alternating centered words up to degree {}", fo.degree));
  FreenessReport rep = check_freeness(p, a, {D1, D2}, fo);
  add_freeness(r, rep, opt.inject == Inject::dependence ? "{D2 O2, O2^T D2} vs {D1, D2} (injected)"
                                                         : "{O2, O2^T} vs {D1, D2}");

  progress(opt, fmt::format("fip-orthogonal: limit at {} digits", opt.digits));
  Limit lim = limit(p, {.digits = opt.digits});
  const Word J = D2 * O2 * D1 * O1, JJ = J * J.T();
  const std::vector<std::pair<std::string, Word>> words = {
      {"tau(J J^T)", JJ}, {"tau((J J^T)^2)", JJ * JJ}, {"tau((J J^T)^3)", JJ * JJ * JJ}};
  const LadderRule rule;
  r.ladders = compare_traces(p, words, lim, opt, widths, "fip-orthogonal", rule);
  r.rule = "Freeness: " + rep.rule + ". Jacobian moments (widths up to 1024, exact traces): " + rule.text() + ".";
  finish(r);
  return r;
}

}  // namespace netsor::checks

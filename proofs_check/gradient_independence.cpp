// proofs_check/gradient_independence.cpp — the gradient independence assumption, where it is a theorem.
//
// Two programs share a 3-layer tanh MLP forward pass and backpropagate an output gradient: one with the true
// transposes W_l^T, one with independent copies Wt_l^T of the same law (the "gradient independence assumption"
// of the mean-field literature). When the output gradient is an independent zero-mean direction v (a linear
// read-out f = v^T x_L / sqrt n), the Zdot corrections of the true program vanish and both have the same
// limits; when it depends on the forward pass (f = |x_L|^2 / 2, gradient x_L), they differ. The check computes
// both programs' limits (the evaluator treats them by different rules: Zdot or none), simulates the true program
// and compares it with the independent-copy limit, and runs the second case as a control of its sensitivity.
#include "check.hpp"
#include "spectral.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace netsor::checks {

namespace {

struct Backprop {
  Program p;
  std::vector<Scalar> moments;
};

// The MLP and its backward pass; `independent` uses copies of the weights for the transposes, `covered` picks
// the read-out gradient (v: covered by the theorem; x_L: not).
Backprop build(bool independent, bool covered) {
  constexpr int depth = 3;
  Backprop b;
  Program& p = b.p;
  Dim n = p.dim("n");
  Vector x = p.gaussian_vector("x", n);
  std::vector<Matrix> Ws, Wt;
  std::vector<Vector> hs, xs;
  Vector act = x;
  for (int l = 1; l <= depth; ++l) {
    const std::string s = std::to_string(l);
    Ws.push_back(p.gaussian_matrix("W" + s, n, n, {.variance = 1.5}));
    if (independent) Wt.push_back(p.gaussian_matrix("Wt" + s, n, n, {.variance = 1.5}));
    hs.push_back(p.matmul("h" + s, Ws.back(), act));
    act = p.vector("x" + s, tanh(hs.back()));
    xs.push_back(act);
  }
  Vector v = p.gaussian_vector("v", n);
  Vector dx = covered ? v : xs.back();
  for (int l = depth; l >= 1; --l) {
    const std::string s = std::to_string(l);
    Vector dh = p.vector("dh" + s, activation_derivative("tanh", hs[static_cast<std::size_t>(l - 1)]) * dx);
    b.moments.push_back(p.moment("|dh" + s + "|^2", dh * dh));
    const Matrix& back = independent ? Wt[static_cast<std::size_t>(l - 1)] : Ws[static_cast<std::size_t>(l - 1)];
    dx = p.matmul("dx" + std::to_string(l - 1), back.T(), dh);
    b.moments.push_back(p.moment("|dx" + std::to_string(l - 1) + "|^2", dx * dx));
    const Vector& below = l >= 2 ? xs[static_cast<std::size_t>(l - 2)] : x;
    b.moments.push_back(p.moment("x" + std::to_string(l - 1) + ".dx" + std::to_string(l - 1), below * dx));
  }
  return b;
}

}  // namespace

Result check_gradient_independence(const Options& opt) {
  Result r;
  r.statement =
      "Backpropagation through a wide network with the true transposes W_l^T gives the same limits as with "
      "independent copies of the weights (the gradient independence assumption) when the output gradient is an "
      "independent zero-mean direction (a linear read-out not used in the forward pass): the Zdot corrections of the "
      "Master Theorem vanish. With a read-out that depends on the forward pass they do not.";
  r.citation = "G. Yang, Tensor Programs III (arXiv:2009.10685), gradient independence as a consequence of the "
               "NETSOR-transpose Master Theorem; the condition on the read-out is that of Tensor Programs II "
               "(arXiv:2006.14548), gradient independence assumption.";
  const bool covered = opt.inject != Inject::dependence;  // the injected fault: claim the uncovered case
  progress(opt, fmt::format("gradient-independence: limits of both programs at {} digits", opt.digits));
  Backprop truth = build(false, covered), copy = build(true, covered);
  Limit lt = limit(truth.p, {.digits = opt.digits}), lc = limit(copy.p, {.digits = opt.digits});

  Table agree{"limits: true W^T versus independent copies" + std::string(covered ? "" : " (injected: read-out x_L)"),
              {"quantity", "true W^T", "independent copy", "agree to digits"}, {}};
  for (std::size_t i = 0; i < truth.moments.size(); ++i) {
    const Estimate a = lt[truth.moments[i]], b = lc[copy.moments[i]];
    const Real diff = abs(a.value - b.value);
    const Real tol = a.error + b.error + pow(Real(10), -static_cast<int>(opt.digits)) * abs(b.value);
    const bool same = diff <= tol;
    agree.rows.push_back({truth.moments[i].name(), limit_text(a, 20), limit_text(b, 20), same ? "yes" : "NO"});
    if (!same)
      r.failures.push_back(fmt::format("{}: the limit with W^T ({}) differs from the independent-copy limit ({})",
                                       truth.moments[i].name(), limit_text(a, 12), limit_text(b, 12)));
  }
  r.tables.push_back(std::move(agree));

  // The true program simulated, against the independent-copy limit (what the assumption predicts).
  std::vector<std::vector<std::vector<double>>> samples(truth.moments.size());
  for (long n : opt.widths) {
    progress(opt, fmt::format("gradient-independence: simulating n = {}, {} trials", n, opt.trials));
    Simulation sim = simulate(truth.p, {.n = n, .trials = opt.trials, .seed = opt.seed, .keep_vectors = false});
    for (std::size_t i = 0; i < truth.moments.size(); ++i) samples[i].push_back(sim[truth.moments[i]].samples);
  }
  const LadderRule rule;
  for (std::size_t i = 0; i < truth.moments.size(); ++i) {
    const Estimate b = lc[copy.moments[i]];
    const double value = injected(static_cast<double>(b.value), opt);
    r.ladders.push_back(compare_ladder("W^T simulated vs copy limit: " + truth.moments[i].name(), value,
                                       opt.inject == Inject::wrong_limit ? fmt_double(value, 17) + " (injected)"
                                                                         : limit_text(b, opt.digits),
                                       opt.widths, samples[i], rule));
  }

  // Control: the uncovered read-out must make a visible difference, or this check could not fail.
  if (covered) {
    progress(opt, "gradient-independence: control with the read-out gradient x_L");
    Backprop ct = build(false, false), cc = build(true, false);
    Limit lct = limit(ct.p, {.digits = 15}), lcc = limit(cc.p, {.digits = 15});
    Table control{"control (not covered): read-out gradient x_L", {"quantity", "true W^T", "independent copy",
                                                                   "relative difference"}, {}};
    double largest = 0;
    for (std::size_t i = 0; i < ct.moments.size(); ++i) {
      const double a = static_cast<double>(lct[ct.moments[i]].value), b = static_cast<double>(lcc[cc.moments[i]].value);
      const double rel = std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-300});
      largest = std::max(largest, rel);
      control.rows.push_back({ct.moments[i].name(), fmt_double(a, 12), fmt_double(b, 12), fmt_double(rel, 3)});
    }
    r.tables.push_back(std::move(control));
    r.extra["control_largest_relative_difference"] = largest;
    if (largest < 1e-2)
      r.failures.push_back(fmt::format("control: the uncovered read-out changes the limits by only {:.2g}: the check "
                                       "would not see a violation",
                                       largest));
  }
  r.rule = "Limits of the two programs must agree within their certified errors (" + std::to_string(opt.digits) +
           " digits); the true program's simulation against the independent-copy limit: " + rule.text() +
           "; the uncovered control must differ by at least 1% in some quantity.";
  r.figures.push_back(error_figure("errors", "true W^T simulated against the independent-copy limit", r.ladders));
  finish(r);
  return r;
}

}  // namespace netsor::checks

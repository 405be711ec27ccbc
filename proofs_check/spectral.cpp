// proofs_check/spectral.cpp — empirical spectra against limiting laws (see spectral.hpp).
#include "spectral.hpp"

#include <netsor/sim/trace.hpp>

#include <Eigen/Eigenvalues>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace netsor::checks {

std::vector<double> symmetric_eigenvalues(const Simulation& sim, const Word& w, int trial) {
  const Simulation::TrialValues tv = sim.run_trial(trial);
  Eigen::MatrixXd m = detail::word_matrix(w, tv, sim.widths());
  m = (m + m.transpose()).eval() / 2;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(m, Eigen::EigenvaluesOnly);
  const Eigen::VectorXd ev = es.eigenvalues();
  return {ev.data(), ev.data() + ev.size()};
}

std::string SpectralRule::text() const {
  return fmt::format("the Kolmogorov distance D_n between the empirical eigenvalue distribution (one sampled "
                     "matrix per width) and the predicted law must shrink like n^b with a fitted b <= {} and be at "
                     "most {} at the largest width",
                     max_slope, max_distance);
}

void SpectralLadder::add(long n, std::vector<double> eigenvalues, const std::function<double(double)>& cdf,
                         double atom_at, double atom_mass) {
  widths_.push_back(n);
  distance_.push_back(kolmogorov_distance(eigenvalues, cdf, atom_at, atom_mass));
  last_ = std::move(eigenvalues);
}

void SpectralLadder::add_trials(long n, const std::vector<std::vector<double>>& samples,
                                const std::function<double(double)>& cdf, double atom_at, double atom_mass) {
  if (samples.size() < 2) throw invalid_argument("SpectralLadder::add_trials: needs at least two samples");
  double s1 = 0, s2 = 0;
  for (const auto& e : samples) {
    const double d = kolmogorov_distance(e, cdf, atom_at, atom_mass);
    s1 += d, s2 += d * d;
  }
  const double k = static_cast<double>(samples.size()), mean = s1 / k;
  widths_.push_back(n);
  distance_.push_back(mean);
  se_.push_back(std::sqrt(std::max(0.0, s2 / k - mean * mean) / (k - 1)));
  last_ = samples.back();
}

// Weighted least squares of log D on log n, weights 1 / var(log D) = (D / se)^2; without standard errors, the
// unweighted fit.
double SpectralLadder::slope() const {
  if (se_.empty()) return loglog_slope(std::vector<double>(widths_.begin(), widths_.end()), distance_);
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < widths_.size(); ++i) {
    const double w = se_[i] > 0 ? std::pow(distance_[i] / se_[i], 2) : 1e12;
    const double x = std::log(static_cast<double>(widths_[i])), y = std::log(distance_[i]);
    sw += w, sx += w * x, sy += w * y, sxx += w * x * x, sxy += w * x * y;
  }
  return (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
}

double SpectralLadder::slope_se() const {
  if (se_.empty()) return 0;
  double sw = 0, sx = 0, sxx = 0;
  for (std::size_t i = 0; i < widths_.size(); ++i) {
    const double w = se_[i] > 0 ? std::pow(distance_[i] / se_[i], 2) : 1e12;
    const double x = std::log(static_cast<double>(widths_[i]));
    sw += w, sx += w * x, sxx += w * x * x;
  }
  return std::sqrt(sw / (sw * sxx - sx * sx));
}

void SpectralLadder::finish(Result& r) const {
  const bool trials = !se_.empty();
  Table t{"Kolmogorov distance, " + what_, {"n", trials ? "mean D_n over samples" : "D_n"}, {}};
  for (std::size_t i = 0; i < widths_.size(); ++i)
    t.rows.push_back({std::to_string(widths_[i]),
                      trials ? fmt_double(distance_[i], 4) + " ± " + fmt_double(se_[i], 2) : fmt_double(distance_[i], 4)});
  const double b = slope(), se = slope_se();
  t.rows.push_back({"fitted exponent b", trials ? fmt_double(b, 3) + " ± " + fmt_double(se, 2) : fmt_double(b, 3)});
  r.tables.push_back(std::move(t));
  r.extra["kolmogorov"][what_] = {{"widths", widths_}, {"distance", distance_}, {"exponent", b}};
  if (trials) r.extra["kolmogorov"][what_]["distance_se"] = se_, r.extra["kolmogorov"][what_]["exponent_se"] = se;
  const double bound = rule_.max_slope + 3 * se;
  if (!(b <= bound) || !(distance_.back() <= rule_.max_distance))
    r.failures.push_back(fmt::format("{}: Kolmogorov distance {} at n = {} with fitted exponent {:.2f} (rule: <= {} "
                                     "and exponent <= {:.2f})",
                                     what_, fmt_double(distance_.back(), 3), widths_.back(), b, rule_.max_distance,
                                     bound));
}

Figure SpectralLadder::figure(const std::string& name) const {
  Figure f{name, "Kolmogorov distance to the predicted law, " + what_, "width n", "D_n", true, true, {}};
  Series s{"D_n", Series::Style::points, {widths_.begin(), widths_.end()}, distance_, {}};
  f.series.push_back(std::move(s));
  return f;
}

Figure error_figure(const std::string& name, const std::string& title, const std::vector<Ladder>& ladders) {
  Figure f{name, title, "width n", "rms error over trials", true, true, {}};
  std::vector<double> first;
  for (const Ladder& l : ladders) {
    bool any = false;
    for (double v : l.rms) any |= v > 0;
    if (!any) continue;
    first.push_back(l.rms.front());
    f.series.push_back({fmt::format("{} (slope {:.2f})", l.quantity, l.exponent), Series::Style::points,
                        {l.widths.begin(), l.widths.end()}, l.rms, {}});
  }
  if (!first.empty()) {
    // The guide starts at the median of the first-width errors.
    std::nth_element(first.begin(), first.begin() + static_cast<long>(first.size() / 2), first.end());
    const double top = first[first.size() / 2];
    Series guide{"n^-1/2", Series::Style::lines, {}, {}, {}};
    const auto& w = ladders.front().widths;
    for (long n : w) {
      guide.x.push_back(static_cast<double>(n));
      guide.y.push_back(top * std::sqrt(static_cast<double>(w.front()) / static_cast<double>(n)));
    }
    f.series.push_back(std::move(guide));
  }
  return f;
}

}  // namespace netsor::checks

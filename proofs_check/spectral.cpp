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

double SpectralLadder::slope() const {
  return loglog_slope(std::vector<double>(widths_.begin(), widths_.end()), distance_);
}

void SpectralLadder::finish(Result& r) const {
  Table t{"Kolmogorov distance, " + what_, {"n", "D_n"}, {}};
  for (std::size_t i = 0; i < widths_.size(); ++i)
    t.rows.push_back({std::to_string(widths_[i]), fmt_double(distance_[i], 4)});
  const double b = slope();
  t.rows.push_back({"fitted exponent b", fmt_double(b, 3)});
  r.tables.push_back(std::move(t));
  r.extra["kolmogorov"][what_] = {{"widths", widths_}, {"distance", distance_}, {"exponent", b}};
  if (!(b <= rule_.max_slope) || !(distance_.back() <= rule_.max_distance))
    r.failures.push_back(fmt::format("{}: Kolmogorov distance {} at n = {} with fitted exponent {:.2f} (rule: <= {} "
                                     "and exponent <= {})",
                                     what_, fmt_double(distance_.back(), 3), widths_.back(), b, rule_.max_distance,
                                     rule_.max_slope));
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

// core/src/spectra/spectrum.cpp — the user-facing Spectrum: grids, the CDF and integrals of the density
// (netsor/spectra/spectrum.hpp).
//
// Integrals of the continuous part are taken in t = log x, where the integrand is x rho(x): the relu spectrum
// behaves like x^{1/L - 1} near 0 (shared/MATH.md), i.e. e^{t/L} in t, and at depth 50 keeps mass below 1e-300.
// Panels: geometrically graded toward each finite edge (square-root edges), uniform (width 1/16) through the bulk,
// then widening toward -infinity until the panel masses fall below 1e-17 of the total; the rest is the
// geometric tail of the last panels. Each panel: 8-point Gauss-Legendre.
#include <netsor/errors.hpp>
#include <netsor/spectra/spectrum.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace netsor {

namespace detail {

namespace {
// 8-point Gauss-Legendre on [-1, 1].
constexpr double kGLx[8] = {-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498,
                            0.1834346424956498,  0.5255324099163290,  0.7966664774136267,  0.9602898564975363};
constexpr double kGLw[8] = {0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620,
                            0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};

void add_panel(std::vector<double>& lo, std::vector<double>& hi, double a, double b) {
  if (b > a) lo.push_back(a), hi.push_back(b);
}

// Evaluates the panels (sorted ascending by construction of the caller) and appends them to the table.
void evaluate_panels(const SpectrumModel& m, const std::vector<double>& lo, const std::vector<double>& hi,
                     SpectrumModel::Table& tab, std::vector<double>* integrals) {
  std::vector<std::size_t> order(lo.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lo[a] < lo[b]; });
  std::vector<double> t;
  for (std::size_t i : order)
    for (int j = 0; j < 8; ++j) t.push_back(0.5 * (lo[i] + hi[i]) + 0.5 * (hi[i] - lo[i]) * kGLx[j]);
  const std::vector<double> f = m.x_density_log(t);
  std::size_t k = 0;
  for (std::size_t i : order) {
    double s = 0;
    for (int j = 0; j < 8; ++j, ++k) {
      const double w = 0.5 * (hi[i] - lo[i]) * kGLw[j];
      tab.t.push_back(t[k]), tab.w.push_back(w), tab.f.push_back(f[k]);
      s += w * f[k];
    }
    tab.panel_lo.push_back(lo[i]), tab.panel_hi.push_back(hi[i]), tab.panel_integral.push_back(s);
    if (integrals) integrals->push_back(s);
  }
}
// evaluate_panels, then halves of every panel over which x rho(x) changes by more than a factor e^1.2 between its
// first and last node (8-point Gauss-Legendre on e^{kappa t} over a width w errs by ~(kappa w / 2)^16 / 16!, 1e-15
// relative at kappa w = 1.5): the lower tail of a deep orthogonal network falls super-exponentially in t, where
// the widening panels of the tail would otherwise lose ~1e-10 of mass. Panels of negligible mass are kept as they are.
void evaluate_panels_adaptive(const SpectrumModel& m, std::vector<double> lo, std::vector<double> hi,
                              SpectrumModel::Table& tab) {
  std::vector<double> alo, ahi, at, aw, af, aint;
  for (int round = 0; round < 40 && !lo.empty(); ++round) {
    SpectrumModel::Table tmp;
    evaluate_panels(m, lo, hi, tmp, nullptr);
    std::vector<double> nlo, nhi;
    for (std::size_t i = 0; i < tmp.panel_lo.size(); ++i) {
      double fmin = std::numeric_limits<double>::infinity(), fmax = 0;
      for (int j = 0; j < 8; ++j) fmin = std::min(fmin, tmp.f[8 * i + j]), fmax = std::max(fmax, tmp.f[8 * i + j]);
      const double w = tmp.panel_hi[i] - tmp.panel_lo[i];
      const double a = tmp.f[8 * i], b = tmp.f[8 * i + 7];
      const bool steep = !(a > 0 && b > 0) || std::abs(std::log(b / a)) > 1.2;
      if (steep && fmax * w > 1e-18 && w > 1e-3) {
        const double mid = 0.5 * (tmp.panel_lo[i] + tmp.panel_hi[i]);
        add_panel(nlo, nhi, tmp.panel_lo[i], mid);
        add_panel(nlo, nhi, mid, tmp.panel_hi[i]);
        continue;
      }
      alo.push_back(tmp.panel_lo[i]), ahi.push_back(tmp.panel_hi[i]), aint.push_back(tmp.panel_integral[i]);
      for (int j = 0; j < 8; ++j) at.push_back(tmp.t[8 * i + j]), aw.push_back(tmp.w[8 * i + j]), af.push_back(tmp.f[8 * i + j]);
    }
    lo = std::move(nlo), hi = std::move(nhi);
  }
  if (!lo.empty()) throw convergence_error("Spectrum: the density's table did not resolve x rho(x) near t = " +
                                           std::to_string(lo[0]));
  std::vector<std::size_t> order(alo.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return alo[x] < alo[y]; });
  for (std::size_t i : order) {
    tab.panel_lo.push_back(alo[i]), tab.panel_hi.push_back(ahi[i]), tab.panel_integral.push_back(aint[i]);
    for (int j = 0; j < 8; ++j) tab.t.push_back(at[8 * i + j]), tab.w.push_back(aw[8 * i + j]), tab.f.push_back(af[8 * i + j]);
  }
}
}  // namespace

const SpectrumModel::Table& SpectrumModel::table() const {
  std::lock_guard<std::mutex> lock(table_mu_);
  if (table_) return *table_;
  auto tab = std::make_shared<Table>();
  build_table(*tab);
  table_ = tab;
  return *table_;
}

// The panels graded toward an edge, [e - H 2^-k, e - H 2^-(k+1)] for k = kFar..33, evaluated a few at a time from
// the far end: within ~1e-10 (relative) of a square-root edge the continuation can no longer be certified at depth
// 128 (the Jacobian of the system degenerates there). Where it stops, the sliver left out gets the mass of a
// square-root edge, (2/3) x rho (at the last node) times its width in t, and is returned; the panels kept are
// appended to tab. `sign` is +1 toward the top edge, -1 toward the lower edge of a gap.
namespace {
constexpr int kFar = 20;  // panels up to 2^-20 H from an edge go with the bulk (always certified so far)
}
double SpectrumModel::near_edge_panels(Table& tab, double edge_t, double H, int sign) const {
  double last_t = 0, last_f = 0;
  for (int k = kFar; k < 34; k += 2) {
    std::vector<double> lo, hi;
    for (int j = k; j < std::min(k + 2, 34); ++j) {
      const double x = edge_t - sign * H * std::ldexp(1.0, -j), y = edge_t - sign * H * std::ldexp(1.0, -(j + 1));
      add_panel(lo, hi, std::min(x, y), std::max(x, y));
    }
    Table part;
    try {
      evaluate_panels(*this, lo, hi, part, nullptr);
    } catch (const convergence_error&) {
      if (k == kFar) throw;  // not even 2^-20 of a panel from the edge: no estimate of the sliver
      break;
    }
    for (std::size_t i = 0; i < part.t.size(); ++i) tab.t.push_back(part.t[i]), tab.w.push_back(part.w[i]), tab.f.push_back(part.f[i]);
    for (std::size_t i = 0; i < part.panel_lo.size(); ++i)
      tab.panel_lo.push_back(part.panel_lo[i]), tab.panel_hi.push_back(part.panel_hi[i]),
          tab.panel_integral.push_back(part.panel_integral[i]);
    // the node nearest the edge
    std::size_t best = 0;
    for (std::size_t i = 0; i < part.t.size(); ++i)
      if (std::abs(edge_t - part.t[i]) < std::abs(edge_t - part.t[best])) best = i;
    last_t = sign > 0 ? part.panel_hi.back() : part.panel_lo.front();
    last_f = part.f[best] * std::sqrt(std::abs(edge_t - last_t) / std::abs(edge_t - part.t[best]));
  }
  return (2.0 / 3.0) * last_f * std::abs(edge_t - last_t);
}

void SpectrumModel::build_table(Table& table) const {
  Table* tab = &table;
  const auto [a, b] = support();
  if (b > 0 && b > a) {
    const double tb = std::log(b);
    const bool gap = a > 0;
    const double ta = gap ? std::log(a) : -std::numeric_limits<double>::infinity();
    const double H = gap ? std::min(1.0, 0.25 * (tb - ta)) : 1.0;
    std::vector<double> lo, hi;
    // graded toward t_b (the last panels, from 2^-kFar H on, by near_edge_panels below)
    double x = tb - H;
    for (int k = 0; k < kFar; ++k) {
      const double y = tb - H * std::ldexp(1.0, -(k + 1));
      add_panel(lo, hi, x, y);
      x = y;
    }
    // The sliver [tb - H 2^-34, tb] is left out: at a square-root edge it holds a mass of order (H 2^-34)^{3/2}
    // ~ 1e-16 of the scale, and the density there cannot be certified (the Jacobian degenerates at the edge). A
    // model with an inverse-square-root edge gives the sliver's mass (~ 1e-5 of the scale) itself.
    if (const double m = top_sliver_mass(tb - H * std::ldexp(1.0, -34)); m > 0) {
      // the model knows the edge (the push-forward at depth 1): all the graded panels, its own sliver
      for (int k = kFar; k < 34; ++k) {
        const double y = tb - H * std::ldexp(1.0, -(k + 1));
        add_panel(lo, hi, x, y);
        x = y;
      }
      tab->top = m;
    } else {
      tab->top = near_edge_panels(*tab, tb, H, +1);
    }
    tab->top_x = b;
    if (gap) {
      // graded toward t_a, uniform between; the sliver next to t_a counts as the tail below the lowest panel
      x = ta + H;
      for (int k = 0; k < kFar; ++k) {
        const double y = ta + H * std::ldexp(1.0, -(k + 1));
        add_panel(lo, hi, y, x);
        x = y;
      }
      tab->tail = near_edge_panels(*tab, ta, H, -1);
      const int n = std::max(1, static_cast<int>(std::ceil((tb - ta - 2 * H) * 16)));
      for (int i = 0; i < n; ++i) add_panel(lo, hi, ta + H + (tb - ta - 2 * H) * i / n, ta + H + (tb - ta - 2 * H) * (i + 1) / n);
      evaluate_panels_adaptive(*this, lo, hi, *tab);
    } else {
      // bulk: [tb - H - 12, tb - H] at width 1/16, then chunks downward with widening panels
      const double top = tb - H;
      for (int i = 0; i < 192; ++i) add_panel(lo, hi, top - (i + 1) / 16.0, top - i / 16.0);
      evaluate_panels_adaptive(*this, lo, hi, *tab);
      double t0 = top - 12, width = 1.0 / 16;
      double fmax = 0;
      for (double v : tab->f) fmax = std::max(fmax, v);
      bool done = false;
      for (int chunk = 0; chunk < 400 && !done; ++chunk) {
        std::vector<double> clo, chi;
        double tt = t0;
        for (int i = 0; i < 16; ++i) {
          width = std::min(width * 1.15, 4.0);
          add_panel(clo, chi, tt - width, tt);
          tt -= width;
        }
        const std::size_t first = tab->f.size();
        evaluate_panels_adaptive(*this, clo, chi, *tab);
        // The nodes of this chunk are tab->t[first..] ascending. Near 0 the law behaves like x^{kappa - 1}
        // (kappa = 1/L for relu), i.e. x rho(x) ~ e^{kappa t}: stop once x rho is below 1e-13 of its peak (the
        // solver's floor is ~1e-16 |m|), and add the tail f_low / kappa with kappa measured on the chunk, never
        // above the measured value and never below 1 / (2 (depth + 1)).
        const double f_low = tab->f[first], t_low = tab->t[first];
        const double f_high = tab->f.back(), t_high = tab->t.back();
        t0 = tt;
        if (f_low <= 1e-13 * fmax) {
          double kappa = (f_low > 0 && f_high > f_low) ? std::log(f_high / f_low) / (t_high - t_low) : 1.0;
          kappa = std::max(kappa, 1.0 / (2.0 * (net.depth + 1)));
          tab->tail = f_low / kappa;
          done = true;
        }
      }
      if (!done)
        throw convergence_error("Spectrum: the density's mass near 0 did not decay within t = log x > " +
                                std::to_string(t0));
    }
  }
}

}  // namespace detail

std::vector<Real> Spectrum::moments(int k) const { return model_->moments(k); }
std::optional<std::vector<Rational>> Spectrum::exact_moments(int k) const { return model_->exact_moments(k); }

double Spectrum::density(double x) const { return density_with_error(x).density; }

DensityValue Spectrum::density_with_error(double x) const {
  if (std::isnan(x)) throw invalid_argument("Spectrum::density: x is NaN");
  return model_->densities({x})[0];
}

std::vector<DensityValue> Spectrum::density(const std::vector<double>& xs) const {
  std::vector<std::size_t> order(xs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return xs[a] < xs[b]; });
  std::vector<double> sorted(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) sorted[i] = xs[order[i]];
  const auto d = model_->densities(sorted);
  std::vector<DensityValue> out(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) out[order[i]] = d[i];
  return out;
}

std::vector<DensityValue> Spectrum::density_grid(int points) const {
  if (points < 1) throw invalid_argument("Spectrum::density_grid: points must be positive, got " + std::to_string(points));
  const auto [a, b] = support();
  std::vector<double> xs(points);
  for (int i = 0; i < points; ++i) xs[i] = a + (b - a) * (i + 0.5) / points;
  if (!(b > a)) return std::vector<DensityValue>(xs.size(), DensityValue{a, 0, 0});
  return model_->densities(xs);
}

std::pair<double, double> Spectrum::support() const { return model_->support(); }
const std::vector<Atom>& Spectrum::atoms() const { return model_->atoms; }

double Spectrum::continuous_mass() const {
  double s = 0;
  for (const auto& a : model_->atoms) s += a.mass;
  return 1 - s;
}

double Spectrum::integrated_mass() const {
  const auto& tab = model_->table();
  double s = tab.tail + tab.top;
  for (std::size_t i = 0; i < tab.t.size(); ++i) s += tab.w[i] * tab.f[i];
  return s;
}

std::vector<double> Spectrum::moments_from_density(int k) const {
  const auto& tab = model_->table();
  std::vector<double> m(k, 0.0);
  for (std::size_t i = 0; i < tab.t.size(); ++i) {
    const double x = std::exp(tab.t[i]);
    double p = tab.w[i] * tab.f[i];
    for (int j = 0; j < k; ++j) m[j] += (p *= x);
  }
  {
    double p = tab.top;  // the sliver at the top edge, at b (its width is ~1e-10 b)
    for (int j = 0; j < k; ++j) m[j] += (p *= tab.top_x);
  }
  for (const auto& a : model_->atoms) {
    double p = a.mass;
    for (int j = 0; j < k; ++j) m[j] += (p *= a.location);
  }
  return m;
}

std::vector<double> Spectrum::cdf(const std::vector<double>& xs) const {
  if (!std::is_sorted(xs.begin(), xs.end())) throw invalid_argument("Spectrum::cdf: the points must be sorted");
  const auto& tab = model_->table();
  const std::size_t np = tab.panel_lo.size();
  // panels sorted ascending by their lower end; cumulative masses at their upper ends
  std::vector<std::size_t> order(np);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return tab.panel_lo[a] < tab.panel_lo[b]; });
  std::vector<double> cum(np + 1, tab.tail);
  for (std::size_t i = 0; i < np; ++i) cum[i + 1] = cum[i] + tab.panel_integral[order[i]];
  // partial panels: [panel_lo, log x] by Gauss-Legendre at new nodes
  std::vector<double> out(xs.size(), 0.0), t;
  std::vector<std::size_t> which(xs.size(), np);
  std::vector<double> lo_of(xs.size(), 0.0);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!(xs[i] > 0) || np == 0) continue;
    const double lx = std::log(xs[i]);
    // last panel with lo <= lx
    auto it = std::upper_bound(order.begin(), order.end(), lx,
                               [&](double v, std::size_t p) { return v < tab.panel_lo[p]; });
    if (it == order.begin()) {
      out[i] = tab.tail;
      continue;
    }
    const std::size_t pos = static_cast<std::size_t>(it - order.begin()) - 1;
    const std::size_t p = order[pos];
    if (lx >= tab.panel_hi[p]) {
      out[i] = cum[pos + 1];
      continue;
    }
    which[i] = pos;
    lo_of[i] = tab.panel_lo[p];
    out[i] = cum[pos];
    for (int j = 0; j < 8; ++j) t.push_back(0.5 * (lo_of[i] + lx) + 0.5 * (lx - lo_of[i]) * detail::kGLx[j]);
  }
  std::vector<double> tsorted = t;
  std::vector<double> f;
  if (!t.empty()) {
    std::vector<std::size_t> ord(t.size());
    std::iota(ord.begin(), ord.end(), 0);
    std::sort(ord.begin(), ord.end(), [&](std::size_t a, std::size_t b) { return t[a] < t[b]; });
    for (std::size_t i = 0; i < t.size(); ++i) tsorted[i] = t[ord[i]];
    const auto fs = model_->x_density_log(tsorted);
    f.assign(t.size(), 0.0);
    for (std::size_t i = 0; i < t.size(); ++i) f[ord[i]] = fs[i];
  }
  std::size_t k = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (which[i] == np) continue;
    const double lx = std::log(xs[i]);
    for (int j = 0; j < 8; ++j, ++k) out[i] += 0.5 * (lx - lo_of[i]) * detail::kGLw[j] * f[k];
  }
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (tab.top > 0 && xs[i] >= tab.top_x) out[i] += tab.top;
    for (const auto& a : model_->atoms)
      if (a.location <= xs[i]) out[i] += a.mass;
  }
  return out;
}

const MeanField& Spectrum::mean_field() const { return model_->mf; }
const std::vector<Real>& Spectrum::layer_variances() const { return model_->q; }
const std::string& Spectrum::kind() const { return model_->kind; }
const NetworkSpec& Spectrum::network() const { return model_->net; }
const SpectrumOptions& Spectrum::options() const { return model_->options; }

}  // namespace netsor

// core/src/spectra/jacobian.cpp — the law of J J^T for an MLP at initialization (netsor/spectra/spectrum.hpp).
//
// Moments: S_{J^T J}(w) = prod_l S_{D_l^2}(Lambda_l w) / (sigma^2 c_l (1 + Lambda_l w)) for Gaussian weights
// (shared/MATH.md, "Rectangular layers"; Pennington, Schoenholz & Ganguli 2018, eq. 13 for equal widths) and
// prod_l S_{D_l^2}(w) / sigma^2 for Haar orthogonal weights, multiplied as power series and inverted
// (free/toolkit.hpp), in Real at two working precisions, or in Rational when every factor is rational.
// Density: spectra/lilypads.hpp. Atoms: the kernel of J (generic rank min(N_0, min_l N_l P(phi'(h^l) != 0))), and
// for orthogonal weights with atoms of D_l^2 at 1 the Bercovici-Voiculescu rule (an atom of mu (x) nu at ab has
// mass mu{a} + nu{b} - 1 when positive; Bercovici & Voiculescu 1993, Thm 7.4 / Belinschi 2003).
#include <netsor/errors.hpp>
#include <netsor/free/toolkit.hpp>
#include <netsor/spectra/activation.hpp>
#include <netsor/spectra/lilypads.hpp>
#include <netsor/spectra/spectrum.hpp>

#include "smooth_law.hpp"
#include "two_precisions.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <cstdio>

namespace netsor {

const char* to_string(Weights w) { return w == Weights::orthogonal ? "orthogonal" : "gaussian"; }

namespace detail {

namespace {

unsigned guard_digits(unsigned digits) { return spectra_guard_digits(digits); }

// The series of S_{J^T J} truncated to k terms, then the moments m_1..m_k of J^T J.
template <class T>
std::vector<T> jtj_moments(const std::vector<std::vector<T>>& d2_by_layer, const std::vector<T>& Lambda,
                           const std::vector<T>& c, const T& sigma2, bool orthogonal, int k) {
  const std::size_t L = d2_by_layer.size();
  std::vector<T> S(k, T(0));
  S[0] = T(1);
  std::map<const std::vector<T>*, std::vector<T>> cache;
  for (std::size_t l = 0; l < L; ++l) {
    std::vector<T> sd = free::s_transform(d2_by_layer[l]);
    T p = T(1);
    for (int j = 0; j < k; ++j) {  // S_{D^2}(Lambda w)
      sd[j] *= p;
      p *= Lambda[l];
    }
    S = free::detail::mul(S, sd, k - 1);
    if (orthogonal) {
      for (auto& s : S) s /= sigma2;
    } else {
      std::vector<T> g(k, T(0));  // 1 / (sigma^2 c (1 + Lambda w))
      T q = T(1) / (sigma2 * c[l]);
      for (int j = 0; j < k; ++j) {
        g[j] = q;
        q *= -Lambda[l];
      }
      S = free::detail::mul(S, g, k - 1);
    }
  }
  // chi(w) = w S(w) / (1 + w); psi = chi^{-1}.
  std::vector<T> chi(k + 1, T(0));
  T prev = T(0);
  for (int j = 0; j < k; ++j) {
    const T q = S[j] - prev;
    chi[j + 1] = q;
    prev = q;
  }
  const auto psi = free::detail::inverse_series(chi, k, "jacobian_spectrum");
  return std::vector<T>(psi.begin() + 1, psi.end());
}

constexpr int kMaxEscalation = 4;    // levels a point may go beyond the chosen one
// Target of the a posteriori check of x rho(x) (absolute, at density_tolerance = 1e-10): integrated in log x over
// the hundreds of units a deep network's spectrum spans, it keeps the mass within ~1e-11.
constexpr double kXRhoTol = 1e-14;

class JacobianModel final : public SpectrumModel {
 public:
  // Per layer: width ratios Lambda_l = N_0/N_l, c_l = N_l/N_{l-1}; layer -> group of equal laws.
  std::vector<Rational> Lambda_exact, c_exact;
  Rational jjt_scale = 1;  // N_0 / N_L: law(J J^T) = scale law(J^T J) + (1 - scale) delta_0
  std::vector<int> group_of;
  std::vector<int> group_first;   // a layer of each group
  std::vector<int> group_count;   // n_l
  bool all_atomic = false;
  double atom0_jtj = 0;
  int level = 0;                  // level of the contour rule of smooth laws (step kContourH0 2^-level)
  std::vector<Contour> contours;  // per group, smooth phi' only
  std::string density_refusal;    // why the density is not available ("" when it is)
  // Orthogonal weights at depth 1 with a smooth phi': J J^T = sigma^2 D^2 exactly, and the density is the
  // push-forward of N(0, 1) by z -> sigma^2 d(z) (computed directly: at its top edge T(u) has a branch point).
  bool pushforward = false;
  mutable std::mutex mu;
  mutable std::map<int, std::shared_ptr<LilypadSolver>> solvers;
  std::pair<double, double> edges{0, 0};

  std::vector<Real> layer_q_at_current_precision() const {
    // The variances at the current precision (they carry digits beyond the target: see mean_field).
    return q;
  }

  bool exact_possible() const {
    const auto& a = activation_info(net.activation);
    return a.positively_homogeneous;
  }

  std::vector<Real> moments_at(int k, unsigned target) const {
    std::vector<Real> qs;
    if (net.input_variance) {
      qs = variance_path(net.activation, net.weight_variance, net.bias_variance, to_real(net.input_variance->exact),
                         net.depth, target);
    } else {
      qs = q;
    }
    std::vector<std::vector<Real>> d2(net.depth);
    std::map<int, std::vector<Real>> by_group;
    for (int l = 0; l < net.depth; ++l) {
      auto it = by_group.find(group_of[l]);
      if (it == by_group.end()) {
        const auto& a = activation_info(net.activation);
        const Real ql = a.positively_homogeneous ? Real(1) : qs[l];
        it = by_group.emplace(group_of[l], d2_moments_at(net.activation, ql, k, target)).first;
      }
      d2[l] = it->second;
    }
    std::vector<Real> La, cc;
    for (int l = 0; l < net.depth; ++l) La.push_back(to_real(Lambda_exact[l])), cc.push_back(to_real(c_exact[l]));
    auto m = jtj_moments<Real>(d2, La, cc, to_real(net.weight_variance.exact), net.weights == Weights::orthogonal, k);
    const Real sc = to_real(jjt_scale);
    for (auto& x : m) x *= sc;
    return m;
  }

  std::vector<Real> moments(int k) const override {
    return moments_at_two_precisions([this](int kk, unsigned t) { return moments_at(kk, t); }, k, options.digits,
                                     "jacobian_spectrum");
  }

  std::optional<std::vector<Rational>> exact_moments(int k) const override {
    if (!exact_possible()) return std::nullopt;
    const Rational p = net.activation == "relu" ? Rational(1, 2) : Rational(1);
    std::vector<std::vector<Rational>> d2(net.depth, std::vector<Rational>(k, p));
    auto m = jtj_moments<Rational>(d2, Lambda_exact, c_exact, net.weight_variance.exact,
                                   net.weights == Weights::orthogonal, k);
    for (auto& x : m) x *= jjt_scale;
    return m;
  }

  // The law of D^2 for group g as the solver holds it: exact atoms for piecewise-constant phi', else the real and
  // contour rules at a level (the contour nodes only when asked for).
  DiscreteLaw law(int g, int lev, bool with_contour = true) const {
    const auto& a = activation_info(net.activation);
    const double ql = a.positively_homogeneous ? 1.0 : static_cast<double>(q[group_first[g]]);
    DiscreteLaw d;
    if (a.piecewise_constant_derivative || ql == 0) {
      double p;
      if (ql == 0) {
        const double d0 = eval_double(a.dphi, 0.0);
        d.d = {d0 * d0};
        d.w = {1.0};
        d.finish();
        return d;
      }
      if (net.activation == "relu") p = 0.5;
      else if (net.activation == "hard_tanh") p = std::erf(1 / std::sqrt(2 * ql));
      else if (net.activation == "step") p = 0;
      else p = 1;
      if (p > 0) d.d.push_back(1.0), d.w.push_back(p);
      if (p < 1) d.d.push_back(0.0), d.w.push_back(1 - p);
      d.finish();
      return d;
    }
    return smooth_law(a.dphi, contours.at(g), lev, with_contour);
  }

  ProductSystem system(int lev) const {
    ProductSystem s;
    const double sigma2 = net.weight_variance.approx;
    const bool orth = net.weights == Weights::orthogonal;
    std::map<int, int> index;
    for (int l = 0; l < net.depth; ++l) {
      const int g = group_of[l];
      if (!index.count(g)) {
        index[g] = static_cast<int>(s.laws.size());
        s.laws.push_back(law(g, lev));
        s.mult.push_back(0);
        s.lambda.push_back(static_cast<double>(Lambda_exact[l]));
      }
      s.mult[index[g]] += 1;
    }
    s.alpha = orth ? net.depth - 1 : -1;
    double logm1 = 0, R = 1;
    for (int l = 0; l < net.depth; ++l) {
      const double Lprev = l == 0 ? 1.0 : static_cast<double>(Lambda_exact[l - 1]);
      const double cl = static_cast<double>(c_exact[l]);
      const DiscreteLaw& dl = s.laws[index[group_of[l]]];
      s.c += std::log(sigma2 * (orth ? 1.0 : Lprev));
      logm1 += std::log(sigma2 * (orth ? 1.0 : Lprev)) + std::log(dl.m1 / static_cast<double>(Lambda_exact[l]));
      R *= sigma2 * dl.dmax * (orth ? 1.0 : (1 + std::sqrt(cl)) * (1 + std::sqrt(cl)));
    }
    s.first_moment = std::exp(logm1);
    s.support_bound = std::max(R, 1e-300);
    return s;
  }

  std::shared_ptr<LilypadSolver> solver(int lev) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = solvers.find(lev);
    if (it != solvers.end()) return it->second;
    auto s = std::make_shared<LilypadSolver>(system(lev));
    solvers[lev] = s;
    return s;
  }

  bool smooth() const {
    const auto& a = activation_info(net.activation);
    return !a.piecewise_constant_derivative;
  }

  // The density machinery (contours checked at construction; edges and the level of the contour rule here) is
  // prepared on first use, so that a spectrum asked only for its moments costs nothing more.
  mutable std::once_flag density_once;
  void prepare_density() {
    if (!density_refusal.empty()) return;
    try {
      compute_edges();
      if (density_refusal.empty()) choose_level();
    } catch (const convergence_error& e) {
      if (!smooth()) throw;
      density_refusal = e.what();
    }
  }

  void require_density() const {
    std::call_once(density_once, [this] { const_cast<JacobianModel*>(this)->prepare_density(); });
    if (!density_refusal.empty())
      throw convergence_error("jacobian_spectrum(" + net.activation + "): the density, CDF and support edges are "
                              "not available: " + density_refusal + "; the moments are exact to the requested "
                              "digits (see docs/spectra.md, \"Known limits\")",
                              0);
  }

  // ---- the push-forward case (orthogonal, depth 1, smooth phi'): x = sigma^2 d(z), d even and decreasing in |z|.
  double pf_sigma2() const { return net.weight_variance.approx; }
  double pf_a() const { return contours.at(0).a; }
  double pf_root(double y) const {
    const auto& act = activation_info(net.activation);
    return pushforward_root(act.dphi, act.d2phi, pf_a(), y);
  }
  // The density of sigma^2 d(Z) at x.
  double pf_density(double x) const {
    const double b = edges.second;
    if (!(x > 0) || !(x < b)) return 0;
    const auto& act = activation_info(net.activation);
    return pushforward_density(act.dphi, act.d2phi, pf_a(), x / pf_sigma2()) / pf_sigma2();
  }

  // The mass between exp(t) and the top edge: P(|Z| < z0(exp(t))), exact (the inverse-square-root edge of the
  // push-forward keeps a mass ~ sqrt(b - x) there that the table's graded panels cannot leave out).
  double top_sliver_mass(double t) const override {
    if (!pushforward) return 0;
    const double x = std::exp(t);
    if (!(x < edges.second)) return 0;
    return std::erf(pf_root(x / pf_sigma2()) / std::sqrt(2.0));
  }

  // x rho(x) of J^T J at x = exp(t), t ascending: the certified continuation with the contour rule at level `lev`.
  // For a smooth phi' each point is re-solved (Newton from the certified root) with the rule of half the step, and
  // of half again while two successive rules differ by more than kXRhoTol and the difference still shrinks (the
  // contour passes close to the poles of 1/(1 - u d) where d is tiny, i.e. for very large u at very small x, and
  // the trapezoidal rule needs a finer step there). `out` is the finest value, `err` (when given) the last
  // difference. With `escalate` false, `err` is the difference between levels lev and lev + 1 only.
  std::vector<double> x_density_jtj(const std::vector<double>& ts, int lev, std::vector<double>* err,
                                    bool escalate = true, std::vector<double>* floor = nullptr) const {
    std::vector<double> out(ts.size(), 0.0);
    if (err) err->assign(ts.size(), 0.0);
    if (floor) floor->assign(ts.size(), 0.0);
    if (ts.empty() || all_atomic) return out;
    if (pushforward) {
      for (std::size_t i = 0; i < ts.size(); ++i) out[i] = std::exp(ts[i]) * pf_density(std::exp(ts[i]));
      return out;
    }
    auto S = solver(lev);
    const double tol = kXRhoTol * options.density_tolerance / 1e-10;
    LilypadSolver::Point p = S->descend(ts[0]);
    for (std::size_t i = 0; i < ts.size(); ++i) {
      // From a point very close to an edge (the table's last panels, 2^-34 of a panel from it) no step can be
      // certified, along the axis or up from it; a fresh descent to the next point, through the upper half-plane,
      // can (Gaussian tanh at depth 128).
      if (i > 0) {
        try {
          p = S->slide(p, ts[i]);
        } catch (const convergence_error&) {
          p = S->descend(ts[i]);
        }
      }
      out[i] = LilypadSolver::x_density(p);
      if (!smooth()) {
        if (err) (*err)[i] = 1e-15 * out[i];
        continue;
      }
      // Compared unclamped (-Im m / pi): in the far lower tail a coarse rule can put Im m on the wrong side, and two
      // coarse rules that both clamp to 0 would agree. Accepted: a difference within tol and within 1e-11 of the
      // value, or at the rounding floor (erf, Gaussian, depth 128: near x = e^-9600 two coarse rules agreed to 1e-14
      // on values of 1e-14 and 0 where the density is 9e-13, and 1.3e-10 of mass was lost over the 10^4 units of
      // log x the tail spans; now 8e-13); the absolute tol alone decides convergence_error.
      auto raw = [](const LilypadSolver::Point& pt) { return -pt.m().imag() / M_PI; };
      LilypadSolver::Point r = p;
      double cur = raw(p), diff = std::numeric_limits<double>::infinity();
      double noise = std::abs(p.m() * (1.0 + p.m())) * p.eta / M_PI;
      const int top = lev + (escalate ? kMaxEscalation : 1);
      for (int k = lev + 1; k <= top; ++k) {
        if (!solver(k)->refine(r)) {
          // Near an edge the Newton floor of the certified point itself is high (F' ill-conditioned: the table's
          // last panels, 2^-34 from the edge of a depth-128 network): Newton with the finer rule cannot settle
          // below it either. Keep the certified value; its error is that floor (and the last difference, if any).
          if (p.eta > 1e-12) {
            diff = std::max(std::isfinite(diff) ? diff : 0.0, 100 * noise);
            if (floor) (*floor)[i] = diff;
            break;
          }
          throw convergence_error("jacobian_spectrum(" + net.activation + "): Newton does not settle at x = exp(" +
                                      num(ts[i]) + ") with the contour rule of step " +
                                      num(std::ldexp(kContourH0, -k)),
                                  0);
        }
        const double next = raw(r), d = std::abs(next - cur);
        const bool shrinking = d < 0.25 * diff;
        // Not shrinking at the rounding floor of the solver (near an edge, where F' is ill-conditioned): stop
        // refining. The floor is that of the two values, |dm| ~ |m (1 + m)| eta from the last Newton correction.
        // Above it, the previous two rules agreed by chance (the aliasing error of the trapezoidal rule oscillates
        // in sign with x; erf at depth 50 near x = e^-1000 lost 6e-8 of mass that way): keep the finer value, go on.
        const double next_noise = std::abs(r.m() * (1.0 + r.m())) * r.eta / M_PI;
        if (floor) (*floor)[i] = 100 * (noise + next_noise);
        if (!shrinking && k > lev + 1 && d <= 100 * (noise + next_noise) + tol) break;
        cur = next;
        noise = next_noise;
        diff = d;
        if (diff <= std::max(std::min(tol, 1e-11 * std::abs(cur)), 100 * (noise + next_noise))) break;
        if (k == top && escalate && diff > 1e3 * tol)
          throw convergence_error("jacobian_spectrum(" + net.activation + "): the contour rule of phi'^2 does not "
                                  "converge at x = exp(" + num(ts[i]) + ") (x rho(x) still changes by " + num(diff) +
                                  " at step " + num(std::ldexp(kContourH0, -k)) + ")",
                                  0);
      }
      out[i] = escalate ? std::max(cur, 0.0) : out[i];
      if (err) (*err)[i] = diff;
    }
    return out;
  }

  std::vector<DensityValue> densities(const std::vector<double>& xs) const override {
    require_density();
    std::vector<DensityValue> out(xs.size());
    std::vector<double> ts;
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      out[i].x = xs[i];
      // Outside the support the density is 0 (the edges are validated by the solver, see compute_edges).
      const bool outside = xs[i] > edges.second * (1 + 1e-12) || xs[i] < edges.first * (1 - 1e-12);
      if (xs[i] > 0 && std::isfinite(xs[i]) && !outside && !all_atomic)
        ts.push_back(std::log(xs[i])), idx.push_back(i);
    }
    const double sc = static_cast<double>(jjt_scale);
    // x values sorted ascending (the caller sorts; keep the order robust anyway)
    std::vector<std::size_t> order(ts.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ts[a] < ts[b]; });
    std::vector<double> sorted(ts.size());
    for (std::size_t i = 0; i < order.size(); ++i) sorted[i] = ts[order[i]];
    if (pushforward) {
      for (std::size_t i = 0; i < sorted.size(); ++i) {
        const std::size_t j = idx[order[i]];
        const double x = std::exp(sorted[i]), rho = pf_density(x);
        out[j].density = sc * rho;
        // rounding, amplified near the top edge: z0 solves d(z0) = x / sigma^2 with d(z) ~ dmax - kappa z^2
        out[j].error = sc * rho * 1e-15 * (1 + edges.second / std::max(edges.second - x, 1e-300));
      }
      return out;
    }
    std::vector<double> err;
    const std::vector<double> xr = x_density_jtj(sorted, level, &err);
    double peak = 0, worst = 0, worst_x = 0;
    for (std::size_t i = 0; i < xr.size(); ++i) {
      const double x = std::exp(sorted[i]);
      peak = std::max(peak, xr[i] / x);
      if (!(err[i] / x <= worst)) worst = err[i] / x, worst_x = x;
    }
    if (!(worst <= options.density_tolerance * std::max(peak, 1.0)))
      throw convergence_error("jacobian_spectrum(" + net.activation + "): the density at x = " +
                                  num(worst_x) + " changes by " + num(worst) +
                                  " when the step of the contour rule of phi'^2 is halved (tolerance " +
                                  num(options.density_tolerance) + " of the scale)",
                              0);
    for (std::size_t i = 0; i < xr.size(); ++i) {
      const std::size_t j = idx[order[i]];
      const double x = std::exp(sorted[i]);
      out[j].density = sc * xr[i] / x;
      out[j].error = sc * (err[i] + 1e-15 * xr[i]) / x;
    }
    return out;
  }

  std::vector<double> x_density_log(const std::vector<double>& ts) const override {
    require_density();
    auto v = x_density_jtj(ts, level, nullptr);
    const double sc = static_cast<double>(jjt_scale);
    for (auto& x : v) x *= sc;
    return v;
  }

  std::pair<double, double> support() const override {
    require_density();
    return edges;
  }

  // The level of the contour rule for the grids and the table (x_density_log, which runs without the check): the
  // first at which 32 points across the support and 8 close to each edge agree with the next level to 1% of the
  // tolerance.
  void choose_level() {
    if (all_atomic || !smooth() || pushforward) return;
    const auto [a, b] = edges;
    std::vector<double> ts;
    for (int i = 0; i < 32; ++i) ts.push_back(std::log(a + (b - a) * (i + 0.5) / 32));
    for (int k = 1; k <= 6; ++k) {  // to 2^-24 of the edges (the table certifies what it can closer in)
      ts.push_back(std::log(b * (1 - std::ldexp(1.0, -4 * k))));
      if (a > 0) ts.push_back(std::log(a * (1 + std::ldexp(1.0, -4 * k))));
      else ts.push_back(std::log(b * std::ldexp(1.0, -4 * k)));
    }
    std::sort(ts.begin(), ts.end());
    ts.erase(std::unique(ts.begin(), ts.end()), ts.end());
    for (level = 0;; ++level) {
      std::vector<double> diff, floor;
      const auto xr = x_density_jtj(ts, level, &diff, false, &floor);
      double peak = 0, worst = 0;
      for (std::size_t i = 0; i < xr.size(); ++i) {
        const double x = std::exp(ts[i]);
        peak = std::max(peak, xr[i] / x);
        // a difference at the solver's rounding floor (the points 2^-32 from an edge) says nothing of the rule
        if (diff[i] > floor[i]) worst = std::max(worst, diff[i] / x);
      }
      if (worst <= 0.1 * options.density_tolerance * std::max(peak, 1.0)) break;
      if (level >= 3)
        throw convergence_error("jacobian_spectrum(" + net.activation + "): the contour rule of phi'^2 did not "
                                "converge (difference " + num(worst) + " at step " +
                                num(std::ldexp(kContourH0, -level)) + ")",
                                0);
    }
  }

  // Edges of the continuous part of J^T J from the real branch (critical points of z(m)).
  void compute_edges() {
    if (pushforward) {
      // [sigma^2 inf d, sigma^2 d(0)]; the contour check made d even and decreasing in |z|
      const Expr& dphi = activation_info(net.activation).dphi;
      const double dinf = d_real(dphi, pf_a(), 64.0), dmax = d_real(dphi, pf_a(), 0.0);
      if (!(dinf <= 1e-14 * dmax)) {
        density_refusal = "phi'(h)^2 does not tend to 0 as |h| grows (the depth-1 orthogonal case is written for that)";
        return;
      }
      edges = {0.0, pf_sigma2() * dmax};
      return;
    }
    if (all_atomic) {
      edges = {atoms.empty() ? 0.0 : atoms.back().location, atoms.empty() ? 0.0 : atoms.back().location};
      return;
    }
    const ProductSystem s = system(level);
    std::vector<double> v;
    double z;
    auto zof = [&](double m) { return real_branch(s, m, v, z) ? z : std::numeric_limits<double>::quiet_NaN(); };
    // Right edge: z(m) decreases from +inf at m = 0+ to b, then increases.
    double m = s.first_moment / (10 * s.support_bound), zprev = zof(m), mprev = m, mprev2 = m;
    double b = std::numeric_limits<double>::quiet_NaN();
    for (int it = 0; it < 4000; ++it) {
      const double mn = m * 1.25;
      const double zn = zof(mn);
      if (!std::isfinite(zn)) break;
      if (zn > zprev) {
        // the minimum lies in [mprev2, mn]: bisection on the sign of d log z / dm
        double lo = mprev2, hi = mn;
        for (int k = 0; k < 200 && hi - lo > 1e-16 * hi; ++k) {
          const double mid = 0.5 * (lo + hi);
          double dl;
          if (!real_branch(s, mid, v, z, &dl)) break;
          (dl < 0 ? lo : hi) = mid;
        }
        b = zof(0.5 * (lo + hi));
          break;
      }
      mprev2 = mprev, mprev = m;
      m = mn, zprev = zn;
    }
    if (!std::isfinite(b)) throw convergence_error("jacobian_spectrum: the upper support edge was not found");
    // Left edge: a real branch for m < -(1 - atom0) exists only when the support has a gap at 0.
    double a = 0;
    const double m0 = -(1 - atom0_jtj);
    double d = 1e-9 * (1 - atom0_jtj);
    double za = zof(m0 - d), dprev = d, dprev2 = d;
    if (std::isfinite(za) && za > 0) {
      for (int it = 0; it < 4000; ++it) {
        const double dn = d * 1.25;
        const double zn = zof(m0 - dn);
        if (!std::isfinite(zn) || zn < za) {
          double lo = dprev2, hi = std::isfinite(zn) ? dn : d;
          for (int k = 0; k < 200 && hi - lo > 1e-16 * hi; ++k) {
            const double mid = 0.5 * (lo + hi);
            double dl;
            if (!real_branch(s, m0 - mid, v, z, &dl)) {
              hi = mid;
              continue;
            }
            // z increases as m decreases until the edge: d z / d(-m) > 0 <=> dl < 0 (z > 0)
            (dl < 0 ? lo : hi) = mid;
          }
          a = zof(m0 - lo);
          if (!std::isfinite(a)) a = 0;
          break;
        }
        dprev2 = dprev, dprev = d;
        d = dn, za = zn;
      }
    }
    // A gap (0, a) found on the real branch is kept only when the certified solver agrees: the density must vanish
    // at a/2 (the real branch beyond a pole of a discrete law can have spurious critical points).
    if (a > 0) {
      bool gap = a < b;
      if (gap) {
        try {
          auto sol = solver(level);
          const double xr = LilypadSolver::x_density(sol->descend(std::log(0.5 * a)));
          gap = xr <= 1e-12;
        } catch (const convergence_error&) {
          gap = false;
        }
      }
      if (!gap) a = 0;
    }
    edges = {a, b};
  }
};

}  // namespace

}  // namespace detail

Spectrum jacobian_spectrum(const NetworkSpec& net, const SpectrumOptions& options) {
  using namespace detail;
  if (net.depth < 1 || net.depth > 100000)
    throw invalid_argument("jacobian_spectrum: depth must lie in [1, 100000], got " + std::to_string(net.depth));
  if (options.digits < 15 || options.digits > 1000)
    throw invalid_argument("jacobian_spectrum: digits must lie in [15, 1000], got " + std::to_string(options.digits));
  if (!(options.density_tolerance > 0))
    throw invalid_argument("jacobian_spectrum: density_tolerance must be positive");
  if (!std::isfinite(net.weight_variance.approx) || net.weight_variance.exact <= 0)
    throw invalid_argument("jacobian_spectrum: weight_variance must be positive and finite, got " +
                           std::to_string(net.weight_variance.approx));
  if (!std::isfinite(net.bias_variance.approx) || net.bias_variance.exact < 0)
    throw invalid_argument("jacobian_spectrum: bias_variance must be non-negative and finite, got " +
                           std::to_string(net.bias_variance.approx));
  const ActivationInfo& act = activation_info(net.activation);
  auto model = std::make_shared<JacobianModel>();
  model->kind = "jacobian";
  model->net = net;
  model->options = options;
  // Widths.
  std::vector<Rational> N(net.depth + 1, Rational(1));
  if (!net.width_ratios.empty()) {
    if (static_cast<int>(net.width_ratios.size()) != net.depth + 1)
      throw invalid_argument("jacobian_spectrum: width_ratios needs depth + 1 = " + std::to_string(net.depth + 1) +
                             " entries (N_0..N_L), got " + std::to_string(net.width_ratios.size()));
    for (int l = 0; l <= net.depth; ++l) {
      if (!(net.width_ratios[l].exact > 0))
        throw invalid_argument("jacobian_spectrum: width ratio " + std::to_string(l) + " must be positive, got " +
                               std::to_string(net.width_ratios[l].approx));
      N[l] = net.width_ratios[l].exact;
    }
    if (net.weights == Weights::orthogonal)
      for (int l = 1; l <= net.depth; ++l)
        if (N[l] != N[0])
          throw invalid_argument("jacobian_spectrum: Haar orthogonal weights need equal widths (layer " +
                                 std::to_string(l) + " has ratio " + N[l].str() + ", the input " + N[0].str() + ")");
  }
  for (int l = 1; l <= net.depth; ++l) {
    model->Lambda_exact.push_back(N[0] / N[l]);
    model->c_exact.push_back(N[l] / N[l - 1]);
  }
  model->jjt_scale = N[0] / N[net.depth];
  // Mean field and the layer variances.
  const MeanFieldOptions mo{net.weight_variance, net.bias_variance, options.digits};
  if (net.input_variance) {
    if (!std::isfinite(net.input_variance->approx) || net.input_variance->exact < 0)
      throw invalid_argument("jacobian_spectrum: input_variance must be non-negative and finite");
    try {
      model->mf = mean_field_impl(net.activation, mo, false);
    } catch (const convergence_error&) {
      model->mf.activation = net.activation;  // no fixed point: the input variance is what matters
    }
    precision_scope ps(options.digits + 2 * guard_digits(options.digits));
    model->q = variance_path(net.activation, net.weight_variance, net.bias_variance,
                             to_real(net.input_variance->exact), net.depth, options.digits + 2 * guard_digits(options.digits));
  } else {
    model->mf = mean_field_impl(net.activation, mo, false);
    const Real qs = model->mf.fixed_point == FixedPoint::attracting ? model->mf.q_star : Real(1);
    model->q.assign(net.depth, qs);
  }
  if (!act.positively_homogeneous && !net.input_variance && model->mf.fixed_point != FixedPoint::attracting)
    throw invalid_argument("jacobian_spectrum(" + net.activation +
                           "): the variance map has no fixed point; give the network an input_variance");
  // Groups of layers with one law (same q, same Lambda).
  std::map<std::pair<std::string, std::string>, int> gid;
  for (int l = 0; l < net.depth; ++l) {
    const std::string qkey = act.positively_homogeneous ? "1" : to_string(model->q[l], options.digits + 10);
    const auto key = std::make_pair(qkey, model->Lambda_exact[l].str());
    auto it = gid.find(key);
    if (it == gid.end()) {
      it = gid.emplace(key, static_cast<int>(model->group_first.size())).first;
      model->group_first.push_back(l);
      model->group_count.push_back(0);
    }
    model->group_of.push_back(it->second);
    model->group_count[it->second] += 1;
  }
  // The contour of each smooth law (docs/spectra.md, "The density solver"): where none can be certified, the density
  // is refused (the moments stay available).
  if (model->smooth()) {
    for (int g = 0; g < static_cast<int>(model->group_first.size()); ++g) {
      const double qg = static_cast<double>(model->q[model->group_first[g]]);
      Contour k{std::sqrt(qg), 1, 1};
      if (qg > 0 && model->density_refusal.empty()) {
        const std::string why = make_contour(net.activation, act.dphi, qg, k);
        if (!why.empty()) model->density_refusal = why;
      }
      model->contours.push_back(k);
    }
    model->pushforward = net.weights == Weights::orthogonal && net.depth == 1 && model->q[0] > 0;
  }
  // Atoms of J^T J, then of J J^T. A smooth phi' (analytic, not identically 0) vanishes on a null set.
  std::vector<double> p_nonzero(net.depth, 1.0);
  for (int l = 0; l < net.depth && !model->smooth(); ++l) {
    const DiscreteLaw dl = model->law(model->group_of[l], 0);
    p_nonzero[l] = dl.p_positive;
    if (!(dl.m1 > 0))
      throw invalid_argument("jacobian_spectrum(" + net.activation + "): phi' vanishes almost everywhere at layer " +
                             std::to_string(l + 1) + ": the Jacobian is 0");
  }
  double rank = 1;  // rank(J) / N_0
  for (int l = 0; l < net.depth; ++l)
    rank = std::min(rank, static_cast<double>(N[l + 1] / N[0]) * p_nonzero[l]);
  model->atom0_jtj = 1 - rank;
  std::vector<Atom> atoms;
  const double sc = static_cast<double>(model->jjt_scale);
  const double a0 = 1 - sc * (1 - model->atom0_jtj);
  if (a0 > 1e-15) {
    Atom z{0.0, a0, std::nullopt};
    if (act.piecewise_constant_derivative && net.activation != "hard_tanh") {
      Rational pr = net.activation == "relu" ? Rational(1, 2) : Rational(1);
      Rational r = 1;
      for (int l = 0; l < net.depth; ++l) {
        const Rational t = N[l + 1] / N[0] * pr;
        if (t < r) r = t;
      }
      z.exact_mass = 1 - model->jjt_scale * r;
    }
    atoms.push_back(z);
  }
  if (net.weights == Weights::orthogonal && act.piecewise_constant_derivative) {
    double mass = 1;
    for (int l = 0; l < net.depth; ++l) mass -= 1 - p_nonzero[l];
    if (mass > 1e-15) {
      Atom at{std::pow(net.weight_variance.approx, net.depth), mass, std::nullopt};
      if (net.activation != "hard_tanh") {
        Rational pr = net.activation == "relu" ? Rational(1, 2) : Rational(1);
        at.exact_mass = 1 - net.depth * (1 - pr);
      }
      atoms.push_back(at);
    }
  }
  model->atoms = atoms;
  double total = 0;
  for (const auto& a : atoms) total += a.mass;
  model->all_atomic = total > 1 - 1e-14;
  return Spectrum(model);
}

}  // namespace netsor

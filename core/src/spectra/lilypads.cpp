// core/src/spectra/lilypads.cpp — certified Newton continuation for the Cauchy transform of J^T J
// (netsor/spectra/lilypads.hpp states the system and the guarantee; docs/spectra.md derives it).
//
// Kantorovich's theorem (Ortega & Rheinboldt, Iterative Solution of Nonlinear Equations, 12.6.2): if F'(x0) is
// invertible, beta = ||F'(x0)^{-1}||, eta = ||F'(x0)^{-1} F(x0)||, ||F'(x) - F'(y)|| <= K ||x - y|| on a ball
// B(x0, R) and h = beta K eta <= 1/2 with t* = (1 - sqrt(1 - 2h))/(beta K) <= R, then F has a root in B(x0, t*),
// unique in B(x0, R) intersected with B(x0, (1 + sqrt(1 - 2h))/(beta K)), and Newton from x0 converges to it.
// The norms here: the sup-norm of x weighted by |x0| componentwise (relative changes), the sup-norm of F.
#include <netsor/errors.hpp>
#include <netsor/spectra/lilypads.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace netsor::detail {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
// h must stay below this (1/2 is the theorem's limit; the margin covers rounding in double).
constexpr double kHMax = 0.25;
// A polished root: weighted Newton correction below this.
constexpr double kPolished = 1e-15;

std::string fmt_c(cplx z) {
  std::ostringstream os;
  os.precision(17);
  os << z.real() << (z.imag() < 0 ? " - " : " + ") << std::abs(z.imag()) << "i";
  return os.str();
}
}  // namespace

void DiscreteLaw::finish() {
  dmax = 0, m1 = 0, m2 = 0, m3 = 0, p_positive = 0;
  double total = 0;
  for (std::size_t i = 0; i < d.size(); ++i) total += w[i];
  for (std::size_t i = 0; i < d.size(); ++i) {
    w[i] /= total;
    dmax = std::max(dmax, d[i]);
    m1 += w[i] * d[i];
    m2 += w[i] * d[i] * d[i];
    m3 += w[i] * d[i] * d[i] * d[i];
    if (d[i] > 0) p_positive += w[i];
  }
}

LilypadSolver::LilypadSolver(ProductSystem sys) : sys_(std::move(sys)) {
  if (sys_.laws.empty() || sys_.laws.size() != sys_.mult.size() || sys_.laws.size() != sys_.lambda.size())
    throw invalid_argument("LilypadSolver: inconsistent system (laws, multiplicities and ratios differ in number)");
  for (const auto& l : sys_.laws)
    if (!(l.m1 > 0)) throw invalid_argument("LilypadSolver: a layer law of D^2 has first moment 0 (phi' = 0 a.e.)");
}

// F and F' at a point. In the log variables x = (mu, nu_1..nu_p):
//   F_0 = lz + mu + alpha Log(1 + e^mu) + sum_l n_l nu_l - C
//   F_l = n_l (nu_l + Log T_l(u_l) - log Lambda_l),   u_l = e^{mu + nu_l},  T(u) = E[d / (1 - u d)]
// (imaginary parts reduced to (-pi, pi]: the equations are exp(F_0) = 1 and exp(F_l / n_l) = 1). F' is an
// arrowhead: row 0 = (a0, n_1, ..., n_p), row l = n_l (g_l, 0.., 1 + g_l, ..0), g_l = u T'(u) / T(u).
struct LilypadSolver::Eval {
  std::vector<cplx> f;  // F_0..F_p
  cplx a0;
  std::vector<cplx> g;  // g_l
  bool ok = true;
};

namespace {
cplx reduce(cplx v) { return cplx(v.real(), std::remainder(v.imag(), 2 * M_PI)); }
}  // namespace

LilypadSolver::Eval LilypadSolver::evaluate(const Point& p) const {
  const std::size_t np = sys_.laws.size();
  Eval ev;
  ev.f.resize(np + 1);
  ev.g.resize(np);
  const cplx m = std::exp(p.mu);
  cplx s = p.lz + p.mu + sys_.alpha * std::log(1.0 + m) - sys_.c;
  for (std::size_t l = 0; l < np; ++l) s += sys_.mult[l] * p.nu[l];
  ev.f[0] = reduce(s);
  ev.a0 = 1.0 + sys_.alpha * m / (1.0 + m);
  for (std::size_t l = 0; l < np; ++l) {
    const DiscreteLaw& law = sys_.laws[l];
    const cplx u = std::exp(p.mu + p.nu[l]);
    cplx t = 0, tp = 0;
    for (std::size_t i = 0; i < law.d.size(); ++i) {
      const double d = law.d[i];
      if (d == 0) continue;
      const cplx r = 1.0 / (1.0 - u * d);
      t += law.w[i] * d * r;
      tp += law.w[i] * d * d * r * r;
    }
    if (t == 0.0) ev.ok = false;
    ev.f[l + 1] = sys_.mult[l] * reduce(p.nu[l] + std::log(t) - std::log(sys_.lambda[l]));
    ev.g[l] = u * tp / t;
  }
  for (const auto& x : ev.f) ev.ok = ev.ok && std::isfinite(x.real()) && std::isfinite(x.imag());
  return ev;
}

// Kantorovich's theorem (Ortega & Rheinboldt 12.6.2) in the sup-norm on x and on F: with beta = ||F'(x0)^{-1}||,
// eta = ||F'(x0)^{-1} F(x0)||, K a Lipschitz constant of F' on the ball B(x0, rho) and h = beta K eta <= 1/2,
// t* = (1 - sqrt(1 - 2h)) / (beta K) <= rho, F has a root in B(x0, t*), unique in B(x0, min(rho, t**)),
// t** = (1 + sqrt(1 - 2h)) / (beta K), and Newton from x0 converges to it. F depends on z through F_0 += lz only,
// so along the segment lz_a -> lz_b, eta(lz) <= eta(lz_a) + |lz - lz_a| ||F'(x0)^{-1} e_0||: one test with that
// bound certifies every z of the segment at once, and the root at lz_b is the continuation of the one at lz_a.
double LilypadSolver::kantorovich(const Point& p, cplx lz_to, std::vector<cplx>& delta,
                                  double* uniqueness_radius) const {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::size_t np = sys_.laws.size();
  const Eval ev = evaluate(p);
  if (!ev.ok) return kInf;
  // Arrowhead inverse. With q_l = 1 + g_l, S_l = a0 - sum_{k != l} n_k g_k / q_k, Q_l = q_l S_l - n_l g_l
  // (= q_l s, s the Schur complement a0 - sum_k n_k g_k / q_k) and N_l = -F_0 + sum_{k != l} F_k / q_k:
  //   dmu = (q_l N_l + F_l) / Q_l,   dnu_l = (-F_l S_l / n_l - g_l N_l) / Q_l   (any l for dmu).
  // Written this way nothing cancels when some q_l is tiny (u_l large: relu near z = 0), where the textbook
  // elimination divides by q_l and subtracts nearly equal numbers.
  std::vector<cplx> q(np), S(np), Q(np);
  for (std::size_t l = 0; l < np; ++l) q[l] = 1.0 + ev.g[l];
  for (std::size_t l = 0; l < np; ++l) {
    S[l] = ev.a0;
    for (std::size_t k = 0; k < np; ++k)
      if (k != l) S[l] -= sys_.mult[k] * ev.g[k] / q[k];
    Q[l] = q[l] * S[l] - sys_.mult[l] * ev.g[l];
    if (!(std::abs(Q[l]) > 0) || !std::isfinite(std::abs(Q[l]))) return kInf;
  }
  // beta: the largest absolute row sum of F'^{-1}; col0 = ||F'^{-1} e_0||.
  const cplx inv_s = q[0] / Q[0];
  double beta = std::abs(inv_s), col0 = std::abs(inv_s);
  for (std::size_t k = 0; k < np; ++k) beta += std::abs(1.0 / Q[k]);  // dmu/dr_k = 1/(q_k s) = 1/Q_k
  for (std::size_t l = 0; l < np; ++l) {
    double row = std::abs(ev.g[l] / Q[l]) + std::abs(S[l] / (sys_.mult[l] * Q[l]));
    for (std::size_t k = 0; k < np; ++k)
      if (k != l) row += std::abs(ev.g[l] / (q[k] * Q[l]));
    beta = std::max(beta, row);
    col0 = std::max(col0, std::abs(ev.g[l] / Q[l]));
  }
  auto solve = [&](const std::vector<cplx>& f, std::vector<cplx>& d) {
    d.assign(np + 1, 0.0);
    double e = 0;
    for (std::size_t l = 0; l < np; ++l) {
      cplx N = -f[0];
      for (std::size_t k = 0; k < np; ++k)
        if (k != l) N += f[k + 1] / q[k];
      if (l == 0) d[0] = (q[0] * N + f[1]) / Q[0];
      d[l + 1] = (-f[l + 1] * S[l] / sys_.mult[l] - ev.g[l] * N) / Q[l];
      e = std::max(e, std::abs(d[l + 1]));
    }
    return std::max(e, std::abs(d[0]));
  };
  std::vector<cplx> d0;
  const double eta0 = solve(ev.f, d0);
  std::vector<cplx> fto = ev.f;
  fto[0] += lz_to - p.lz;
  const double eta_to = solve(fto, delta);
  const double eta = std::max(eta_to, eta0 + std::abs(lz_to - p.lz) * col0);
  if (!std::isfinite(eta) || !std::isfinite(beta)) return kInf;
  double rho = std::max(4 * eta, 1e-12);
  if (uniqueness_radius && *uniqueness_radius > rho) rho = *uniqueness_radius;
  if (rho > 1) return kInf;
  // K on the ball B(x0, rho). Row 0: only alpha Log(1 + e^mu) is nonlinear, d2/dmu2 = alpha m / (1 + m)^2.
  const cplx m0 = std::exp(p.mu);
  const double grow = std::expm1(rho);  // |e^{x} - e^{x0}| <= |e^{x0}| (e^rho - 1) for |x - x0| <= rho
  const double mmax = std::abs(m0) * (1 + grow), one_m = std::abs(1.0 + m0) - std::abs(m0) * grow;
  double K = 0;
  if (sys_.alpha != 0) {
    if (one_m <= 0) return kInf;
    K = std::abs(sys_.alpha) * mmax / (one_m * one_m);
  }
  // Row l: n_l (g_l(s) ds) with s = mu + nu_l, |ds| <= 2 rho; |g'(s)| <= U Tp/Tm + U^2 Tpp/Tm + (U Tp/Tm)^2 where
  // U bounds |u|, Tp >= |T'|, Tpp >= |T''| and Tm <= |T| on the ball.
  const double grow2 = std::expm1(2 * rho);
  for (std::size_t l = 0; l < np; ++l) {
    const DiscreteLaw& law = sys_.laws[l];
    const cplx u0 = std::exp(p.mu + p.nu[l]);
    const double au = std::abs(u0), U = au * (1 + grow2);
    double delta_min = kInf;
    cplx t0 = 0;
    for (std::size_t i = 0; i < law.d.size(); ++i) {
      const double d = law.d[i];
      if (d == 0) continue;
      delta_min = std::min(delta_min, std::abs(1.0 - u0 * d) - au * grow2 * d);
      t0 += law.w[i] * d / (1.0 - u0 * d);
    }
    if (!(delta_min > 0)) return kInf;
    const double Tp = law.m2 / (delta_min * delta_min), Tpp = 2 * law.m3 / (delta_min * delta_min * delta_min);
    const double Tm = std::abs(t0) - au * grow2 * Tp;
    if (!(Tm > 0)) return kInf;
    const double r = U * Tp / Tm;
    const double gp = r + U * U * Tpp / Tm + r * r;
    K = std::max(K, 4 * sys_.mult[l] * gp);
  }
  const double h = beta * K * eta;
  if (!(h <= kHMax)) return kInf;
  if (K > 0) {
    const double bk = beta * K;
    const double tstar = (1 - std::sqrt(1 - 2 * h)) / bk;
    if (tstar > rho) return kInf;
    if (uniqueness_radius) *uniqueness_radius = std::min(rho, (1 + std::sqrt(1 - 2 * h)) / bk);
  } else if (uniqueness_radius) {
    *uniqueness_radius = rho;  // F is affine on the ball: the root is unique there
  }
  return h;
}

bool LilypadSolver::polish(Point& p, int max_iter) const {
  const std::size_t np = sys_.laws.size();
  double last = std::numeric_limits<double>::infinity();
  for (int it = 0; it < max_iter; ++it) {
    std::vector<cplx> d;
    if (!newton_correction(p, d)) return false;
    double eta = 0;
    for (const auto& x : d) eta = std::max(eta, std::abs(x));
    if (!std::isfinite(eta)) return false;
    p.mu += d[0];
    for (std::size_t l = 0; l < np; ++l) p.nu[l] += d[l + 1];
    ++stats_.newton_iterations;
    p.eta = eta;
    if (eta < kPolished) return true;
    // The rounding floor: the correction stops shrinking (near a support edge F' is ill-conditioned and the floor
    // rises like 1e-16 / sqrt(distance)); the next Kantorovich test takes the residual into account.
    if (it >= 1 && eta > 0.25 * last && eta < 1e-9) return true;
    last = eta;
  }
  return p.eta < 1e-9;
}

bool LilypadSolver::newton_correction(const Point& p, std::vector<cplx>& d) const {
  const std::size_t np = sys_.laws.size();
  const Eval ev = evaluate(p);
  if (!ev.ok) return false;
  std::vector<cplx> q(np);
  for (std::size_t l = 0; l < np; ++l) q[l] = 1.0 + ev.g[l];
  d.assign(np + 1, 0.0);
  for (std::size_t l = 0; l < np; ++l) {
    cplx S = ev.a0, N = -ev.f[0];
    for (std::size_t k = 0; k < np; ++k)
      if (k != l) S -= sys_.mult[k] * ev.g[k] / q[k], N += ev.f[k + 1] / q[k];
    const cplx Q = q[l] * S - sys_.mult[l] * ev.g[l];
    if (l == 0) d[0] = (q[0] * N + ev.f[1]) / Q;
    d[l + 1] = (-ev.f[l + 1] * S / sys_.mult[l] - ev.g[l] * N) / Q;
  }
  return true;
}

LilypadSolver::Point LilypadSolver::start(cplx lz0) const {
  const std::size_t np = sys_.laws.size();
  const double R = sys_.support_bound;
  const double absz = std::exp(lz0.real());
  if (!(absz >= 1e4 * R) || lz0.imag() < 0 || lz0.imag() > M_PI)
    throw invalid_argument("LilypadSolver::start: z0 must lie in the upper half-plane with |z0| >= 1e4 R");
  Point p;
  p.lz = lz0;
  p.mu = std::log(sys_.first_moment) - lz0;
  p.nu.resize(np);
  for (std::size_t l = 0; l < np; ++l) p.nu[l] = std::log(sys_.lambda[l] / sys_.laws[l].m1);
  // A priori location of the true root (docs/spectra.md, "The start"): for |z| >= 1e4 R the law of J^T J on
  // [0, R] gives |m / (m1/z) - 1| <= r/(1 - r), r = R/|z|; then |u_l| <= 2 Lambda_l dmax |m| / d1 and
  // |v_l / (Lambda_l/d1) - 1| <= theta/(1 - theta), theta = U/(1 - U). In log variables |log(1 + e)| <= e/(1 - e).
  const double r = R / absz;
  const double em = r / (1 - r);
  double ev = 0;
  for (std::size_t l = 0; l < np; ++l) {
    const double U = sys_.first_moment / absz * (1 + em) * 2 * sys_.lambda[l] / sys_.laws[l].m1 * sys_.laws[l].dmax;
    if (U >= 0.25) throw convergence_error("LilypadSolver::start: the start point is too close to the support");
    const double theta = U / (1 - U);
    ev = std::max(ev, theta / (1 - theta));
  }
  const double e = std::max(em, ev);
  const double apriori = e / (1 - e) + M_PI * 0;  // bound on |log(1 + e')| for |e'| <= e
  std::vector<cplx> delta;
  double unique = 2 * apriori + 1e-12;
  const double h = kantorovich(p, p.lz, delta, &unique);
  if (!(h <= kHMax) || !(unique > apriori))
    throw convergence_error("LilypadSolver::start: the Kantorovich test fails at the start log z0 = " + fmt_c(lz0));
  p.mu += delta[0];
  for (std::size_t l = 0; l < np; ++l) p.nu[l] += delta[l + 1];
  if (!polish(p)) throw convergence_error("LilypadSolver::start: Newton did not converge at log z0 = " + fmt_c(lz0));
  return p;
}

double LilypadSolver::step(const Point& p, cplx lz_to, Point& out) const {
  std::vector<cplx> delta;
  const double h = kantorovich(p, lz_to, delta);
  if (!(h <= kHMax)) {
    ++stats_.rejected;
    return kInf;
  }
  out = p;
  out.lz = lz_to;
  out.mu += delta[0];
  for (std::size_t l = 0; l < p.nu.size(); ++l) out.nu[l] += delta[l + 1];
  if (!polish(out)) {
    ++stats_.rejected;
    return kInf;
  }
  ++stats_.steps;
  return h;
}

LilypadSolver::Point LilypadSolver::move(const Point& p, cplx lz_to, int max_halvings) const {
  Point cur = p, next;
  const cplx from = p.lz;
  double t = 0, dt = 1;
  int halvings = 0;
  while (t < 1) {
    const double tn = std::min(1.0, t + dt);
    const cplx target = tn == 1 ? lz_to : from + tn * (lz_to - from);
    const double h = step(cur, target, next);
    if (h <= kHMax) {
      cur = std::move(next);
      t = tn;
      // h grows about linearly with the step: aim at h ~ kHMax / 2 next time.
      dt *= std::clamp(0.5 * kHMax / std::max(h, 1e-300), 0.5, 4.0);
      halvings = 0;
    } else {
      dt /= 4;
      if (++halvings > max_halvings)
        throw convergence_error("spectral density: the Newton continuation could not certify a step from z = exp(" +
                                fmt_c(cur.lz) + ") toward exp(" + fmt_c(lz_to) + ") (Kantorovich test failed " +
                                std::to_string(halvings) + " times in a row)");
    }
  }
  return cur;
}

LilypadSolver::Point LilypadSolver::descend(double log_x) const {
  const double logY = std::log(1e5 * sys_.support_bound) + std::max(0.0, log_x);
  Point p = start(cplx(logY, M_PI / 2));
  p = move(p, cplx(log_x, M_PI / 2));
  return move(p, cplx(log_x, 0.0));
}

LilypadSolver::Point LilypadSolver::slide(const Point& p, double log_x1) const {
  try {
    return move(p, cplx(log_x1, 0.0), 6);
  } catch (const convergence_error&) {
  }
  const double lx0 = p.lz.real();
  const double up = std::clamp(std::abs(log_x1 - lx0), 1e-6, M_PI / 2);
  Point q = move(p, cplx(lx0, up));
  q = move(q, cplx(log_x1, up));
  return move(q, cplx(log_x1, 0.0));
}

double LilypadSolver::x_density(const Point& p) {
  const double d = -std::exp(p.mu).imag() / M_PI;
  return d > 0 ? d : 0.0;
}

// ------------------------------------------------------------------------------------------ real branch
namespace {
// Solves v E[d/(1 - m v d)] = lambda for real v > 0 at real m. Returns false when there is no solution.
bool solve_v(const DiscreteLaw& law, double lambda, double m, double& v, double& e_out, double& c_out) {
  // A law with one positive atom d1 (mass p) and possibly 0 (relu, hard_tanh, linear): E_l is linear in v,
  // v = lambda / (d1 (p + lambda m)), of either sign (v < 0 is the branch beyond the pole u = 1/d1, where a gap
  // at 0 lives, e.g. relu at depth 1).
  {
    int positive = 0;
    double d1 = 0;
    for (double d : law.d)
      if (d > 0) ++positive, d1 = d;
    if (positive == 1) {
      const double p = law.p_positive, den = p + lambda * m;
      if (den == 0) return false;
      v = lambda / (d1 * den);
      const double r = 1 / (1 - m * v * d1);
      e_out = p * d1 * r * r;
      c_out = v * v * p * d1 * d1 * r * r;
      return std::isfinite(v) && std::isfinite(r);
    }
  }
  auto g = [&](double vv, double& dg, double& dm) {
    double t1 = 0, t2 = 0, t3 = 0;
    const double u = m * vv;
    for (std::size_t i = 0; i < law.d.size(); ++i) {
      const double d = law.d[i];
      if (d == 0) continue;
      const double r = 1 / (1 - u * d);
      t1 += law.w[i] * d * r;
      t2 += law.w[i] * d * r * r;
      t3 += law.w[i] * d * d * r * r;
    }
    dg = t2;
    dm = vv * vv * t3;
    return vv * t1 - lambda;
  };
  double lo = 0, hi;
  if (m > 0) hi = 1 / (m * law.dmax);
  else if (m < 0) {
    if (!(law.p_positive > lambda * -m)) return false;
    hi = 1;
    double dg, dm;
    while (g(hi, dg, dm) < 0) {
      lo = hi;
      hi *= 2;
      if (hi > 1e300) return false;
    }
  } else {
    v = lambda / law.m1;
    double dm;
    g(v, e_out, dm);
    c_out = dm;
    return true;
  }
  double x = std::clamp(lambda / law.m1, lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo));
  if (v > lo && v < hi) x = v;
  for (int it = 0; it < 200; ++it) {
    double dg, dm;
    const double gx = g(x, dg, dm);
    if (gx > 0) hi = x;
    else lo = x;
    double xn = x - gx / dg;
    if (!(xn > lo && xn < hi)) xn = 0.5 * (lo + hi);
    if (std::abs(xn - x) <= 1e-16 * x || hi - lo <= 1e-16 * hi) {
      x = xn;
      break;
    }
    x = xn;
  }
  v = x;
  double dm;
  g(v, e_out, dm);
  c_out = dm;
  return true;
}
}  // namespace

bool real_branch(const ProductSystem& sys, double m, std::vector<double>& v, double& z, double* dlogz_dm) {
  const std::size_t np = sys.laws.size();
  v.resize(np);
  double logz = sys.c - std::log(std::abs(m)) - sys.alpha * std::log(std::abs(1 + m));
  double dlz = -(1 / m + sys.alpha / (1 + m));
  double sign = (m > 0 ? 1 : -1) * ((1 + m) > 0 || std::fmod(std::abs(sys.alpha), 2.0) == 0 ? 1 : -1);
  for (std::size_t l = 0; l < np; ++l) {
    double e, c;
    if (!solve_v(sys.laws[l], sys.lambda[l], m, v[l], e, c)) return false;
    logz -= sys.mult[l] * std::log(std::abs(v[l]));
    if (v[l] < 0 && std::fmod(sys.mult[l], 2.0) != 0) sign = -sign;
    dlz -= sys.mult[l] * (-c / e) / v[l];
  }
  z = sign * std::exp(logz);
  if (dlogz_dm) *dlogz_dm = dlz;
  return std::isfinite(z);
}

}  // namespace netsor::detail

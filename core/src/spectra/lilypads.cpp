// core/src/spectra/lilypads.cpp — certified Newton continuation for the Cauchy transform of J^T J
// (netsor/spectra/lilypads.hpp states the system and the guarantee; docs/spectra.md derives it).
//
// The certificate is the affine covariant form of Kantorovich's theorem (see kantorovich() below); the unknowns are
// logarithms, so the sup-norm of x measures relative changes.
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
  cplx ctotal = 0;
  for (const cplx& x : cw) ctotal += x;
  for (cplx& x : cw) x /= ctotal;
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
  double n = 0;
  bool square = true;
  for (std::size_t l = 0; l < sys_.laws.size(); ++l) n += sys_.mult[l], square = square && sys_.lambda[l] == 1;
  log_u_ = square && 1 + sys_.alpha == n;
}

// F and F' at a point. In the variables x = (zeta, nu_1..nu_p), zeta = Log(m / (1 + m)) (so m = 1/(e^-zeta - 1),
// 1 + m = 1/(1 - e^zeta), mu = log m = zeta + log(1 + m)), nu_l = log v_l:
//   F_0 = lz + zeta + (1 + alpha) Log(1 + m) + sum_l n_l nu_l - C
//   F_l = n_l (Log(u_l T(u_l) / R(u_l)) - Log(Lambda_l m / (1 + Lambda_l m))),   u_l = m e^{nu_l},
// T(u) = E[d / (1 - u d)], R(u) = E[1 / (1 - u d)] = 1 + u T(u) (E_l is v T(u) = Lambda, i.e. u T = Lambda m, and x/(1+x)
// is one to one); Log(Lambda m / (1 + Lambda m)) = log Lambda + zeta - Log(1 + (Lambda - 1) e^zeta). Imaginary parts
// are reduced to (-pi, pi] (the equations are exp(F_0) = 1 and exp(F_l / n_l) = 1; 1 + alpha is an integer).
// F' is an arrowhead: row 0 = (a0, n_1, ..., n_p), a0 = 1 + (1 + alpha) m; row l = n_l (b_l, 0.., k_l, ..0) with
// k = d/ds Log(u T / R) = 1 + g - q (s = log u, g = u T'/T, q = u R'/R) and b = k (1 + m) - 1 + c/(1 + c),
// c = (Lambda - 1) e^zeta.
// Why these forms: a smooth phi' puts no atom at 0, so m -> -1 and u_l -> infinity as z -> 0 (1 + m ~ z^{1/(L+1)}
// for Gaussian weights). In log m the term alpha Log(1 + m) has curvature 1/|1 + m|^2, which starves the steps;
// zeta is regular at both ends (m -> 0 at z = infinity, m -> -1 at z = 0) and F_0 is linear in it for Gaussian
// weights. Log(u T / R) is nearly linear in s both for small u (u T ~ m1 u, R ~ 1) and for large u without an atom
// at 0 (u T -> -1, R ~ -E[1/d]/u): k -> 1 at both ends, where Log(v T) alone would degenerate (k ~ E[1/d]/u, with
// rounding errors of order 1 relative to it) as u grows.
struct LilypadSolver::Eval {
  std::vector<cplx> f;  // F_0..F_p
  cplx a0, m;
  std::vector<cplx> q, b;  // k_l (the diagonal of F'), b_l
  bool ok = true;
};

namespace {
cplx reduce(cplx v) { return cplx(v.real(), std::remainder(v.imag(), 2 * M_PI)); }
// 1 / w without the C99 Annex G special-casing of the library's complex division (slow, and the values here are
// finite and far from overflow).
inline cplx inv(cplx w) {
  const double n = w.real() * w.real() + w.imag() * w.imag();
  return cplx(w.real() / n, -w.imag() / n);
}
// Log(1 + w) accurate for small w (Kahan's trick: the rounding of 1 + w cancels).
cplx log1p_c(cplx w) {
  if (std::abs(w) > 0.5) return std::log(1.0 + w);
  const cplx y = 1.0 + w;
  if (y == 1.0) return w;
  return std::log(y) * (w / (y - 1.0));
}
}  // namespace

cplx LilypadSolver::Point::m() const { return inv(std::exp(-zeta) - 1.0); }

LilypadSolver::Eval LilypadSolver::evaluate(const Point& p) const {
  const std::size_t np = sys_.laws.size();
  Eval ev;
  ev.f.resize(np + 1);
  ev.q.resize(np);
  ev.b.resize(np);
  // 1 + m = 1/(1 - e^zeta) and 1 + Lambda m = (1 + (Lambda - 1) e^zeta)/(1 - e^zeta) are formed without adding 1
  // to m (near z = 0, m ~ -1 and 1 + m is the small quantity that matters).
  const cplx ez = std::exp(p.zeta);
  const cplx one_m = inv(1.0 - ez), m = ez * one_m;  // 1 + m and m
  const cplx log_one_m = -log1p_c(-ez), log_m = p.zeta + log_one_m;
  ev.m = m;
  // With s_l = log u_l = log m + nu_l (log_u_), F_0 = lz + (1 - N) zeta + sum_l n_l s_l - C: the terms in
  // Log(1 + m) cancel when 1 + alpha = N = sum_l n_l.
  cplx s = log_u_ ? p.lz - sys_.alpha * p.zeta - sys_.c : p.lz + p.zeta + (1 + sys_.alpha) * log_one_m - sys_.c;
  for (std::size_t l = 0; l < np; ++l) s += sys_.mult[l] * p.nu[l];
  ev.f[0] = reduce(s);
  ev.a0 = log_u_ ? cplx(-sys_.alpha) : 1.0 + (1 + sys_.alpha) * m;
  for (std::size_t l = 0; l < np; ++l) {
    const DiscreteLaw& law = sys_.laws[l];
    const cplx u = std::exp(log_u_ ? p.nu[l] : log_m + p.nu[l]);
    cplx t = 0, tp = 0, pp = 0, R = 0;  // T, T', P = R' = E[d / (1 - u d)^2], R
    if (law.cd.empty()) {
      for (std::size_t i = 0; i < law.d.size(); ++i) {
        const double d = law.d[i];
        const cplx r = inv(1.0 - u * d), wr = law.w[i] * r;
        R += wr;
        t += wr * d;
        pp += wr * d * r;
        tp += wr * d * d * r;
      }
    } else {
      for (std::size_t i = 0; i < law.cd.size(); ++i) {
        const cplx r = inv(1.0 - u * law.cd[i]), wr = law.cw[i] * r;
        R += wr;
        t += wr * law.cd[i];
        pp += wr * law.cd[i] * r;
        tp += wr * law.cd[i] * law.cd[i] * r;
      }
    }
    const cplx ut = u * t, c = (sys_.lambda[l] - 1) * ez;
    if (R == 0.0 || t == 0.0) ev.ok = false;
    const cplx logR = std::abs(ut) < 0.5 ? log1p_c(ut) : std::log(R);
    // Log(u T / R) - Log(Lambda m / (1 + Lambda m)), with log u - zeta = log(1 + m) + nu
    const cplx k = 1.0 + u * tp / t - u * pp / R;
    ev.q[l] = k;
    if (log_u_) {  // Lambda = 1: Log(u T / R) - zeta
      ev.f[l + 1] = sys_.mult[l] * reduce(p.nu[l] + std::log(t) - logR - p.zeta);
      ev.b[l] = -1.0;
      continue;
    }
    ev.f[l + 1] = sys_.mult[l] * reduce(log_one_m + p.nu[l] + std::log(t) - logR - std::log(sys_.lambda[l]) +
                                        log1p_c(c));
    ev.b[l] = k * one_m - 1.0 + c / (1.0 + c);
  }
  for (const auto& x : ev.f) ev.ok = ev.ok && std::isfinite(x.real()) && std::isfinite(x.imag());
  return ev;
}

// The affine covariant Kantorovich theorem (Deuflhard & Heindl 1979; Deuflhard, Newton Methods for Nonlinear
// Problems, Thm 2.1): with eta >= ||F'(x0)^{-1} F(x0)||, ||F'(x0)^{-1} (F'(x) - F'(y))|| <= omega ||x - y|| on the
// ball B(x0, rho), h = omega eta <= 1/2 and t* = (1 - sqrt(1 - 2h)) / omega <= rho, F has a root in B(x0, t*),
// unique in B(x0, min(rho, t**)), t** = (1 + sqrt(1 - 2h)) / omega, and Newton from x0 converges to it. Norms: the
// sup-norm. F'(x) - F'(y) has a0 in row 0 and (b_l, q_l) in row l as its only varying entries, so
// omega = c_0 K_0 + sum_l c_l n_l (Lb_l + Lq_l), with c_k the sup-norm of column k of F'(x0)^{-1} and K_0, Lb_l,
// Lq_l Lipschitz bounds of a0, b_l, q_l on the ball. F depends on z through F_0 += lz only, so along the segment
// lz_a -> lz_b, eta(lz) <= eta(lz_a) + |lz - lz_a| c_0: one test with that bound certifies every z of the segment at
// once, and the root at lz_b is the continuation of the one at lz_a.
namespace {
// A bound of |k'(s)| for |s - s0| <= ds (s = log u, u0 = e^{s0}), k = P / (R T) = d/ds Log(u T / R), with
// R = E[1/(1 - u d)], T = E[d/(1 - u d)], P = E[d/(1 - u d)^2] on the nodes the solver uses (contour nodes when
// present). k'(s0) = u0 (P'/(R T) - P^2/(R^2 T) - P T'/(R T^2)), T' = E[d^2/(1 - u d)^2], P' = 2 E[d^2/(1 - u d)^3],
// exact up to rounding (a relative 1e-12 is added); then |k'(s) - k'(s0)| <= ds sup |k''| and, on a disk of radius
// r > ds around s0 where |k| <= K, |k''(s)| <= 2 K / (r - ds)^2 for |s - s0| <= ds (Cauchy). Returns +inf when no
// radius gives a bound.
double k_prime_bound(const DiscreteLaw& law, cplx u0, double ds) {
  const bool contour = !law.cd.empty();
  const std::size_t n = contour ? law.cd.size() : law.d.size();
  auto d_at = [&](std::size_t i) { return contour ? law.cd[i] : cplx(law.d[i]); };
  auto w_at = [&](std::size_t i) { return contour ? law.cw[i] : cplx(law.w[i]); };
  cplx R = 0, T = 0, P = 0, T1 = 0, P1 = 0;
  double scale = 0;  // sum of the absolute values of the terms (for the rounding allowance)
  for (std::size_t i = 0; i < n; ++i) {
    const cplx d = d_at(i), w = w_at(i), r = 1.0 / (1.0 - u0 * d), x = d * r, wx = w * x;
    R += w * r, T += wx, P += wx * r, T1 += wx * x, P1 += wx * x * r;
    scale += std::abs(wx * x * r);
  }
  if (!(std::abs(R) > 0) || !(std::abs(T) > 0)) return kInf;
  const cplx RT = R * T;
  const cplx kp = u0 * (2.0 * P1 / RT - P * P / (R * RT) - P * T1 / (RT * T));
  const double kp_abs = std::abs(kp) + 1e-12 * std::abs(u0) * 4 * scale / std::abs(RT) * (1 + std::abs(P / R) + std::abs(P / T));
  const double au = std::abs(u0);
  double best = kInf;
  for (double rr : {1e4 * ds, 1e3 * ds, 1e2 * ds, 10 * ds}) {
    const double rad = std::min(rr, 0.5);
    if (!(rad > 2 * ds)) continue;
    const double du = au * std::expm1(rad);
    double Pb = 0, Tp = 0;
    bool ok = true;
    for (std::size_t i = 0; i < n && ok; ++i) {
      const cplx d = d_at(i);
      const double ad = std::abs(d), aw = std::abs(w_at(i));
      const double di = std::abs(1.0 - u0 * d) - du * ad;
      if (!(di > 0)) ok = false;
      Pb += aw * ad / (di * di);
      Tp += aw * ad * ad / (di * di);
    }
    if (!ok) continue;
    const double Rm = std::abs(R) - du * Pb, Tm = std::abs(T) - du * Tp;
    if (!(Rm > 0) || !(Tm > 0)) continue;
    const double K = Pb / (Rm * Tm);
    best = std::min(best, kp_abs + ds * 2 * K / ((rad - ds) * (rad - ds)));
  }
  return best;
}
}  // namespace

double LilypadSolver::kantorovich(const Point& p, cplx lz_to, std::vector<cplx>& delta,
                                  double* uniqueness_radius) const {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::size_t np = sys_.laws.size();
  const Eval ev = evaluate(p);
  if (!ev.ok) return kInf;
  // Arrowhead inverse. With S_l = a0 - sum_{k != l} n_k b_k / q_k, Q_l = q_l S_l - n_l b_l
  // (= q_l s, s the Schur complement a0 - sum_k n_k b_k / q_k) and N_l = -F_0 + sum_{k != l} F_k / q_k:
  //   dzeta = (q_l N_l + F_l) / Q_l,   dnu_l = (-F_l S_l / n_l - b_l N_l) / Q_l   (any l for dzeta).
  // Written this way nothing cancels when some q_l is tiny (u_l small, or large for relu near z = 0), where the textbook
  // elimination divides by q_l and subtracts nearly equal numbers.
  const std::vector<cplx>& q = ev.q;
  std::vector<cplx> S(np), Q(np);
  for (std::size_t l = 0; l < np; ++l) {
    S[l] = ev.a0;
    for (std::size_t k = 0; k < np; ++k)
      if (k != l) S[l] -= sys_.mult[k] * ev.b[k] / q[k];
    Q[l] = q[l] * S[l] - sys_.mult[l] * ev.b[l];
    if (!(std::abs(Q[l]) > 0) || !std::isfinite(std::abs(Q[l]))) return kInf;
  }
  // Column sup-norms of F'^{-1}: column 0 = (q_0/Q_0, b_l/Q_l); column k = (1/Q_k, b_l/(q_k Q_l) for l != k,
  // S_k/(n_k Q_k) at k).
  std::vector<double> bq(np);
  double bq1 = 0, bq2 = 0;  // the two largest |b_l / Q_l|
  std::size_t bq1_at = 0;
  for (std::size_t l = 0; l < np; ++l) {
    bq[l] = std::abs(ev.b[l] / Q[l]);
    if (bq[l] > bq1) bq2 = bq1, bq1 = bq[l], bq1_at = l;
    else bq2 = std::max(bq2, bq[l]);
  }
  const double col0 = std::max(std::abs(q[0] / Q[0]), bq1);
  std::vector<double> colk(np);
  for (std::size_t k = 0; k < np; ++k) {
    const double other = (k == bq1_at ? bq2 : bq1) / std::abs(q[k]);
    colk[k] = std::max({std::abs(1.0 / Q[k]), std::abs(S[k] / (sys_.mult[k] * Q[k])), np > 1 ? other : 0.0});
  }
  auto solve = [&](const std::vector<cplx>& f, std::vector<cplx>& d) {
    d.assign(np + 1, 0.0);
    double e = 0;
    for (std::size_t l = 0; l < np; ++l) {
      cplx N = -f[0];
      for (std::size_t k = 0; k < np; ++k)
        if (k != l) N += f[k + 1] / q[k];
      if (l == 0) d[0] = (q[0] * N + f[1]) / Q[0];
      d[l + 1] = (-f[l + 1] * S[l] / sys_.mult[l] - ev.b[l] * N) / Q[l];
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
  if (!std::isfinite(eta)) return kInf;
  double rho = std::max(4 * eta, 1e-12);
  if (uniqueness_radius && *uniqueness_radius > rho) rho = *uniqueness_radius;
  if (rho > 1) return kInf;
  // On the ball: e^zeta = e^zeta0 (1 + eps), |eps| <= grow, and e^-zeta = e^-zeta0 (1 + eps'), |eps'| <= grow.
  // |1 + m| = 1/|1 - e^zeta| = |e^-zeta| / |e^-zeta - 1| <= M1, |m (1 + m)| = |e^zeta / (1 - e^zeta)^2| <= MM.
  const double grow = std::expm1(rho);
  const cplx ez0 = std::exp(p.zeta), emz0 = std::exp(-p.zeta);
  const double E = std::abs(ez0), Dn = std::abs(1.0 - ez0) - E * grow;
  const double Ei = std::abs(emz0), A1 = std::abs(emz0 - 1.0) - Ei * grow;
  // In log u variables a0 and b_l are constant and k_l depends on s_l alone: M1 = 0 below (s_l moves by rho) and
  // MM = 0 (no term in m); m itself never enters F.
  if (!log_u_ && (!(Dn > 0) || !(A1 > 0))) return kInf;
  const double M1 = log_u_ ? 0.0 : std::min(1 / Dn, Ei * (1 + grow) / A1);
  const double MM = log_u_ ? 0.0 : E * (1 + grow) / (Dn * Dn);
  double omega = col0 * std::abs(1 + sys_.alpha) * MM;  // a0' = (1 + alpha) m (1 + m)
  // log u_l = mu + nu_l moves by at most (M1 + 1) rho (d mu / d zeta = 1 + m). Row l needs Lipschitz bounds of
  // k = 1 + g - q in s = log u: |g'| and |q'| each bounded two ways, the smaller used (one is small for small u,
  // the other for large u where the first is O(1)):
  //   |g'| <= r + U^2 Tpp/Tm + r^2 (r = U Tp/Tm),   or, as 1 + g = P/T, P = R' = E[d/(1 - u d)^2]:
  //   |g'| = |u P'/T - (P/T) g| <= U Pp/Tm + Qb (1 + Qb),  Qb = Pb/Tm;
  //   |q'| <= Kb + U^2 Pp/Rm + Kb^2 (Kb = U Pb/Rm),   or, as 1 + q = V/R, V = E[1/(1 - u d)^2]:
  //   |q'| = |u V'/R - (V/R) q| <= U Vp/Rm + Wb (1 + Wb),  Wb = Vb/Rm;
  // U bounds |u|; Tp, Tpp, Pb, Pp, Vb, Vp bound |T'|, |T''|, |P|, |P'|, |V|, |V'|; Tm, Rm are below |T|, |R| on the
  // ball. b = k (1 + m) - 1 + c/(1 + c) adds |d(c/(1 + c))/dzeta| = |c/(1 + c)^2| <= Cb.
  const double ds_max = (M1 + 1) * rho;
  const double grow2 = std::expm1(ds_max);
  for (std::size_t l = 0; l < np; ++l) {
    const DiscreteLaw& law = sys_.laws[l];
    const double La = sys_.lambda[l];
    double Cb = 0;
    if (La != 1) {
      const double cm = std::abs(La - 1) * E, den = std::abs(1.0 + (La - 1) * ez0) - cm * grow;
      if (!(den > 0)) return kInf;
      Cb = cm * (1 + grow) / (den * den);
    }
    const cplx u0 = log_u_ ? std::exp(p.nu[l]) : ev.m * std::exp(p.nu[l]);
    const double au = std::abs(u0), U = au * (1 + grow2);
    // Node by node on the ball: |1 - u d_i| >= delta_i = |1 - u0 d_i| - |u - u0| |d_i| (complex nodes and weights of
    // the contour rule included).
    double Tp = 0, Tpp = 0, Pb = 0, Pp = 0, Vb = 0, Vp = 0;
    cplx R0 = 0, t0 = 0;
    bool ok = true;
    auto node = [&](cplx d, cplx w) {
      const cplx one = 1.0 - u0 * d;
      const cplx r = inv(one);
      R0 += w * r;
      t0 += w * d * r;
      const double ad = std::abs(d), aw = std::abs(w);
      const double di = std::abs(one) - au * grow2 * ad;
      if (!(di > 0)) ok = false;
      const double v = aw / (di * di), v3 = 2 * v / di;  // |w|/delta^2, 2|w|/delta^3
      Vb += v;
      Vp += v3 * ad;
      Pb += v * ad;
      Pp += v3 * ad * ad;
      Tp += v * ad * ad;
      Tpp += v3 * ad * ad * ad;
    };
    if (law.cd.empty())
      for (std::size_t i = 0; i < law.d.size(); ++i) node(law.d[i], law.w[i]);
    else
      for (std::size_t i = 0; i < law.cd.size(); ++i) node(law.cd[i], law.cw[i]);
    if (!ok) return kInf;
    const double du = au * grow2;  // |u - u0|
    const double Tm = std::abs(t0) - du * Tp, Rm = std::abs(R0) - du * Pb;
    if (!(Tm > 0) || !(Rm > 0)) return kInf;
    const double r = U * Tp / Tm, Qb = Pb / Tm, Kb = U * Pb / Rm, Wb = Vb / Rm;
    const double gb = std::min(r + U * U * Tpp / Tm + r * r, U * Pp / Tm + Qb * (1 + Qb));
    const double qb = std::min(Kb + U * U * Pp / Rm + Kb * Kb, U * Vp / Rm + Wb * (1 + Wb));
    // |g'| + |q'| misses that k = 1 + g - q = P / (R T) is nearly constant for a law close to a point mass (then
    // g = q exactly): the near-isometric layers of a deep orthogonal network made steps of 1e-6 in log z. A
    // second bound: k'(s0) itself plus ds_max sup |k''|, with |k''| <= 2 K / (r - ds_max)^2 by Cauchy's estimate
    // on the disk |s - s0| <= r where |k| <= K (node bounds as above, at radius r).
    const double Lk = std::min(gb + qb, k_prime_bound(law, u0, ds_max));
    const double ksup = std::abs(ev.q[l]) + Lk * ds_max;
    const double Lq = Lk * (M1 + 1), Lb = log_u_ ? 0.0 : Lq * M1 + ksup * MM + Cb;
    omega += colk[l] * sys_.mult[l] * (Lq + Lb);
  }
  const double h = omega * eta;
  if (!(h <= kHMax)) return kInf;
  if (omega > 0) {
    const double tstar = (1 - std::sqrt(1 - 2 * h)) / omega;
    if (tstar > rho) return kInf;
    if (uniqueness_radius) *uniqueness_radius = std::min(rho, (1 + std::sqrt(1 - 2 * h)) / omega);
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
    p.zeta += d[0];
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
  const std::vector<cplx>& q = ev.q;
  d.assign(np + 1, 0.0);
  for (std::size_t l = 0; l < np; ++l) {
    cplx S = ev.a0, N = -ev.f[0];
    for (std::size_t k = 0; k < np; ++k)
      if (k != l) S -= sys_.mult[k] * ev.b[k] / q[k], N += ev.f[k + 1] / q[k];
    const cplx Q = q[l] * S - sys_.mult[l] * ev.b[l];
    if (l == 0) d[0] = (q[0] * N + ev.f[1]) / Q;
    d[l + 1] = (-ev.f[l + 1] * S / sys_.mult[l] - ev.b[l] * N) / Q;
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
  const cplx mg = sys_.first_moment * std::exp(-lz0);  // m ~ m1 / z0
  p.zeta = std::log(mg) - std::log(1.0 + mg);
  p.nu.resize(np);
  for (std::size_t l = 0; l < np; ++l)
    p.nu[l] = std::log(sys_.lambda[l] / sys_.laws[l].m1) + (log_u_ ? std::log(mg) : 0.0);
  // A priori location of the true root (docs/spectra.md, "The start"): for |z| >= 1e4 R the law of J^T J on
  // [0, R] gives |m / (m1/z) - 1| <= r/(1 - r), r = R/|z|; then |u_l| <= 2 Lambda_l dmax |m| / d1 and
  // |v_l / (Lambda_l/d1) - 1| <= theta/(1 - theta), theta = U/(1 - U). In log variables |log(1 + e)| <= e/(1 - e);
  // zeta = log m - log(1 + m) adds |log(1 + m) - log(1 + mg)| <= |mg| e / (1 - 2 |mg|).
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
  const double amg = std::abs(mg);
  // s_l = log m + nu_l adds |log m - log mg| <= em / (1 - em) to the bound of nu_l.
  const double apriori = e / (1 - e) + (log_u_ ? em / (1 - em) : amg * e / (1 - 2 * amg));
  std::vector<cplx> delta;
  double unique = 2 * apriori + 1e-12;
  const double h = kantorovich(p, p.lz, delta, &unique);
  if (!(h <= kHMax) || !(unique > apriori))
    throw convergence_error("LilypadSolver::start: the Kantorovich test fails at the start log z0 = " + fmt_c(lz0));
  p.zeta += delta[0];
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
  out.zeta += delta[0];
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
      // A test that fails for a step of length 0 fails for every step: the Newton correction at the current root
      // (its rounding floor, near a support edge) times the Lipschitz bound already exceeds kHMax. Stop at once.
      Point same;
      if (halvings >= 2 && !(step(cur, cur.lz, same) <= kHMax)) halvings = max_halvings;
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
  const double d = -p.m().imag() / M_PI;
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
  // Start from the previous v, else from the small-u root lambda / m1, else inside the bracket (the bracket can
  // span 1e120 for small m: forcing the start into it, as this did, left 200 iterations of bisection far from the
  // root, and the edge search of erf at depth 128 took the support bound for the edge).
  double x = lambda / law.m1;
  if (!(x > lo && x < hi)) x = std::clamp(x, lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo));
  if (v > lo && v < hi) x = v;
  bool converged = false;
  for (int it = 0; it < 2000; ++it) {
    double dg, dm;
    const double gx = g(x, dg, dm);
    if (gx > 0) hi = x;
    else lo = x;
    double xn = x - gx / dg;
    if (!(xn > lo && xn < hi)) xn = 0.5 * (lo + hi);
    if (std::abs(xn - x) <= 1e-16 * x || hi - lo <= 1e-16 * hi) {
      x = xn;
      converged = true;
      break;
    }
    x = xn;
  }
  if (!converged) return false;
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

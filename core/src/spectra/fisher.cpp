// core/src/spectra/fisher.cpp — the Fisher information spectrum for one input (Hayase & Karakida 2021), in the
// normalization of shared/MATH.md, "The Fisher information spectrum" (netsor/spectra/spectrum.hpp, docs/spectra.md).
//
// Theta_1 = qhat_0 I and Theta_l = qhat_{l-1} I + W^l D_{l-1} Theta_{l-1} D_{l-1} W^{lT}; by freeness
//   nu_l = shift_{qhat_{l-1}} dilate_{sigma^2} (nu_{l-1} (x) law(D_{l-1}^2) [(x) MP(1) for Gaussian weights]).
//
// Moments: that recursion on moment sequences (free multiplicative convolution by S-transforms, then the binomial
// shift), in Real at two working precisions that must agree, or exactly in Rational for relu / abs / linear.
//
// Density. With rho_l the law inside the dilation, mu_l = sigma^2 rho_l, and the subordination of a free product
// (psi_{a (x) b}(w) = psi_a(w / S_b(m)), m = psi_{a (x) b}(w)), the Cauchy transform of nu_L at z comes from the
// chain, for l = 2..L (zeta_L = z, m_1 = 0, g_l = 1 / S of law(D_{l-1}^2) [(x) MP]):
//   A_l:  (1 + m_l)(zeta_{l-1} - qhat_{l-2}) - zeta_{l-1}(1 + m_{l-1}) = 0
//   B_l:  zeta_l - qhat_{l-1} - sigma^2 zeta_{l-1} g_l(m_l) = 0
// and G(z) = (1 + m_L) / (z - qhat_{L-1}). For D^2 ~ (1 - p) delta_0 + p delta_{d1} (relu, hard_tanh, linear, abs)
//   g(m) = d1 (p + m)                (Gaussian: S_MP(m) = 1 / (1 + m))
//   g(m) = d1 (p + m) / (1 + m)      (Haar orthogonal)
// so the system is polynomial and local (row l touches the unknowns of levels l - 1 and l). It is solved by a
// continuation in z certified at every step by Krawczyk's test (Krawczyk 1969; Moore, Kearfott & Cloud,
// "Introduction to Interval Analysis", 2009, Thm 8.2): with Y ~ F'(x0)^{-1} and a box B = {|x_i - x0_i| <= r_i},
//   |Y F(x0; z)|_i + sum_j |I - Y F'(B)|_ij r_j < r_i  for every i
// proves that F(., z) has exactly one root in B. z enters B_L alone and additively, so the bound
// |Y F(x0; z_a)| + |z_b - z_a| |Y e_L| covers every z of a segment [z_a, z_b] at once: the root at z_b is the
// analytic continuation of the root at z_a. The start, at z0 = i 10^4 R (R a rigorous bound of the support),
// uses a box that contains explicit a priori disks around the true branch (|psi_mu(w)| <= |w| R / (1 - |w| R)).
// The tests run in double (rounding of Y F'(x0) is bounded by 8 n eps |Y| |F'(x0)|); not interval arithmetic.
#include <netsor/errors.hpp>
#include <netsor/free/toolkit.hpp>
#include <netsor/spectra/activation.hpp>
#include <netsor/spectra/spectrum.hpp>

#include "two_precisions.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>

namespace netsor {

namespace detail {

namespace {

using cplx = std::complex<double>;
constexpr double kEps = std::numeric_limits<double>::epsilon();

// Moments m_1..m_k of nu_L. qhat[0..L-1]; d2[l] the moments of law(D_l^2) for l = 1..L-1 (d2[0] unused).
template <class T>
std::vector<T> fisher_moments(const std::vector<T>& qhat, const std::vector<std::vector<T>>& d2, const T& sigma2,
                              bool orthogonal, int k) {
  const int L = static_cast<int>(qhat.size());
  std::vector<T> nu(k);
  {
    T p = T(1);
    for (int j = 0; j < k; ++j) nu[j] = (p *= qhat[0]);
  }
  std::vector<T> mp(k);  // MP(1): Catalan numbers
  {
    T c = T(1);
    for (int j = 0; j < k; ++j) {
      c = c * T(2 * (2 * j + 1)) / T(j + 2);
      mp[j] = c;
    }
  }
  // binomial coefficients
  std::vector<std::vector<T>> binom(k + 1, std::vector<T>(k + 1, T(0)));
  for (int n = 0; n <= k; ++n) {
    binom[n][0] = T(1);
    for (int j = 1; j <= n; ++j) binom[n][j] = binom[n - 1][j - 1] + (j <= n - 1 ? binom[n - 1][j] : T(0));
  }
  for (int l = 2; l <= L; ++l) {
    std::vector<T> a(k, T(0));
    if (nu[0] != 0 && d2[l - 1][0] != 0) {
      a = free::free_multiplicative_convolution(nu, d2[l - 1]);
      if (!orthogonal) a = free::free_multiplicative_convolution(a, mp);
    }
    T s = T(1);
    for (int j = 0; j < k; ++j) a[j] *= (s *= sigma2);
    const T& q = qhat[l - 1];
    std::vector<T> qp(k + 1);
    qp[0] = T(1);
    for (int j = 1; j <= k; ++j) qp[j] = qp[j - 1] * q;
    for (int n = 1; n <= k; ++n) {
      T acc = qp[n];
      for (int j = 1; j <= n; ++j) acc += binom[n][j] * qp[n - j] * a[j - 1];
      nu[n - 1] = acc;
    }
  }
  return nu;
}

// ------------------------------------------------------------------------------------------ the chain system
struct Chain {
  int L = 1;
  double sigma2 = 1;
  bool orth = false;
  std::vector<double> qh;    // qhat_0..qhat_{L-1}
  std::vector<double> p, d1;  // index l = 2..L: law of D_{l-1}^2 = (1 - p) delta_0 + p delta_d1
  double R = 1;              // the support of nu_L lies in [0, R]
  std::vector<double> Rlev;  // the support of nu_l lies in [0, Rlev[l]]

  int n() const { return 2 * (L - 1); }
  static int im(int l) { return 2 * (l - 2); }      // m_l, l = 2..L
  static int iz(int j) { return 2 * (j - 1) + 1; }  // zeta_j, j = 1..L-1
  cplx g(int l, cplx m) const { return orth ? d1[l] * (p[l] + m) / (1.0 + m) : d1[l] * (p[l] + m); }
  cplx dg(int l, cplx m) const { return orth ? d1[l] * (1 - p[l]) / ((1.0 + m) * (1.0 + m)) : cplx(d1[l]); }
};

using VecC = Eigen::VectorXcd;
using MatC = Eigen::MatrixXcd;

class ChainSolver {
 public:
  struct Point {
    cplx z;
    VecC x;
  };

  explicit ChainSolver(Chain c) : c_(std::move(c)) {}
  const Chain& chain() const { return c_; }

  cplx m(const VecC& x, int l) const { return l == 1 ? cplx(0) : x[Chain::im(l)]; }
  cplx zeta(const VecC& x, int j, cplx z) const { return j == c_.L ? z : x[Chain::iz(j)]; }

  VecC F(const VecC& x, cplx z) const {
    VecC f(c_.n());
    for (int l = 2; l <= c_.L; ++l) {
      const cplx zm = zeta(x, l - 1, z), ml = m(x, l), mp = m(x, l - 1);
      f[2 * (l - 2)] = (1.0 + ml) * (zm - c_.qh[l - 2]) - zm * (1.0 + mp);
      f[2 * (l - 2) + 1] = zeta(x, l, z) - c_.qh[l - 1] - c_.sigma2 * zm * c_.g(l, ml);
    }
    return f;
  }

  MatC J(const VecC& x, cplx z) const {
    const int n = c_.n();
    MatC J = MatC::Zero(n, n);
    for (int l = 2; l <= c_.L; ++l) {
      const int ra = 2 * (l - 2), rb = ra + 1;
      const cplx zm = zeta(x, l - 1, z), ml = m(x, l), mp = m(x, l - 1);
      J(ra, Chain::im(l)) = zm - c_.qh[l - 2];
      J(ra, Chain::iz(l - 1)) = ml - mp;
      if (l >= 3) J(ra, Chain::im(l - 1)) = -zm;
      if (l < c_.L) J(rb, Chain::iz(l)) = 1.0;
      J(rb, Chain::iz(l - 1)) = -c_.sigma2 * c_.g(l, ml);
      J(rb, Chain::im(l)) = -c_.sigma2 * zm * c_.dg(l, ml);
    }
    return J;
  }

  // Newton at fixed z until the correction is below 1e-15 (relative) or stops decreasing (rounding, near an edge);
  // false when it does not settle.
  bool polish(Point& p, int iters = 30) const {
    double last = std::numeric_limits<double>::infinity();
    for (int it = 0; it < iters; ++it) {
      const VecC f = F(p.x, p.z);
      Eigen::PartialPivLU<MatC> lu(J(p.x, p.z));
      const VecC d = lu.solve(f);
      if (!d.allFinite()) return false;
      double rel = 0;
      for (int i = 0; i < d.size(); ++i) rel = std::max(rel, std::abs(d[i]) / scale(p.x, i));
      if (rel >= last && rel < 1e-8) return true;  // rounding level reached
      p.x -= d;
      if (rel < 1e-15) return true;
      last = rel;
    }
    return false;
  }

  double scale(const VecC& x, int i) const {
    return (i % 2 == 0) ? std::max({std::abs(x[i]), std::abs(1.0 + x[i]), 1e-3})
                        : std::max(std::abs(x[i]), 1e-3 * c_.qh.back());
  }

  // Krawczyk's test for the segment [p.z, z_to] on the box of radii r (at least `floor` when given). On success
  // `out` is the polished root at z_to.
  bool krawczyk(const Point& p, cplx z_to, Point& out, const std::vector<double>* floor = nullptr) const {
    const int n = c_.n();
    const VecC& x0 = p.x;
    const MatC J0 = J(x0, p.z);
    Eigen::PartialPivLU<MatC> lu(J0);
    const MatC Y = lu.inverse();
    if (!Y.allFinite()) return false;
    const VecC fa = F(x0, p.z);
    VecC fb = fa;
    fb[n - 1] += z_to - p.z;
    const VecC delta = -(Y * fb);
    const VecC Yfa = Y * fa;
    const double dz = std::abs(z_to - p.z);
    std::vector<double> r(n);
    for (int i = 0; i < n; ++i) {
      r[i] = 4 * std::abs(delta[i]) + 2 * dz * std::abs(Y(i, n - 1)) + 1e-13 * scale(x0, i);
      if (floor) r[i] = std::max(r[i], (*floor)[i]);
    }
    // Delta_kj r_j: the variation of F' over the box, row by row.
    std::vector<double> v(n, 0.0);
    for (int l = 2; l <= c_.L; ++l) {
      const int ra = 2 * (l - 2), rb = ra + 1;
      const double rm = r[Chain::im(l)], rz = r[Chain::iz(l - 1)];
      const double rmp = l >= 3 ? r[Chain::im(l - 1)] : 0.0;
      // row A_l: d/dm_l = zeta - q (var rz), d/dzeta = m_l - m_{l-1} (var rm + rmp), d/dm_{l-1} = -zeta (var rz)
      v[ra] = rz * rm + (rm + rmp) * rz + (l >= 3 ? rz * rmp : 0.0);
      // row B_l: d/dzeta_{l-1} = -s g(m) (var s G1 rm), d/dm = -s zeta g'(m) (var s (rz G1 + |zeta0| G2 rm))
      const cplx m0 = x0[Chain::im(l)], z0 = x0[Chain::iz(l - 1)];
      double G1, G2;
      if (c_.orth) {
        const double dl = std::abs(1.0 + m0) - rm;
        if (!(dl > 0)) return false;
        const double a = c_.d1[l] * (1 - c_.p[l]);
        G1 = a / (dl * dl);
        G2 = 2 * a / (dl * dl * dl);
      } else {
        G1 = c_.d1[l];
        G2 = 0;
      }
      v[rb] = c_.sigma2 * G1 * rm * rz + c_.sigma2 * (rz * G1 + std::abs(z0) * G2 * rm) * rm;
    }
    // |J0| r for the rounding bound of I - Y J0.
    std::vector<double> jr(n, 0.0);
    for (int i = 0; i < n; ++i)
      for (int j = std::max(0, i - 3); j < std::min(n, i + 4); ++j) jr[i] += std::abs(J0(i, j)) * r[j];
    const double gamma = 8.0 * n * kEps;
    for (int i = 0; i < n; ++i) {
      double s = std::abs(Yfa[i]) + dz * std::abs(Y(i, n - 1));
      for (int k = 0; k < n; ++k) s += std::abs(Y(i, k)) * (v[k] + gamma * jr[k]);
      if (!(s < r[i])) {
        return false;
      }
    }
    // The unique root at z_to lies in the box; Newton from x0 + delta refines it (kept only if it stays inside).
    out.z = z_to;
    out.x = x0 + delta;
    Point refined = out;
    if (polish(refined)) {
      bool inside = true;
      for (int i = 0; i < n; ++i) inside = inside && std::abs(refined.x[i] - x0[i]) <= r[i];
      if (inside) out = refined;
    }
    return true;
  }

  // Moves to z_to by certified segments, halving failed steps; throws convergence_error after `max_fails`
  // failed tests in a row.
  Point move(const Point& p, cplx z_to, int max_fails = 40) const {
    Point cur = p, nxt;
    double frac = 1;
    int fails = 0;
    while (cur.z != z_to) {
      const cplx target = frac >= 1 ? z_to : cur.z + frac * (z_to - cur.z);
      if (target != z_to && std::abs(target - cur.z) <= 4 * kEps * std::abs(z_to)) frac = 0;  // no progress possible
      if (frac > 0 && krawczyk(cur, target, nxt)) {
        cur = nxt;
        fails = 0;
        frac = std::min(1.0, frac * 2);
        if (frac >= 1 || std::abs(z_to - cur.z) < 1e-300) frac = 1;
      } else {
        frac *= 0.5;
        if (++fails > max_fails || frac == 0) throw convergence_error("fisher_spectrum: the continuation could not certify a step near z = " +
                                                    std::to_string(cur.z.real()) + " + " +
                                                    std::to_string(cur.z.imag()) + "i", 0);
      }
    }
    return cur;
  }

  // The certified start at z0 = i Y0.
  Point start() const {
    const int n = c_.n();
    const cplx z0(0, std::pow(10.0, 3 + c_.L / 10) * c_.R);  // the a priori disks compound over the levels
    // a priori disks, top down: |m_l| <= b_l, zeta_{l-1} in D(cz, rz)
    std::vector<cplx> center(n);
    std::vector<double> rad(n);
    cplx czeta = z0;
    double rzeta = 0;
    for (int l = c_.L; l >= 2; --l) {
      const double Rl = c_.Rlev[l];
      // |w| <= 1 / (|zeta_l| - qhat_{l-1}); mu_l supported in [0, Rl - qhat_{l-1}]
      const double lowz = std::abs(czeta) - rzeta - c_.qh[l - 1];
      const double Rmu = Rl - c_.qh[l - 1];
      if (!(lowz > 0)) throw convergence_error("fisher_spectrum: the start is not far enough from the support", 0);
      const double w = 1 / lowz;
      if (!(w * Rmu < 0.5)) throw convergence_error("fisher_spectrum: the start is not far enough from the support", 0);
      const double b = w * Rmu / (1 - w * Rmu);
      center[Chain::im(l)] = 0;
      rad[Chain::im(l)] = b;
      // zeta_{l-1} = (zeta_l - q) / (s g(m)), m in D(0, b): g(D) in D(gc, gr)
      cplx gc;
      double gr;
      if (c_.orth) {
        // d1 (p + m)/(1 + m) = d1 (1 - (1 - p)/(1 + m)); |1/(1+m) - 1| <= b / (1 - b)
        gc = c_.d1[l] * c_.p[l];
        gr = c_.d1[l] * (1 - c_.p[l]) * b / (1 - b);
      } else {
        gc = c_.d1[l] * c_.p[l];
        gr = c_.d1[l] * b;
      }
      if (!(std::abs(gc) > gr)) throw convergence_error("fisher_spectrum: degenerate start (a layer with phi' = 0)", 0);
      // 1/D(gc, gr) in D(conj(gc)/(|gc|^2 - gr^2), gr/(|gc|^2 - gr^2))
      const double den = std::norm(gc) - gr * gr;
      const cplx ic = std::conj(gc) / den;
      const double ir = gr / den;
      const cplx nc = (czeta - c_.qh[l - 1]) * ic / c_.sigma2;
      const double nr = (std::abs(czeta - c_.qh[l - 1]) * ir + rzeta * std::abs(ic) + rzeta * ir) / c_.sigma2;
      czeta = nc;
      rzeta = nr * (1 + 1e-12) + 1e-300;
      center[Chain::iz(l - 1)] = czeta;
      rad[Chain::iz(l - 1)] = rzeta;
    }
    Point p{z0, VecC(n)};
    for (int i = 0; i < n; ++i) p.x[i] = center[i];
    if (!polish(p)) throw convergence_error("fisher_spectrum: Newton did not settle at the start", 0);
    std::vector<double> floor(n);
    for (int i = 0; i < n; ++i) floor[i] = std::abs(p.x[i] - center[i]) + rad[i];
    Point out;
    if (!krawczyk(p, z0, out, &floor))
      throw convergence_error("fisher_spectrum: the start could not be certified (Krawczyk test failed)", 0);
    return out;
  }

  // The real branch through the innermost unknown: zeta_1 = t gives z = Phi(t) explicitly (m_1 = 0, then A_l and B_l
  // solved for m_l and zeta_l in turn), with Phi'(t) by forward differentiation. The support edges are the
  // critical values of Phi on the branch that the certified root outside the support lies on.
  double shoot(double t, double& dphi) const {
    double zeta = t, dzeta = 1, m = 0, dm = 0;
    for (int l = 2; l <= c_.L; ++l) {
      const double q0 = c_.qh[l - 2], den = zeta - q0;
      // 1 + m_l = zeta (1 + m_{l-1}) / (zeta - q0)
      const double a = 1 + m, opm = zeta * a / den;
      const double dopm = (dzeta * a + zeta * dm) / den - zeta * a * dzeta / (den * den);
      m = opm - 1, dm = dopm;
      const double g = std::real(c_.g(l, m)), dg = std::real(c_.dg(l, m));
      const double zn = c_.qh[l - 1] + c_.sigma2 * zeta * g;
      dzeta = c_.sigma2 * (dzeta * g + zeta * dg * dm);
      zeta = zn;
    }
    dphi = dzeta;
    return zeta;
  }

  // The edge reached from a certified real root p at x_out (outside the support) toward x_in (inside): the first
  // critical point of Phi along the branch. NaN when it is not found between x_out and x_in.
  double edge_from(const Point& p, double x_in) const {
    const double x_out = p.z.real();
    const double t0 = p.x[Chain::iz(1)].real();
    if (!(std::abs(p.x[Chain::iz(1)].imag()) <= 1e-9 * std::abs(t0))) return std::nan("");
    double d0;
    const double z0 = shoot(t0, d0);
    if (!(std::abs(z0 - x_out) <= 1e-8 * std::abs(x_out)) || d0 == 0) return std::nan("");
    const double dir = ((x_in - x_out) / d0) > 0 ? 1.0 : -1.0;
    double step = std::abs(x_in - x_out) / std::abs(d0) * 0.25, ta = t0, tb = t0;
    bool bracket = false;
    for (int k = 0; k < 200 && !bracket; ++k) {
      double d;
      const double tn = ta + dir * step;
      const double z = shoot(tn, d);
      if (!std::isfinite(z) || !std::isfinite(d)) {
        step *= 0.5;
        continue;
      }
      if ((d > 0) != (d0 > 0)) {
        tb = tn, bracket = true;
      } else {
        ta = tn;
        step *= 1.5;
      }
    }
    if (!bracket) return std::nan("");
    for (int k = 0; k < 200 && std::abs(tb - ta) > 4 * kEps * std::abs(ta); ++k) {
      const double mid = 0.5 * (ta + tb);
      double d;
      shoot(mid, d);
      ((d > 0) == (d0 > 0) ? ta : tb) = mid;
    }
    double d;
    const double e = shoot(0.5 * (ta + tb), d);
    const bool between = (e - x_out) * (x_in - e) >= 0;
    return between ? e : std::nan("");
  }

  // -Im G(x)/pi at a root on the real axis.
  double density(const Point& p) const {
    const cplx G = (1.0 + m(p.x, c_.L)) / (p.z - c_.qh[c_.L - 1]);
    return std::max(0.0, -G.imag() / M_PI);
  }

  // From a root at real x_a to real x_b: along the axis, else up and over.
  Point slide(const Point& p, double xb) const {
    try {
      return move(p, cplx(xb, 0), 8);
    } catch (const convergence_error&) {
    }
    const double h = std::max(std::abs(xb - p.z.real()), 1e-3 * c_.qh.back());
    Point a = move(p, cplx(p.z.real(), h));
    a = move(a, cplx(xb, h));
    return move(a, cplx(xb, 0));
  }

 private:
  Chain c_;
};

// ------------------------------------------------------------------------------------------ the model
class FisherModel final : public SpectrumModel {
 public:
  std::vector<Real> qhat;                  // at the working precision of the construction
  std::optional<std::vector<Rational>> qhat_exact;
  std::vector<Real> layer_q;               // q_1..q_L (for the laws of D_l^2)
  bool atomic_d2 = false;                  // every law of D_l^2 is (1 - p) delta_0 + p delta_1
  std::unique_ptr<ChainSolver> solver;
  mutable std::vector<std::pair<double, double>> components;  // of the continuous part (found on first use)
  mutable std::once_flag components_once;
  mutable std::optional<ChainSolver::Point> anchor;  // a certified root on the real axis above the support
  std::vector<double> moments_double;  // m_1..m_16 (for the upper edge)
  bool all_atomic = false;

  // The density at x, continuing from p (updated).
  double density_from(ChainSolver::Point& p, double x) const {
    p = solver->slide(p, x);
    return solver->density(p);
  }

  // Components of the continuous part: a scan of 96 points between qhat_{L-1} and an upper bound, then the
  // edges by bisection on "density > 0" (outside the support the certified root is real: the density is 0 up to
  // rounding, ~1e-16 of its scale; inside, a square-root edge at relative distance d gives ~sqrt(d)).
  void find_components() const {
    const Chain& c = solver->chain();
    const double lo = c.qh.back();
    double hi = c.R;
    for (std::size_t k = 0; k < moments_double.size(); ++k)
      hi = std::min(hi, 2 * std::pow(moments_double[k], 1.0 / (k + 1)) + 2 * lo);
    ChainSolver::Point p = solver->move(solver->start(), cplx(hi, 0));
    for (int k = 0; k < 200 && solver->density(p) > 0; ++k) {  // the guess was inside the support: go up
      hi = std::min(c.R, 2 * hi);
      p = solver->slide(p, hi);
    }
    anchor = p;
    constexpr int M = 96;
    std::vector<double> xs(M), ds(M);
    std::vector<std::optional<ChainSolver::Point>> roots(M);
    double peak = 0;
    for (int i = M - 1; i >= 0; --i) {
      xs[i] = lo + (hi - lo) * (i + 0.5) / M;
      try {
        ds[i] = near_atom(xs[i]) ? 0.0 : density_from(p, xs[i]);
        if (!near_atom(xs[i])) roots[i] = p;
      } catch (const convergence_error&) {
        ds[i] = -1;  // too close to an edge to certify: decided below
      }
      peak = std::max(peak, ds[i]);
    }
    const double thr = 1e-13 * peak;
    for (auto& d : ds)
      if (d < 0) d = 2 * thr;
    // 1: inside, 0: outside, -1: undecided (too close to the edge to certify a step)
    auto positive = [&](ChainSolver::Point& q, double x) {
      if (near_atom(x)) return 0;
      try {
        return density_from(q, x) > thr ? 1 : 0;
      } catch (const convergence_error&) {
        return -1;
      }
    };
    // p sits at xs[0]
    std::vector<std::pair<double, double>> comps;
    int i = 0;
    while (i < M) {
      if (!(ds[i] > thr)) {
        ++i;
        continue;
      }
      int j = i;
      while (j + 1 < M && ds[j + 1] > thr) ++j;
      // lower edge in (xs[i-1] or lo, xs[i]); upper edge in (xs[j], xs[j+1] or hi)
      double a0 = i > 0 ? xs[i - 1] : lo, a1 = xs[i];
      double ea = i > 0 && roots[i - 1] ? solver->edge_from(*roots[i - 1], a1) : std::nan("");
      if (i == 0 && roots[0]) {  // the component starts below the first scan point: look between lo and it
        ChainSolver::Point q = *roots[0];
        for (int k = 1; k <= 30 && !std::isfinite(ea); ++k) {
          const double x = lo + (xs[0] - lo) * std::ldexp(1.0, -k);
          if (positive(q, x) != 0) continue;
          ea = solver->edge_from(q, xs[0]);
          if (!std::isfinite(ea)) break;
        }
      }
      const double eb = j + 1 < M ? (roots[j + 1] ? solver->edge_from(*roots[j + 1], xs[j]) : std::nan(""))
                                  : solver->edge_from(*anchor, xs[j]);
      ChainSolver::Point q = p;
      if (std::isfinite(ea)) {
        a0 = ea;
      } else {
        positive(q, a1);
        for (int k = 0; k < 60 && a1 - a0 > 1e-12 * hi; ++k) {
          const double mid = 0.5 * (a0 + a1);
          const int in = positive(q, mid);
          if (in < 0) break;
          (in ? a1 : a0) = mid;
        }
      }
      double b0 = xs[j], b1 = j + 1 < M ? xs[j + 1] : hi;
      if (std::isfinite(eb)) {
        b1 = eb;
      } else {
        positive(q, b0);
        for (int k = 0; k < 60 && b1 - b0 > 1e-12 * hi; ++k) {
          const double mid = 0.5 * (b0 + b1);
          const int in = positive(q, mid);
          if (in < 0) break;
          (in ? b0 : b1) = mid;
        }
      }
      comps.emplace_back(a0, b1);
      i = j + 1;
    }
    if (comps.empty()) throw convergence_error("fisher_spectrum: no continuous part was found, yet the atoms carry "
                                               "less than the whole mass", 0);
    components = comps;
  }

  void ensure_components() const {
    if (all_atomic) return;
    std::call_once(components_once, [this] { find_components(); });
  }

  std::vector<Real> qhat_at(unsigned target) const {
    if (qhat_exact) {
      std::vector<Real> out;
      for (const auto& q : *qhat_exact) out.push_back(to_real(q));
      return out;
    }
    if (net.input_variance) {
      const auto qs = variance_path(net.activation, net.weight_variance, net.bias_variance,
                                    to_real(net.input_variance->exact), net.depth, target);
      std::vector<Real> out{to_real(net.input_variance->exact)};
      for (int l = 1; l < net.depth; ++l)
        out.push_back((qs[l] - to_real(net.bias_variance.exact)) / to_real(net.weight_variance.exact));
      return out;
    }
    const Real qh = (mf.q_star - to_real(net.bias_variance.exact)) / to_real(net.weight_variance.exact);
    return std::vector<Real>(net.depth, qh);
  }

  std::vector<Real> moments_at(int k, unsigned target) const {
    const auto qh = qhat_at(target);
    std::vector<Real> qs = net.input_variance ? variance_path(net.activation, net.weight_variance, net.bias_variance,
                                                              to_real(net.input_variance->exact), net.depth, target)
                                              : q;
    std::vector<std::vector<Real>> d2(net.depth);
    std::map<std::string, std::vector<Real>> cache;
    const auto& a = activation_info(net.activation);
    for (int l = 1; l < net.depth; ++l) {
      const Real ql = a.positively_homogeneous ? Real(1) : qs[l - 1];
      const std::string key = to_string(ql, target + 5);
      auto it = cache.find(key);
      if (it == cache.end()) it = cache.emplace(key, d2_moments_at(net.activation, ql, k, target)).first;
      d2[l] = it->second;
    }
    return fisher_moments<Real>(qh, d2, to_real(net.weight_variance.exact), net.weights == Weights::orthogonal, k);
  }

  std::vector<Real> moments(int k) const override {
    return moments_at_two_precisions([this](int kk, unsigned t) { return moments_at(kk, t); }, k, options.digits,
                                     "fisher_spectrum");
  }

  std::optional<std::vector<Rational>> exact_moments(int k) const override {
    if (!qhat_exact) return std::nullopt;
    const Rational p = net.activation == "relu" ? Rational(1, 2) : Rational(1);
    std::vector<std::vector<Rational>> d2(net.depth, std::vector<Rational>(k, p));
    return fisher_moments<Rational>(*qhat_exact, d2, net.weight_variance.exact, net.weights == Weights::orthogonal, k);
  }

  void require_density() const {
    if (net.weights == Weights::orthogonal && !all_atomic)
      throw convergence_error("fisher_spectrum(" + net.activation + ", orthogonal): the density is not available yet "
                              "for Haar orthogonal weights (their atoms sit on the edges of the continuous part, where "
                              "the continuation cannot be certified); the moments and the atoms are exact. Densities "
                              "are available for Gaussian weights. See docs/spectra.md",
                              0);
    if (!atomic_d2)
      throw convergence_error("fisher_spectrum(" + net.activation + "): the density, CDF and support are available "
                              "when phi' is piecewise constant with values 0 and +-1 (relu, hard_tanh, linear, abs); "
                              "for this activation the moments are exact to the requested digits. See docs/spectra.md",
                              0);
  }

  bool near_atom(double x) const {
    for (const auto& a : atoms)
      if (std::abs(x - a.location) <= 1e-9 * std::max(1.0, std::abs(a.location))) return true;
    return false;
  }

  // Densities at ascending real points by one continuation along them (points at atoms give NaN).
  std::vector<double> raw_densities(const std::vector<double>& xs) const {
    std::vector<double> out(xs.size(), 0.0);
    if (xs.empty() || all_atomic || !solver) return out;
    ChainSolver::Point p = anchor ? *anchor : solver->start();
    bool placed = anchor.has_value();
    for (std::size_t i = 0; i < xs.size(); ++i) {
      if (near_atom(xs[i])) {
        out[i] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      if (!placed) {
        p = solver->move(p, cplx(xs[i], 0));
        placed = true;
      } else {
        p = solver->slide(p, xs[i]);
      }
      out[i] = solver->density(p);
    }
    return out;
  }

  std::vector<DensityValue> densities(const std::vector<double>& xs) const override {
    require_density();
    ensure_components();
    std::vector<std::size_t> order(xs.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return xs[a] < xs[b]; });
    std::vector<double> sorted, inside;
    std::vector<std::size_t> idx;
    for (std::size_t i : order) {
      bool in = false;
      for (const auto& [a, b] : components) in = in || (xs[i] > a && xs[i] < b);
      if (in && std::isfinite(xs[i])) sorted.push_back(xs[i]), idx.push_back(i);
    }
    const auto d = raw_densities(sorted);
    std::vector<DensityValue> out(xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) out[i].x = xs[i];
    for (std::size_t k = 0; k < idx.size(); ++k) {
      out[idx[k]].density = d[k];
      out[idx[k]].error = 1e-13 * std::abs(d[k]) + 1e-15;
    }
    return out;
  }

  std::vector<double> x_density_log(const std::vector<double>& ts) const override {
    require_density();
    std::vector<double> xs(ts.size());
    for (std::size_t i = 0; i < ts.size(); ++i) xs[i] = std::exp(ts[i]);
    const auto d = densities(xs);
    std::vector<double> out(ts.size());
    for (std::size_t i = 0; i < ts.size(); ++i) out[i] = xs[i] * d[i].density;
    return out;
  }

  std::pair<double, double> support() const override {
    require_density();
    ensure_components();
    if (all_atomic || components.empty()) {
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (const auto& a : atoms) lo = std::min(lo, a.location), hi = std::max(hi, a.location);
      return {lo, hi};
    }
    return {components.front().first, components.back().second};
  }

  // Panels in x graded toward both edges of each component (2^-40 of its width), uniform in between; the mass
  // left at each edge is extrapolated from the last two graded panels as a geometric series (power-law edge).
  void build_table(Table& tab) const override {
    require_density();
    ensure_components();
    constexpr double gx[8] = {-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498,
                              0.1834346424956498,  0.5255324099163290,  0.7966664774136267,  0.9602898564975363};
    constexpr double gw[8] = {0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620,
                              0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};
    constexpr int K = 34;
    for (const auto& [a, b] : components) {
      const double H = 0.125 * (b - a);
      std::vector<double> lo, hi;
      for (int k = K - 1; k >= 0; --k) lo.push_back(a + H * std::ldexp(1.0, -(k + 1))), hi.push_back(a + H * std::ldexp(1.0, -k));
      const int nu = 96;
      for (int i = 0; i < nu; ++i) lo.push_back(a + H + (b - a - 2 * H) * i / nu), hi.push_back(a + H + (b - a - 2 * H) * (i + 1) / nu);
      for (int k = 0; k < K; ++k) lo.push_back(b - H * std::ldexp(1.0, -k)), hi.push_back(b - H * std::ldexp(1.0, -(k + 1)));
      std::vector<double> xs;
      for (std::size_t i = 0; i < lo.size(); ++i)
        for (int j = 0; j < 8; ++j) xs.push_back(0.5 * (lo[i] + hi[i]) + 0.5 * (hi[i] - lo[i]) * gx[j]);
      const auto d = raw_densities(xs);
      std::vector<double> pint(lo.size(), 0.0);
      std::size_t q = 0;
      for (std::size_t i = 0; i < lo.size(); ++i)
        for (int j = 0; j < 8; ++j, ++q) {
          const double w = 0.5 * (hi[i] - lo[i]) * gw[j];
          const double rho = std::isfinite(d[q]) ? d[q] : 0.0;
          tab.t.push_back(std::log(xs[q])), tab.w.push_back(w / xs[q]), tab.f.push_back(xs[q] * rho);
          pint[i] += w * rho;
        }
      // The mass left at each edge: the panels halve toward it, so a power-law edge makes their masses a geometric
      // series; add its sum as an extra node at the edge (so integrated_mass and moments_from_density see it).
      auto tail = [](double nearest, double next) {
        if (!(nearest > 0) || !(next > 0)) return 0.0;
        const double r = nearest / next;
        return r < 0.99 ? nearest * r / (1 - r) : 0.0;
      };
      const std::size_t P = lo.size();
      const double ta = tail(pint[0], pint[1]), tb = tail(pint[P - 1], pint[P - 2]);
      pint[0] += ta;
      pint[P - 1] += tb;
      tab.t.push_back(std::log(a)), tab.w.push_back(ta / a), tab.f.push_back(a);
      tab.t.push_back(std::log(b)), tab.w.push_back(tb / b), tab.f.push_back(b);
      for (std::size_t i = 0; i < P; ++i) {
        tab.panel_lo.push_back(std::log(lo[i])), tab.panel_hi.push_back(std::log(hi[i]));
        tab.panel_integral.push_back(pint[i]);
      }
    }
  }
};

}  // namespace

}  // namespace detail

Spectrum fisher_spectrum(const NetworkSpec& net, const SpectrumOptions& options) {
  using namespace detail;
  if (net.depth < 1 || net.depth > 10000)
    throw invalid_argument("fisher_spectrum: depth must lie in [1, 10000], got " + std::to_string(net.depth));
  if (options.digits < 15 || options.digits > 1000)
    throw invalid_argument("fisher_spectrum: digits must lie in [15, 1000], got " + std::to_string(options.digits));
  if (!std::isfinite(net.weight_variance.approx) || net.weight_variance.exact <= 0)
    throw invalid_argument("fisher_spectrum: weight_variance must be positive and finite, got " +
                           std::to_string(net.weight_variance.approx));
  if (!std::isfinite(net.bias_variance.approx) || net.bias_variance.exact < 0)
    throw invalid_argument("fisher_spectrum: bias_variance must be non-negative and finite, got " +
                           std::to_string(net.bias_variance.approx));
  for (std::size_t l = 1; l < net.width_ratios.size(); ++l)
    if (net.width_ratios[l].exact != net.width_ratios[0].exact)
      throw invalid_argument("fisher_spectrum: equal widths only (width ratio " + std::to_string(l) + " is " +
                             net.width_ratios[l].exact.str() + ", the input's " + net.width_ratios[0].exact.str() + ")");
  if (net.input_variance && (!std::isfinite(net.input_variance->approx) || net.input_variance->exact <= 0))
    throw invalid_argument("fisher_spectrum: input_variance must be positive and finite");
  const ActivationInfo& act = activation_info(net.activation);
  auto model = std::make_shared<FisherModel>();
  model->kind = "fisher";
  model->net = net;
  model->options = options;
  const unsigned D = options.digits, top = D + 2 * spectra_guard_digits(D);
  const MeanFieldOptions mo{net.weight_variance, net.bias_variance, D};
  if (net.input_variance) {
    try {
      model->mf = mean_field_impl(net.activation, mo, false);
    } catch (const convergence_error&) {
      model->mf.activation = net.activation;
    }
    precision_scope ps(top);
    model->q = variance_path(net.activation, net.weight_variance, net.bias_variance,
                             to_real(net.input_variance->exact), net.depth, top);
  } else {
    model->mf = mean_field_impl(net.activation, mo, false);
    if (model->mf.fixed_point == FixedPoint::none)
      throw invalid_argument("fisher_spectrum(" + net.activation +
                             "): the variance map has no fixed point; give the network an input_variance");
    const Real qs = model->mf.fixed_point == FixedPoint::attracting ? model->mf.q_star : Real(1);
    if (!(qs > 0))
      throw invalid_argument("fisher_spectrum(" + net.activation + "): q_star = 0, the activations vanish and so "
                             "does the Fisher information; give the network an input_variance or a bias variance");
    model->q.assign(net.depth, qs);
    model->mf.q_star = qs;
  }
  // qhat_0..qhat_{L-1}, exactly when phi is positively homogeneous and the variances rational.
  if (act.positively_homogeneous) {
    const Rational e2 = net.activation == "relu" ? Rational(1, 2) : Rational(1);
    const Rational& s2 = net.weight_variance.exact;
    const Rational& b2 = net.bias_variance.exact;
    std::vector<Rational> qh;
    if (net.input_variance) {
      qh.push_back(net.input_variance->exact);
      Rational ql = s2 * qh[0] + b2;
      for (int l = 1; l < net.depth; ++l) {
        qh.push_back(e2 * ql);
        ql = s2 * qh.back() + b2;
      }
    } else {
      const Rational qs = model->mf.fixed_point == FixedPoint::attracting && model->mf.q_star_exact
                              ? *model->mf.q_star_exact
                              : Rational(1);
      qh.assign(net.depth, e2 * qs);
    }
    model->qhat_exact = qh;
  }
  {
    precision_scope ps(top);
    model->qhat = model->qhat_at(top);
  }
  for (int l = 0; l < net.depth; ++l)
    if (!(model->qhat[l] > 0))
      throw invalid_argument("fisher_spectrum: the activations of layer " + std::to_string(l) +
                             " vanish (qhat = 0): the Fisher information is degenerate");
  // The laws of D_l^2, l = 1..L-1: (1 - p) delta_0 + p delta_1 when phi' is piecewise constant in {0, +-1}.
  model->atomic_d2 = act.piecewise_constant_derivative;
  std::vector<double> p(net.depth + 1, 1.0);  // p[l] = P(D_{l-1} != 0), l = 2..L
  std::vector<std::optional<Rational>> p_exact(net.depth + 1);
  for (int l = 2; l <= net.depth; ++l) {
    const double ql = static_cast<double>(model->q[l - 2]);
    if (net.activation == "relu") p[l] = 0.5, p_exact[l] = Rational(1, 2);
    else if (net.activation == "hard_tanh") p[l] = std::erf(1 / std::sqrt(2 * ql));
    else if (net.activation == "step") p[l] = 0, p_exact[l] = Rational(0);
    else if (act.piecewise_constant_derivative) p[l] = 1, p_exact[l] = Rational(1);
    else p[l] = 1;  // a smooth phi': D^2 has no atom (phi' = 0 on a null set)
  }
  // Atoms, by the Bercovici-Voiculescu rule for (x) (an atom at ab of mass mu{a} + nu{b} - 1 when positive; at 0
  // the larger of the two masses); MP(1) has no atom; the shift moves them by qhat.
  struct A {
    double loc, mass;
    std::optional<Rational> exact;
  };
  std::vector<A> at{{static_cast<double>(model->qhat[0]), 1.0, Rational(1)}};
  const double s2 = net.weight_variance.approx;
  const bool orth = net.weights == Weights::orthogonal;
  for (int l = 2; l <= net.depth; ++l) {
    std::vector<A> nx;
    const bool smooth = !act.piecewise_constant_derivative;
    if (!smooth && p[l] < 1) {
      std::optional<Rational> e;
      if (p_exact[l]) e = 1 - *p_exact[l];
      nx.push_back({0.0, 1 - p[l], e});
    }
    if (orth && !smooth && p[l] > 0)
      for (const auto& a : at) {
        const double mass = a.mass + p[l] - 1;
        if (mass > 1e-15) {
          std::optional<Rational> e;
          if (a.exact && p_exact[l]) e = *a.exact + *p_exact[l] - 1;
          nx.push_back({a.loc, mass, e});
        }
      }
    const double qh = static_cast<double>(model->qhat[l - 1]);
    for (auto& a : nx) a.loc = qh + s2 * a.loc;
    at = nx;
  }
  std::sort(at.begin(), at.end(), [](const A& x, const A& y) { return x.loc < y.loc; });
  double total = 0;
  for (const auto& a : at) {
    model->atoms.push_back({a.loc, a.mass, a.exact});
    total += a.mass;
  }
  model->all_atomic = total > 1 - 1e-14;
  if (model->atomic_d2 && !model->all_atomic) {
    Chain c;
    c.L = net.depth;
    c.sigma2 = s2;
    c.orth = orth;
    for (const auto& q : model->qhat) c.qh.push_back(static_cast<double>(q));
    c.p = p;
    c.d1.assign(net.depth + 1, 1.0);
    // Rlev[l]: the support of nu_l lies in [0, Rlev[l]]. Crude: ||W||^2 <= 4 sigma^2 (sigma^2 orthogonal), ||D|| <= 1.
    // When the laws of D_l^2 do not change with depth, tighter: nu_l is the law of sum_j qhat_{j-1} B_j B_j^T and
    // ||B_j||^2 <= ||W||^2 ||J_k||^2 with J_k the Jacobian of the k = l - 1 - j layers in between, whose squared norm
    // is the top of the support of J_k J_k^T (jacobian_spectrum).
    const double wn = s2 * (orth ? 1.0 : 4.0);
    c.Rlev.assign(net.depth + 1, 0.0);
    c.Rlev[1] = c.qh[0];
    for (int l = 2; l <= net.depth; ++l) c.Rlev[l] = c.qh[l - 1] + wn * c.Rlev[l - 1];
    if (act.positively_homogeneous || !net.input_variance) {
      try {
        std::vector<double> top(net.depth, 1.0);
        for (int k = 1; k + 1 < net.depth; ++k) {
          NetworkSpec jn = net;
          jn.depth = k;
          jn.input_variance.reset();
          if (net.input_variance) jn.input_variance = Param(1);  // homogeneous: the laws do not depend on q
          const Spectrum js = jacobian_spectrum(jn, {.digits = 15});
          top[k] = js.support().second;
          for (const auto& a : js.atoms()) top[k] = std::max(top[k], a.location);
        }
        for (int l = 2; l <= net.depth; ++l) {
          double r = c.qh[l - 1];
          for (int j = 1; j < l; ++j) r += c.qh[j - 1] * wn * top[l - 1 - j];
          if (std::isfinite(r) && r > 0) c.Rlev[l] = std::min(c.Rlev[l], r * 1.01);
        }
      } catch (const std::exception&) {
        // keep the crude bounds
      }
    }
    const double R = c.Rlev[net.depth];
    c.R = R * (1 + 1e-12);
    model->solver = std::make_unique<ChainSolver>(std::move(c));
    const auto m = model->moments(16);
    for (const auto& x : m) model->moments_double.push_back(static_cast<double>(x));
  }
  return Spectrum(model);
}

}  // namespace netsor

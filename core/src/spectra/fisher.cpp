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
// so the system is polynomial and local (row l touches the unknowns of levels l - 1 and l): its Jacobian is a band
// matrix (|i - j| <= 2), factored in O(n). Orthogonal weights use w_l = 1/(1 + m_l) instead of m_l: every form is then
// a quadratic polynomial, and an atom of nu_L (a pole of m_L) is a simple zero of w_L.
//
// Continuation (ChainSolver). The branch is followed from z = infinity, where the far form (u_l = 1/zeta_l, parameter
// s = 1/z) has the exact root u = 0, m = 0 with a unit-triangular Jacobian, along real s to an anchor 2^e above the
// support, then in z. Every step is certified by Krawczyk's test (Krawczyk 1969; Moore, Kearfott & Cloud,
// "Introduction to Interval Analysis", 2009, Thm 8.2) on a tube around the Newton predictor (Duff & Lee, "Certified
// homotopy tracking using the Krawczyk method", 2024): for t in [0, 1] and the box B(t) of radii r around
// x0 + t dx at z_a + t (z_b - z_a), with Y ~ F'(x0)^{-1},
//   sup_t |Y F(x0 + t dx)|_i + sum_j sup_t |I - Y F'(B(t))|_ij r_j < r_i  for every i
// proves one root in B(t) for each t, analytic in t; B(0) contains the enclosure of the previous root, so the root
// reached is the analytic continuation of the true branch. Because F is quadratic, F(x0 + t dx) and F'(B(t)) are
// exact polynomials in t: the motion enters through the matrix Y F'' [dx] and the vector Y F''[dx, dx], computed with
// their cancellations (zeta_l and m_l move together), and only the O(r^2) remainder is bounded in absolute values.
// At each accepted root a second test on a small box (inside the box where the root is known to be unique) gives a
// tight enclosure, which bounds the error of the density. The tests run in double with explicit rounding terms
// (8 eps per row sum); not interval arithmetic.
//
// A smooth phi' (tanh, erf, sigmoid): a general law delta of D^2.
// g_l = 1/S_delta (Gaussian: times 1/S_MP = 1 + m) for delta = law(D_{l-1}^2) has no closed form, but it has a
// parametric one. With T(v) = E[d/(1 - v d)] (d ~ delta), psi_delta(v) = v T(v) and chi_delta = psi_delta^{-1},
// S_delta(m) = chi_delta(m) (1 + m)/m. Put m = psi_delta(v_l), i.e. v_l = chi_delta(m_l); then
//   Gaussian:   g_l(m_l) = (1 + m_l)/S_delta(m_l) = m_l / v_l = T(v_l)
//   orthogonal: g_l(m_l) = 1/S_delta(m_l) = T(v_l) / (1 + v_l T(v_l))
// So the chain gains the unknowns v_l, g_l per level and the rows
//   A_l (unchanged),  B_l: zeta_l - q_{l-1} - sigma^2 zeta_{l-1} g_l,  C_l: m_l - v_l g_l,  D_l: g_l - T(v_l),
// all multilinear but D_l. (Bernoulli check: T(v) = p d1/(1 - v d1) gives v = m/(d1 (p + m)) and g = d1 (p + m).)
// Far form (u = 1/zeta, s = 1/z): B_l -> u_{l-1} - q_{l-1} u_l u_{l-1} - sigma^2 u_l g_l; at s = 0 the root is u = 0,
// m = 0, v = 0, g = T(0) = E[d], with a regular triangular Jacobian, so the branch of z = infinity is again the only
// analytic one. T is the contour rule of smooth_law.hpp (nodes cd_i, weights cw_i); Krawczyk's tube test bounds its
// terms by sup |T^(k)| on disks (tsup: node by node from |1 - v cd_i| >= delta_i, or by Taylor from the centre) and
// keeps T' and T'' at the centre exactly. The rule's level is chosen a posteriori (choose_level: densities at two
// levels must agree). The table takes the mass within 2^-20 of the width of each edge from a contour integral of G
// around the edge (arc_moments), lumped into a 3-point Gauss rule: at the lower edge qhat_{L-1} (the image of the edge
// of MP(1) at 0) the density ~ (x - qhat)^(-1/2) expands in a divergent series in (x - qhat)^(1/2), which defeats
// fitted tails.
// Orthogonal weights (g = w T(v), w = 1/(1 + m)): at the lower edge of nu_L the chain reaches v -> infinity (1/v at the
// bottom of supp delta, d -> 0), where 1 + m = R(v) = 1 + v T(v) -> 0 and w, v ~ 1/(x - qhat) while C_l, w + v g = 1,
// cancels to one part in |v|: certified steps shrink to ~1e-5 of x - qhat (tanh L = 3: 146k steps in 30 s at
// x - qhat = 2e-5). So the near form holds (m_l, zeta_{l-1}, u_l = 1/v_l, gamma_l = G_delta(u_l)) instead: with
// R(v) = u G(u) and T(v)/R(v) = u - 1/G(u),
//   B_l: gamma_l (zeta_l - q_{l-1}) - sigma^2 zeta_{l-1} m_l,   C_l: 1 + m_l - u_l gamma_l,   D_l: gamma_l - G(u_l),
// regular at the lower edge (u -> 0, m -> -1, gamma -> G(0) = -E[1/d]); G is the same contour rule, sum cw_i/(u - cd_i)
// (equal to (T(1/u) + u sum cw_i)/u^2). The far form keeps (w, u_{l-1}, v, g) (its root at s = 0 has v = 0); the anchor
// converts (m, u, gamma) = (1/w - 1, 1/v, v/w) with the enclosures. Depth 2 with orthogonal weights is an exact
// push-forward (below).
#include <netsor/errors.hpp>
#include <netsor/free/toolkit.hpp>
#include <netsor/spectra/activation.hpp>
#include <netsor/spectra/spectrum.hpp>

#include "smooth_law.hpp"
#include "two_precisions.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <complex>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
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

// Complex product and modulus for the inner loops: std::complex's operator* goes through the C99 inf/nan recovery
// (__muldc3) and std::abs through hypot, which dominated the certified steps. The modulus is exact to an ulp (the
// bounds that use it carry a (1 + 4 n eps) factor); outside [1e-150, 1e150] it falls back to std::abs.
inline cplx cmul(cplx a, cplx b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
inline double cabs(cplx a) {
  const double x = std::abs(a.real()), y = std::abs(a.imag()), m = std::max(x, y);
  if (m > 1e150 || (m < 1e-150 && m > 0)) return std::abs(a);
  return std::sqrt(x * x + y * y);
}

// ------------------------------------------------------------------------------------------ the chain system
struct Chain {
  int L = 1;
  double sigma2 = 1;
  bool orth = false;
  std::vector<double> qh;    // qhat_0..qhat_{L-1}
  std::vector<double> p, d1;  // index l = 2..L: law of D_{l-1}^2 = (1 - p) delta_0 + p delta_d1
  double R = 1;              // the support of nu_L lies in [0, R]
  // A smooth law of D^2 (index l = 2..L, empty for the two-atom laws): the contour rule of law(D_{l-1}^2); then each
  // level has the unknowns (y_l, zeta_{l-1}, v_l, g_l), else (y_l, zeta_{l-1}).
  std::vector<std::shared_ptr<const DiscreteLaw>> law;

  bool smooth() const { return !law.empty(); }
  int k() const { return smooth() ? 4 : 2; }
  int n() const { return k() * (L - 1); }
  int iy(int l) const { return k() * (l - 2); }      // y_l (m_l, or w_l = 1/(1 + m_l) for orthogonal weights), l = 2..L
  int iz(int j) const { return k() * (j - 1) + 1; }  // zeta_j (near form) or u_j = 1/zeta_j (far form), j = 1..L-1
  int iv(int l) const { return k() * (l - 2) + 2; }  // v_l = chi_delta(m_l) (smooth laws)
  int ig(int l) const { return k() * (l - 2) + 3; }  // g_l = T(v_l) (Gaussian) or w_l T(v_l) (orthogonal)
};

// T(v) = E[d / (1 - v d)] of a smooth law as the contour rule holds it (sum_i cw_i cd_i / (1 - v cd_i)), with T' and
// T''; a0, a1 the sums of the moduli of the terms of T and T' (for the rounding bounds).
struct TEval {
  cplx t0, t1, t2;
  double a0 = 0, a1 = 0, a2 = 0;
};
TEval teval(const DiscreteLaw& law, cplx v, bool gform = false) {
  TEval e;
  if (gform) {
    // G(u) = sum_i cw_i / (u - cd_i), G' = -sum cw / (u - cd)^2, G'' = 2 sum cw / (u - cd)^3
    for (std::size_t i = 0; i < law.cd.size(); ++i) {
      const cplx den = v - law.cd[i];
      const cplx r = std::conj(den) / (den.real() * den.real() + den.imag() * den.imag());
      const cplx t = cmul(law.cw[i], r), t1 = -cmul(t, r), t2 = -2.0 * cmul(t1, r);
      e.t0 += t, e.t1 += t1, e.t2 += t2;
      e.a0 += cabs(t), e.a1 += cabs(t1), e.a2 += cabs(t2);
    }
    return e;
  }
  for (std::size_t i = 0; i < law.cd.size(); ++i) {
    const cplx d = law.cd[i], den = 1.0 - cmul(v, d);
    const double n2 = den.real() * den.real() + den.imag() * den.imag();
    const cplx r = std::conj(den) / n2, dr = cmul(d, r), t = cmul(law.cw[i], dr), t1 = cmul(t, dr);
    const cplx t2 = 2.0 * cmul(t1, dr);
    e.t0 += t, e.t1 += t1, e.t2 += t2;
    e.a0 += cabs(t), e.a1 += cabs(t1), e.a2 += cabs(t2);
  }
  return e;
}
// The rounding of a sum of the contour rule, relative to its sum of moduli.
double trule_rounding(const DiscreteLaw& law) { return (static_cast<double>(law.cd.size()) + 16) * kEps; }

// S[k] >= sup |T^(k)| over the disk |v - c| <= rho, k = 0..3. Node by node, T^(j)(v) = j! sum cw d^(j+1)/(1 - v d)^(j+1)
// and |1 - v d| >= |1 - c d| - rho |d| give N_j >= sup |T^(j)|; those sums of moduli ignore the cancellations of the
// complex contour weights, so the bound used is the Taylor one, |T^(k)(c)| + rho |T^(k+1)(c)| + rho^2 N_(k+2) / 2 (as
// lilypads.cpp does for its Lipschitz bound), when smaller. False when a pole of the rule (v = 1/cd_i) may lie in the disk.
// With gform, the same for G(u) = sum cw / (u - cd) (G^(j) = (-1)^j j! sum cw / (u - cd)^(j+1), |u - cd| >= |c - cd| - rho).
bool tsup(const DiscreteLaw& law, cplx c, double rho, double S[4], bool gform = false) {
  double N[6] = {0, 0, 0, 0, 0, 0}, A[6] = {0, 0, 0, 0, 0, 0};
  cplx D[6];
  for (std::size_t i = 0; gform && i < law.cd.size(); ++i) {
    const cplx den = c - law.cd[i];
    const double delta = (cabs(den) - rho) * (1 - 8 * kEps);
    if (!(delta > 0)) return false;
    const double q = 1 / delta;
    const cplx r = -std::conj(den) / (den.real() * den.real() + den.imag() * den.imag());
    double t = cabs(law.cw[i]) * q, f = 1;
    cplx u = -cmul(law.cw[i], r);
    for (int j = 0; j < 6; ++j) {
      if (j > 0) t *= q, f *= j, u = cmul(u, r);
      N[j] += f * t;
      D[j] += f * u;
      A[j] += f * cabs(u);
    }
  }
  for (std::size_t i = 0; !gform && i < law.cd.size(); ++i) {
    const cplx d = law.cd[i], den = 1.0 - cmul(c, d);
    const double ad = cabs(d), delta = (cabs(den) - rho * ad) * (1 - 8 * kEps);
    if (!(delta > 0)) return false;
    const double q = ad / delta;
    const cplx dr = cmul(d, std::conj(den) / (den.real() * den.real() + den.imag() * den.imag()));
    double t = cabs(law.cw[i]) * q, f = 1;
    cplx u = cmul(law.cw[i], dr);
    for (int j = 0; j < 6; ++j) {
      if (j > 0) t *= q, f *= j, u = cmul(u, dr);
      N[j] += f * t;
      D[j] += f * u;
      A[j] += f * cabs(u);
    }
  }
  const double g = 1 + trule_rounding(law);
  for (int k = 0; k < 4; ++k) {
    const double taylor = std::abs(D[k]) + trule_rounding(law) * A[k] +
                          rho * (std::abs(D[k + 1]) + trule_rounding(law) * A[k + 1]) + 0.5 * rho * rho * N[k + 2];
    S[k] = std::min(N[k], taylor) * g;
  }
  return std::isfinite(S[3]);
}

using VecC = Eigen::VectorXcd;

// Row i of a System is sum_t c_t prod_{a in S_t} x_a, each S_t a set of at most three distinct indices in [0, n];
// index n is the continuation parameter (z, or s = 1/z). Every form of the chain is multilinear, so the variation
// of F' over a box has an exact bound (|prod (x0_a + d_a) - prod x0_a| <= prod (|x0_a| + r_a) - prod |x0_a|), and F
// is affine in the parameter.
struct Mono {
  double c = 0;
  int k = 0;
  std::array<int, 3> a{};
};

// A row with a term of the law of D^2 (smooth laws): F_row = [its monomials] - x_iw T(x_iv) (x_iw = 1 when iw < 0), or
// [its monomials] - G(x_iv) when g (orthogonal weights, near form).
struct TRow {
  int row = 0, iw = -1, iv = 0;
  const DiscreteLaw* law = nullptr;
  bool g = false;
};

struct System {
  int n = 0;
  int kl = 2, ku = 2;  // the band of F'
  std::vector<std::vector<Mono>> rows;
  std::vector<TRow> trows;
  void add(int row, double c, std::initializer_list<int> vars) {
    Mono m;
    m.c = c;
    for (int v : vars) m.a[m.k++] = v;
    rows[row].push_back(m);
  }
};

// LU with partial pivoting of a band matrix with KL sub- and KU super-diagonals (LAPACK's gbtf2): the chain's
// Jacobian couples the unknowns of neighbouring levels only, |i - j| <= 2 (4 for a smooth law of D^2).
class BandLU {
 public:
  explicit BandLU(int n = 0, int kl = 2, int ku = 2)
      : n_(n), KL(kl), KU(ku), W(2 * kl + ku + 1), a_(static_cast<std::size_t>(n) * W),
        l_(static_cast<std::size_t>(n) * KL), piv_(n) {}
  int n() const { return n_; }
  int kl() const { return KL; }
  int ku() const { return KU; }
  // Entry (i, j) for j - i in [-KL, KL + KU] (the upper part widens by KL through the row interchanges).
  cplx& at(int i, int j) { return a_[static_cast<std::size_t>(i) * W + (j - i + KL)]; }
  const cplx& at(int i, int j) const { return a_[static_cast<std::size_t>(i) * W + (j - i + KL)]; }
  bool factor() {
    for (int k = 0; k < n_; ++k) {
      const int last = std::min(n_ - 1, k + KL), right = std::min(n_ - 1, k + KL + KU);
      int p = k;
      for (int i = k + 1; i <= last; ++i)
        if (std::abs(at(i, k)) > std::abs(at(p, k))) p = i;
      if (!(std::abs(at(p, k)) > 0) || !std::isfinite(std::abs(at(p, k)))) return false;
      piv_[k] = p;
      if (p != k)
        for (int j = k; j <= right; ++j) std::swap(at(k, j), at(p, j));
      const cplx inv = 1.0 / at(k, k);
      for (int i = k + 1; i <= last; ++i) {
        const cplx f = at(i, k) * inv;
        l_[static_cast<std::size_t>(k) * KL + (i - k - 1)] = f;
        at(i, k) = 0;
        for (int j = k + 1; j <= right; ++j) at(i, j) -= cmul(f, at(k, j));
      }
    }
    return true;
  }
  // b <- A^{-1} b; `first` is the index of b's first non-zero entry (a unit vector skips the leading work).
  void solve(cplx* b, int first = 0) const {
    for (int k = std::max(0, first - KL); k < n_; ++k) {
      if (piv_[k] != k) std::swap(b[k], b[piv_[k]]);
      const int last = std::min(n_ - 1, k + KL);
      for (int i = k + 1; i <= last; ++i) b[i] -= cmul(l_[static_cast<std::size_t>(k) * KL + (i - k - 1)], b[k]);
    }
    for (int i = n_ - 1; i >= 0; --i) {
      cplx s = b[i];
      const int right = std::min(n_ - 1, i + KL + KU);
      for (int j = i + 1; j <= right; ++j) s -= cmul(at(i, j), b[j]);
      b[i] = s / at(i, i);
    }
  }

 private:
  int n_, KL, KU, W;
  std::vector<cplx> a_, l_;
  std::vector<int> piv_;
};

class ChainSolver {
 public:
  // A certified root: x at parameter par, and radii enc with |x_true - x|_i <= enc_i for the root on the branch
  // continued from z = infinity; h is the step length to try next.
  struct State {
    cplx par;
    VecC x;
    std::vector<double> enc;
    VecC box_c;                 // a box {|x - box_c| <= box_r} in which the root at par is unique (empty: none known)
    std::vector<double> box_r;
    double h = 0;
    bool tight = false;         // enc is already the tight enclosure (see tighten)
  };
  using Point = State;  // in the near form: par = z, x = (y_l, zeta_{l-1}) per level

  explicit ChainSolver(Chain c) : c_(std::move(c)) {
    near_ = build(false);
    far_ = build(true);
  }
  const Chain& chain() const { return c_; }

  // The two forms of the chain (shared/MATH.md, "The Fisher information spectrum"; see the top of this file).
  //   Gaussian, near (y = m, v = zeta, parameter z = zeta_L):
  //     A_l: (1 + m_l)(zeta_{l-1} - q_{l-2}) - zeta_{l-1}(1 + m_{l-1})      B_l: zeta_l - q_{l-1} - s d (p + m_l) zeta_{l-1}
  //   Gaussian, far (y = m, v = u = 1/zeta, parameter s = u_L = 1/z): A_l / zeta_{l-1} and B_l u_l u_{l-1}:
  //     m_l - m_{l-1} - q_{l-2} u_{l-1}(1 + m_l)                            u_{l-1} - q_{l-1} u_l u_{l-1} - s d u_l (p + m_l)
  //   orthogonal, y = w = 1/(1 + m), so that g(m) = d (p + m)/(1 + m) = d (1 - (1 - p) w) and an atom of nu_L (a pole
  //   of m) is a simple zero of w_L:
  //     near: zeta_{l-1} w_l - (zeta_{l-1} - q_{l-2}) w_{l-1}              zeta_l - q_{l-1} - s d zeta_{l-1} (1 - (1 - p) w_l)
  //     far:  w_l - (1 - q_{l-2} u_{l-1}) w_{l-1}                           u_{l-1} - q_{l-1} u_l u_{l-1} - s d u_l (1 - (1 - p) w_l)
  //   with m_1 = 0 (w_1 = 1). All multilinear. At s = 0 the far form has the exact root u = 0, m = 0 (w = 1), where its
  //   Jacobian is triangular with unit diagonal: the branch of z = infinity, the only one analytic there.
  //   A smooth law of D^2 adds (v_l, g_l) per level (the top of this file); with orthogonal weights the far form keeps
  //   y = w and g = w T(v), and the near form changes to (m_l, zeta_{l-1}, u_l = 1/v_l, gamma_l = G_delta(u_l)).
  System build(bool far) const {
    System S;
    const int n = c_.n();
    S.n = n;
    S.rows.resize(n);
    const double s2 = c_.sigma2;
    for (int l = 2; l <= c_.L; ++l) {
      const int ra = c_.iy(l), rb = ra + 1;
      const int y = c_.iy(l), yp = l >= 3 ? c_.iy(l - 1) : -1, v = c_.iz(l - 1);
      const int vn = l < c_.L ? c_.iz(l) : n;  // zeta_l (u_l); the parameter at l = L
      const double q0 = c_.qh[l - 2], q1 = c_.qh[l - 1];
      // A_l (in m also for orthogonal weights with a smooth law, near form)
      if ((!c_.orth || c_.smooth()) && !far) {
        S.add(ra, 1, {y, v});
        S.add(ra, -q0, {y});
        S.add(ra, -q0, {});
        if (yp >= 0) S.add(ra, -1, {v, yp});
      } else if (!c_.orth) {
        S.add(ra, 1, {y});
        if (yp >= 0) S.add(ra, -1, {yp});
        S.add(ra, -q0, {v});
        S.add(ra, -q0, {v, y});
      } else if (!far) {
        S.add(ra, 1, {v, y});
        if (yp >= 0) {
          S.add(ra, -1, {v, yp});
          S.add(ra, q0, {yp});
        } else {
          S.add(ra, -1, {v});
          S.add(ra, q0, {});
        }
      } else {
        S.add(ra, 1, {y});
        if (yp >= 0) {
          S.add(ra, -1, {yp});
          S.add(ra, q0, {v, yp});
        } else {
          S.add(ra, -1, {});
          S.add(ra, q0, {v});
        }
      }
      if (c_.smooth() && c_.orth && !far) {
        // orthogonal, near: 1 + m = R(v) = u G(u) and g = T(v)/R(v) = u - 1/G(u) = m/gamma (u = 1/v, gamma = G(u)):
        //   B_l: gamma_l (zeta_l - q_{l-1}) - s2 zeta_{l-1} m_l,   C_l: 1 + m_l - u_l gamma_l,   D_l: gamma_l - G(u_l).
        // Regular at the lower edge, where v -> infinity (u -> 0, the bottom of supp delta), m -> -1, gamma -> -E[1/d].
        const int rc = ra + 2, rd = ra + 3, iu = c_.iv(l), ig = c_.ig(l);
        S.add(rb, 1, {ig, vn});
        S.add(rb, -q1, {ig});
        S.add(rb, -s2, {v, y});
        S.add(rc, 1, {});
        S.add(rc, 1, {y});
        S.add(rc, -1, {iu, ig});
        S.add(rd, 1, {ig});
        S.trows.push_back({rd, -1, iu, c_.law[l].get(), true});
        continue;
      }
      if (c_.smooth()) {
        // a smooth law of D^2 (see the top of this file): B_l: zeta_l - q1 - s2 zeta_{l-1} g_l (far: times u_l u_{l-1});
        // C_l: m_l - v_l g_l, D_l: g_l - T(v_l) (orthogonal, far: C_l: w_l + v_l g_l - 1, D_l: g_l - w_l T(v_l)).
        const int rc = ra + 2, rd = ra + 3, iv = c_.iv(l), ig = c_.ig(l);
        if (!far) {
          S.add(rb, 1, {vn});
          S.add(rb, -q1, {});
          S.add(rb, -s2, {v, ig});
        } else {
          S.add(rb, 1, {v});
          S.add(rb, -q1, {vn, v});
          S.add(rb, -s2, {vn, ig});
        }
        S.add(rc, 1, {y});
        S.add(rc, c_.orth ? 1.0 : -1.0, {iv, ig});
        if (c_.orth) S.add(rc, -1, {});
        S.add(rd, 1, {ig});
        S.trows.push_back({rd, c_.orth ? y : -1, iv, c_.law[l].get(), false});
        continue;
      }
      // B_l for two atoms
      const double sd = s2 * c_.d1[l], p = c_.p[l];
      if (!c_.orth && !far) {
        S.add(rb, 1, {vn});
        S.add(rb, -q1, {});
        S.add(rb, -sd * p, {v});
        S.add(rb, -sd, {v, y});
      } else if (!c_.orth) {
        S.add(rb, 1, {v});
        S.add(rb, -q1, {vn, v});
        S.add(rb, -sd * p, {vn});
        S.add(rb, -sd, {vn, y});
      } else if (!far) {
        S.add(rb, 1, {vn});
        S.add(rb, -q1, {});
        S.add(rb, -sd, {v});
        S.add(rb, sd * (1 - p), {v, y});
      } else {
        S.add(rb, 1, {v});
        S.add(rb, -q1, {vn, v});
        S.add(rb, -sd, {vn});
        S.add(rb, sd * (1 - p), {vn, y});
      }
    }
    // the band of F'
    S.kl = S.ku = 0;
    auto widen = [&](int i, int j) {
      if (j < n) S.kl = std::max(S.kl, i - j), S.ku = std::max(S.ku, j - i);
    };
    for (int i = 0; i < n; ++i)
      for (const Mono& m : S.rows[i])
        for (int k = 0; k < m.k; ++k) widen(i, m.a[k]);
    for (const TRow& t : S.trows) {
      widen(t.row, t.iv);
      if (t.iw >= 0) widen(t.row, t.iw);
    }
    return S;
  }

  // ---- evaluation
  static cplx val(const VecC& x, cplx par, int n, int a) { return a == n ? par : x[a]; }

  // F(x; par), and for each row the sum of |terms| (for the rounding bound).
  static void eval(const System& S, const VecC& x, cplx par, VecC& f, std::vector<double>* mag = nullptr) {
    f.resize(S.n);
    if (mag) mag->assign(S.n, 0.0);
    for (int i = 0; i < S.n; ++i) {
      cplx s = 0;
      double g = 0;
      for (const Mono& m : S.rows[i]) {
        cplx t = m.c;
        for (int k = 0; k < m.k; ++k) t *= val(x, par, S.n, m.a[k]);
        s += t;
        g += std::abs(t);
      }
      f[i] = s;
      if (mag) (*mag)[i] = g;
    }
    for (const TRow& t : S.trows) {
      const TEval e = teval(*t.law, x[t.iv], t.g);
      const cplx w = t.iw >= 0 ? x[t.iw] : cplx(1);
      f[t.row] -= w * e.t0;
      if (mag) (*mag)[t.row] += std::abs(w) * e.a0 * (1 + trule_rounding(*t.law) / kGamma);
    }
  }

  // Per row, a bound of the rounding of the computed F'(x) (its T terms) times r; the multilinear terms are covered
  // by kGamma |F'| r where that is used.
  static std::vector<double> trounding(const System& S, const VecC& x, const std::vector<double>& r) {
    std::vector<double> o(S.n, 0.0);
    for (const TRow& t : S.trows) {
      const TEval e = teval(*t.law, x[t.iv], t.g);
      const double aw = t.iw >= 0 ? std::abs(x[t.iw]) : 1.0;
      o[t.row] += trule_rounding(*t.law) * ((t.iw >= 0 ? e.a0 * r[t.iw] : 0.0) + aw * e.a1 * r[t.iv]);
    }
    return o;
  }

  // dF/dpar at x (F is affine in the parameter).
  static VecC dpar(const System& S, const VecC& x, cplx par) {
    VecC f = VecC::Zero(S.n);
    for (int i = 0; i < S.n; ++i)
      for (const Mono& m : S.rows[i]) {
        bool has = false;
        cplx t = m.c;
        for (int k = 0; k < m.k; ++k) {
          if (m.a[k] == S.n) has = true;
          else t *= val(x, par, S.n, m.a[k]);
        }
        if (has) f[i] += t;
      }
    return f;
  }

  // The Jacobian in band storage.
  static void jacobian(const System& S, const VecC& x, cplx par, BandLU& J) {
    J = BandLU(S.n, S.kl, S.ku);
    for (int i = 0; i < S.n; ++i)
      for (const Mono& m : S.rows[i])
        for (int k = 0; k < m.k; ++k) {
          const int j = m.a[k];
          if (j == S.n) continue;
          cplx t = m.c;
          for (int kk = 0; kk < m.k; ++kk)
            if (kk != k) t *= val(x, par, S.n, m.a[kk]);
          J.at(i, j) += t;
        }
    for (const TRow& t : S.trows) {
      const TEval e = teval(*t.law, x[t.iv], t.g);
      if (t.iw >= 0) J.at(t.row, t.iw) -= e.t0;
      J.at(t.row, t.iv) -= (t.iw >= 0 ? x[t.iw] : cplx(1)) * e.t1;
    }
  }

  // v_i = sum_j sup |F'_ij(x; par) - F'_ij(x0; par0)| r_j over |x - x0| <= R (componentwise), |par - par0| <= Rpar.
  static std::vector<double> variation(const System& S, const VecC& x0, cplx par0, const std::vector<double>& R,
                                       double Rpar, const std::vector<double>& r) {
    std::vector<double> v(S.n, 0.0);
    auto ab = [&](int a) { return a == S.n ? std::abs(par0) : std::abs(x0[a]); };
    auto rad = [&](int a) { return a == S.n ? Rpar : R[a]; };
    for (int i = 0; i < S.n; ++i)
      for (const Mono& m : S.rows[i])
        for (int k = 0; k < m.k; ++k) {
          const int j = m.a[k];
          if (j == S.n || m.k == 1) continue;
          double hi = 1, lo = 1;
          for (int kk = 0; kk < m.k; ++kk)
            if (kk != k) hi *= ab(m.a[kk]) + rad(m.a[kk]), lo *= ab(m.a[kk]);
          v[i] += std::abs(m.c) * (hi - lo) * r[j];
        }
    // the T terms: d/dw (w T(v)) = T(v), d/dv = w T'(v); sup |T^(k)| over the disk of radius R_v (tsup)
    for (const TRow& t : S.trows) {
      double Sb[4];
      if (!tsup(*t.law, x0[t.iv], R[t.iv], Sb, t.g)) {
        v[t.row] = std::numeric_limits<double>::infinity();
        continue;
      }
      const double aw = t.iw >= 0 ? std::abs(x0[t.iw]) : 1.0, Rw = t.iw >= 0 ? R[t.iw] : 0.0;
      if (t.iw >= 0) v[t.row] += Sb[1] * R[t.iv] * r[t.iw];
      v[t.row] += (Rw * Sb[1] + aw * Sb[2] * R[t.iv]) * r[t.iv];
    }
    return v;
  }

  // Newton at fixed parameter from x, at most `iters` steps, until the correction stops shrinking or reaches rounding.
  static bool newton(const System& S, VecC& x, cplx par, int iters = 4) {
    double last = std::numeric_limits<double>::infinity();
    VecC f;
    BandLU J;
    for (int it = 0; it < iters; ++it) {
      eval(S, x, par, f);
      jacobian(S, x, par, J);
      if (!J.factor()) return false;
      J.solve(f.data());
      if (!f.allFinite()) return false;
      double rel = 0;
      for (int i = 0; i < S.n; ++i) rel = std::max(rel, std::abs(f[i]) / (std::abs(x[i]) + 1e-300));
      if (rel >= last) return true;  // rounding level
      x -= f;
      if (rel < 4 * kEps) return true;
      last = rel;
    }
    return true;
  }

  // The inverse of F'(x0; par) and what Krawczyk's tests need of it.
  struct Inverse {
    int n = 0;
    BandLU J0;
    std::vector<cplx> Y;           // row-major
    std::vector<double> aY, aE;    // |Y| and |I - Y J0| (computed)
    VecC fa;                       // F(x0; par)
    std::vector<double> mag;       // sum of |terms| of each row of F(x0; par)
    VecC ya;                       // Y F(x0; par)
    std::vector<double> Yrf;       // |Y| (rounding of F and of Y F)

    VecC mul(const VecC& b) const {
      VecC o(n);
      for (int i = 0; i < n; ++i) {
        cplx s = 0;
        for (int k = 0; k < n; ++k) s += cmul(Y[static_cast<std::size_t>(i) * n + k], b[k]);
        o[i] = s;
      }
      return o;
    }
    static std::vector<double> mul(int n, const std::vector<double>& M, const std::vector<double>& b) {
      std::vector<double> o(n);
      for (int i = 0; i < n; ++i) {
        double s = 0;
        const double* row = &M[static_cast<std::size_t>(i) * n];
        for (int k = 0; k < n; ++k) s += row[k] * b[k];
        o[i] = s;
      }
      return o;
    }
    std::vector<double> absJr(const std::vector<double>& r) const {
      std::vector<double> o(n, 0.0);
      for (int i = 0; i < n; ++i)
        for (int j = std::max(0, i - J0.kl()); j <= std::min(n - 1, i + J0.ku()); ++j) o[i] += std::abs(J0.at(i, j)) * r[j];
      return o;
    }
  };
  static constexpr double kGamma = 8 * kEps;  // rounding of a row of at most 4 terms, with room

  static bool invert(const System& S, const VecC& x0, cplx par, Inverse& I) {
    const int n = S.n;
    I.n = n;
    jacobian(S, x0, par, I.J0);
    BandLU lu = I.J0;
    if (!lu.factor()) return false;
    I.Y.assign(static_cast<std::size_t>(n) * n, cplx(0));
    std::vector<cplx> col(n);
    for (int j = 0; j < n; ++j) {
      std::fill(col.begin(), col.end(), cplx(0));
      col[j] = 1;
      lu.solve(col.data(), j);
      for (int i = 0; i < n; ++i) I.Y[static_cast<std::size_t>(i) * n + j] = col[i];
    }
    I.aY.resize(I.Y.size());
    I.aE.resize(I.Y.size());
    for (std::size_t k = 0; k < I.Y.size(); ++k) {
      I.aY[k] = cabs(I.Y[k]);
      if (!std::isfinite(I.aY[k])) return false;
    }
    for (int i = 0; i < n; ++i)  // E = I - Y J0, J0 banded: column j has rows j - KU .. j + KL
      for (int j = 0; j < n; ++j) {
        cplx s = i == j ? cplx(1) : cplx(0);
        for (int k = std::max(0, j - I.J0.ku()); k <= std::min(n - 1, j + I.J0.kl()); ++k)
          s -= cmul(I.Y[static_cast<std::size_t>(i) * n + k], I.J0.at(k, j));
        I.aE[static_cast<std::size_t>(i) * n + j] = cabs(s);
      }
    eval(S, x0, par, I.fa, &I.mag);
    I.ya = I.mul(I.fa);
    std::vector<double> rf(n);
    for (int i = 0; i < n; ++i) rf[i] = kGamma * (I.mag[i] + n * std::abs(I.fa[i]));
    I.Yrf = Inverse::mul(n, I.aY, rf);
    return true;
  }

  // The tight enclosure of the root at a.par: Krawczyk's test at that parameter alone on a small box B_t around a.x
  // inside a.box (where the root is known to be unique, so the root found in B_t is the continued one). With Y the
  // inverse at a.x the contraction is only rounding: enc ~ |Y F(a.x)|. Returns false when a has no box or it fails.
  static bool tighten(const System& S, const State& a, const Inverse& I, std::vector<double>& enc) {
    const int n = S.n;
    if (a.box_r.empty()) return false;
    std::vector<double> rt(n);
    for (int i = 0; i < n; ++i) {
      rt[i] = 3 * (std::abs(I.ya[i]) + I.Yrf[i]) + 4 * kEps * std::abs(a.x[i]) + 1e-300;
      if (!(std::abs(a.x[i] - a.box_c[i]) + rt[i] < a.box_r[i])) return false;
    }
    const std::vector<double> v = variation(S, a.x, a.par, rt, 0, rt), jr = I.absJr(rt), tr = trounding(S, a.x, rt);
    std::vector<double> w(n);
    for (int i = 0; i < n; ++i) w[i] = v[i] + kGamma * jr[i] + tr[i];
    const std::vector<double> Yw = Inverse::mul(n, I.aY, w), Er = Inverse::mul(n, I.aE, rt);
    enc.resize(n);
    for (int i = 0; i < n; ++i) {
      enc[i] = (std::abs(I.ya[i]) + I.Yrf[i] + Er[i] + Yw[i]) * (1 + 4 * n * kEps);
      if (!(enc[i] < rt[i])) return false;
    }
    return true;
  }

  // One certified step of the continuation from a (a root whose true value lies within a.enc) to parameter par_b:
  // Krawczyk's test on a tube around the Newton predictor (Krawczyk 1969; Moore, Kearfott & Cloud 2009, Thm 8.2;
  // the tube as in Duff & Lee, "Certified homotopy tracking using the Krawczyk method", 2024). With x0 = a.x,
  // Y ~ F'(x0; par_a)^{-1}, dx = -Y F(x0; par_b) and, for t in [0, 1], par(t) = par_a + t (par_b - par_a),
  // x(t) = x0 + t dx and the box B(t) = {|x - x(t)|_i <= r_i}: every form of the chain is a quadratic polynomial in
  // (x, par), so exactly
  //   F(x(t); par(t)) = F0 + t F1 + t^2 F2,   F'(x(t) + d; par(t)) = F'(x0; par_a) + t D1 + D[d]
  // (D1 the derivative of F' along (dx, dpar), D[d] linear in d). Krawczyk's operator on B(t) lies inside B(t) for
  // every t when
  //   s_i = max(|Y F0|, |Y (F0 + F1)|)_i + |Y F2|_i + ((|E| + |Y D1|) r)_i + (|Y| (|D|[r] r + rounding))_i  <  r_i,
  // E = I - Y F'(x0; par_a) computed. Then F(., par(t)) has exactly one root in B(t) for each t, analytic in t;
  // r >= enc (the enclosure of the true root at par_a, first tightened by `tighten`) puts that root in B(0), so the
  // root at par_b, within s of x0 + dx, is its continuation. Y D1 and Y F2 keep the cancellations of the actual motion
  // (zeta_l and m_l move together); only the O(r^2) part is bounded in absolute values. Newton then refines the root.
  // Rounding: every computed sum is bounded with kGamma (double arithmetic, not interval arithmetic).
  // `start_enc` receives the tight enclosure of a (or a.enc).
  bool step(const System& S, const State& a, cplx par_b, State& out, std::vector<double>* start_enc = nullptr) const {
    const int n = S.n;
    out.h = 0.25 * std::abs(par_b - a.par);
    const VecC& x0 = a.x;
    Inverse I;
    if (!invert(S, x0, a.par, I)) return false;
    std::vector<double> enc;
    if (a.tight || !tighten(S, a, I, enc)) enc = a.enc;
    if (start_enc) *start_enc = enc;
    const cplx dp = par_b - a.par;
    const VecC fp = dpar(S, x0, a.par);
    const VecC dx = -(I.ya + dp * I.mul(fp));
    // F1, F2 and D1 along e = (dx, dp); the rounding of F0, F1, F2
    auto e_of = [&](int k) { return k == n ? dp : dx[k]; };
    auto x_of = [&](int k) { return k == n ? a.par : x0[k]; };
    VecC F1 = VecC::Zero(n), F2 = VecC::Zero(n);
    std::vector<double> rnd(n), vr(n);
    BandLU D1(n, S.kl, S.ku);
    for (int i = 0; i < n; ++i) {
      double m1 = 0, m2 = 0;
      for (const Mono& m : S.rows[i]) {
        if (m.k == 1) {
          const cplx t = m.c * e_of(m.a[0]);
          F1[i] += t, m1 += std::abs(t);
        } else if (m.k == 2) {
          const int p = m.a[0], q = m.a[1];
          const cplx t1 = m.c * (e_of(p) * x_of(q) + x_of(p) * e_of(q)), t2 = m.c * e_of(p) * e_of(q);
          F1[i] += t1, F2[i] += t2;
          m1 += std::abs(m.c) * (std::abs(e_of(p) * x_of(q)) + std::abs(x_of(p) * e_of(q))), m2 += std::abs(t2);
          if (p < n) D1.at(i, p) += m.c * e_of(q);
          if (q < n) D1.at(i, q) += m.c * e_of(p);
        }
      }
      rnd[i] = kGamma * (m1 + m2 + n * (std::abs(F1[i]) + std::abs(F2[i])));
    }
    // The T terms -w T(v) (smooth laws): F1, F2 and D1 exactly at x0; F along the segment is F0 + t F1 + t^2 F2 + rho(t)
    // with |rho| <= (3 |dw| |dv|^2 sup|T''| + (|w0| + |dw|) |dv|^3 sup|T'''|) / 6 over the disk (v0, |dv|), put with the
    // rounding.
    std::vector<TEval> te(S.trows.size());
    for (std::size_t k = 0; k < S.trows.size(); ++k) {
      const TRow& t = S.trows[k];
      const int i = t.row;
      const TEval& e = te[k] = teval(*t.law, x0[t.iv], t.g);
      const cplx dv = dx[t.iv], w0 = t.iw >= 0 ? x0[t.iw] : cplx(1), dw = t.iw >= 0 ? dx[t.iw] : cplx(0);
      F1[i] -= dw * e.t0 + w0 * e.t1 * dv;
      if (t.iw >= 0) D1.at(i, t.iw) -= e.t1 * dv;
      D1.at(i, t.iv) -= dw * e.t1 + w0 * e.t2 * dv;
      // the t^2 coefficient exactly (its cancellations kept in Y F2), the rest by the third derivative
      F2[i] -= dw * dv * e.t1 + 0.5 * w0 * dv * dv * e.t2;
      double Sb[4];
      const double adv = std::abs(dv), adw = std::abs(dw), aw0 = std::abs(w0);
      if (!tsup(*t.law, x0[t.iv], adv, Sb, t.g)) return false;
      rnd[i] += (3 * adw * adv * adv * Sb[2] + (aw0 + adw) * adv * adv * adv * Sb[3]) / 6 +
                trule_rounding(*t.law) * (adw * e.a0 + aw0 * adv * e.a1 + adv * adv * (adw * e.a1 + aw0 * e.a2)) * 2;
    }
    const VecC y01 = I.ya + I.mul(F1), y2 = I.mul(F2);
    // |Y D1| (D1 banded like F')
    std::vector<double> aM(static_cast<std::size_t>(n) * n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        cplx s = 0;
        for (int k = std::max(0, j - D1.ku()); k <= std::min(n - 1, j + D1.kl()); ++k)
          s += cmul(I.Y[static_cast<std::size_t>(i) * n + k], D1.at(k, j));
        aM[static_cast<std::size_t>(i) * n + j] = cabs(s);
      }
    const std::vector<double> Yrnd = Inverse::mul(n, I.aY, rnd);
    std::vector<double> res(n), r(n), s(n), theta(n);
    for (int i = 0; i < n; ++i) {
      res[i] = std::max(std::abs(I.ya[i]), std::abs(y01[i])) + std::abs(y2[i]) + I.Yrf[i] + Yrnd[i];
      r[i] = 2 * (res[i] + enc[i]) + 2 * kEps * std::abs(x0[i]) + 1e-300;
    }
    auto evaluate = [&]() {
      // |D|[r] r: a monomial c x_p x_q varies F'_ip by c d_q and F'_iq by c d_p
      std::vector<double> w(n, 0.0);
      for (int i = 0; i < n; ++i)
        for (const Mono& m : S.rows[i])
          if (m.k == 2 && m.a[0] < n && m.a[1] < n) w[i] += 2 * std::abs(m.c) * r[m.a[0]] * r[m.a[1]];
      // the T terms (see the derivation in docs/spectra.md, "Smooth laws in the Fisher chain"): over B(t), with
      // b = |dv| + r_v and sup |T^(k)| on the disk (v0, b) (for a G row read G for T, and w = 1),
      //   |T(v) - T(v0) - t T'(v0) dv| <= b^2 sup|T''| / 2 + |T'(v0)| r_v,
      //   |w T'(v) - w0 T'(v0) - t (dw T'(v0) + w0 T''(v0) dv)|
      //       <= (|dw| + r_w) b sup|T''| + r_w |T'(v0)| + |w0| (b^2 sup|T^(3)| / 2 + |T''(v0)| r_v).
      for (std::size_t k = 0; k < S.trows.size(); ++k) {
        const TRow& t = S.trows[k];
        const TEval& e = te[k];
        const double rv = r[t.iv], rw = t.iw >= 0 ? r[t.iw] : 0.0, b = std::abs(dx[t.iv]) + rv;
        const double adw = t.iw >= 0 ? std::abs(dx[t.iw]) : 0.0, aw0 = t.iw >= 0 ? std::abs(x0[t.iw]) : 1.0;
        double Sb[4];
        if (!tsup(*t.law, x0[t.iv], b, Sb, t.g)) {
          w[t.row] = std::numeric_limits<double>::infinity();
          continue;
        }
        const double a1 = std::abs(e.t1), a2 = std::abs(e.t2);
        if (t.iw >= 0) w[t.row] += (0.5 * b * b * Sb[2] + a1 * rv) * rw;
        w[t.row] += ((adw + rw) * b * Sb[2] + rw * a1 + aw0 * (0.5 * b * b * Sb[3] + a2 * rv)) * rv;
        // rounding of the computed T entries of F'(x0) and D1
        w[t.row] += 2 * trule_rounding(*t.law) *
                    ((t.iw >= 0 ? (e.a0 + e.a1 * std::abs(dx[t.iv])) * rw : 0.0) +
                     (aw0 * e.a1 + adw * e.a1 + aw0 * e.a2 * std::abs(dx[t.iv])) * rv);
      }
      const std::vector<double> jr = I.absJr(r), d1r = D1abs(D1, r);
      for (int i = 0; i < n; ++i) w[i] += kGamma * (jr[i] + d1r[i]);
      const std::vector<double> Yw = Inverse::mul(n, I.aY, w), Er = Inverse::mul(n, I.aE, r), Mr = Inverse::mul(n, aM, r);
      bool ok = true;
      for (int i = 0; i < n; ++i) {
        s[i] = (res[i] + Er[i] + Mr[i] + Yw[i]) * (1 + 4 * n * kEps);
        theta[i] = Mr[i] / r[i];
        ok = ok && s[i] < r[i];
      }
      return ok;
    };
    bool ok = false;
    for (int tries = 0; tries < 4 && !ok; ++tries) {
      ok = evaluate();
      if (!std::all_of(s.begin(), s.end(), [](double t) { return std::isfinite(t); })) return false;
      if (!ok)
        for (int i = 0; i < n; ++i) r[i] = std::max(r[i], 1.5 * s[i]);
    }
    // next step length: the contraction |Y D1| grows like the step; aim at 1/2
    const double th = *std::max_element(theta.begin(), theta.end());
    const double dz = std::abs(dp);
    out.h = dz * std::clamp(th > 0 ? 0.8 * 0.5 / th : 4.0, 0.25, 4.0);
    if (!ok) return false;
    const VecC c = x0 + dx;
    VecC x1 = c;
    newton(S, x1, par_b);
    bool inside = x1.allFinite();
    for (int i = 0; i < n && inside; ++i) inside = std::abs(x1[i] - c[i]) < (1 - 1e-6) * r[i];
    out.x = inside ? x1 : c;
    out.par = par_b;
    out.enc.resize(n);
    for (int i = 0; i < n; ++i) out.enc[i] = std::abs(out.x[i] - c[i]) + s[i] + 2 * kEps * std::abs(c[i]);
    out.box_c = c;
    out.box_r = r;
    out.tight = false;
    return true;
  }

  static std::vector<double> D1abs(const BandLU& D, const std::vector<double>& r) {
    const int n = D.n();
    std::vector<double> o(n, 0.0);
    for (int i = 0; i < n; ++i)
      for (int j = std::max(0, i - D.kl()); j <= std::min(n - 1, i + D.ku()); ++j) o[i] += std::abs(D.at(i, j)) * r[j];
    return o;
  }

  // The tight enclosure of p's root (one inverse); p.enc when the test fails.
  std::vector<double> certify(const Point& p) const {
    Inverse I;
    std::vector<double> enc;
    if (invert(near_, p.x, p.par, I) && tighten(near_, p, I, enc)) return enc;
    return p.enc;
  }

  // Moves to par_to by certified steps; a failed step is retried shorter; throws convergence_error after `max_fails`
  // failures in a row. `start_enc` receives the tight enclosure of p from the first attempt.
  State move_in(const System& S, const State& p, cplx par_to, int max_fails,
                std::vector<double>* start_enc = nullptr, int max_steps = std::numeric_limits<int>::max()) const {
    State cur = p, nxt;
    double h = cur.h > 0 ? cur.h : std::abs(par_to - cur.par);
    int fails = 0, taken = 0;
    bool first = true;
    if (start_enc) *start_enc = p.enc;
    while (cur.par != par_to) {
      const double d = std::abs(par_to - cur.par);
      const cplx target = h >= d ? par_to : cur.par + (par_to - cur.par) * (h / d);
      if (target != par_to && std::abs(target - cur.par) <= 8 * kEps * std::max(std::abs(cur.par), std::abs(par_to)))
        fail(cur, "the step fell below the rounding level");
      const double tried = std::min(h, d);
      if (++taken > max_steps) fail(cur, "more than " + std::to_string(max_steps) + " steps");
      std::vector<double> enc;
      const bool ok = step(S, cur, target, nxt, &enc);
      if (first && start_enc) *start_enc = enc;
      first = false;
      cur.enc = enc;
      cur.tight = true;
      ++steps_;
      if (ok) {
        cur = nxt;
        fails = 0;
        h = target == par_to ? std::max(h, nxt.h) : nxt.h;
      } else {
        h = std::clamp(nxt.h, 0.125 * tried, 0.5 * tried);
        if (++fails > max_fails) fail(cur, "Krawczyk's test failed " + std::to_string(fails) + " times in a row");
      }
    }
    cur.h = h;
    return cur;
  }

  [[noreturn]] void fail(const State& cur, const std::string& why) const {
    throw convergence_error("fisher_spectrum: the continuation could not certify a step near z = " +
                                std::to_string(cur.par.real()) + " + " + std::to_string(cur.par.imag()) + "i (" + why +
                                ")",
                            0);
  }

  Point move(const Point& p, cplx z_to, int max_fails = 40, std::vector<double>* start_enc = nullptr) const {
    return move_in(near_, p, z_to, max_fails, start_enc);
  }

  // The certified root on the real axis at z = 2^e (above the support, else throws): the far form from its exact
  // root at s = 0 along real s to 2^-e, then zeta = 1/u (exact parameter: 1/2^-e = 2^e). The box of uniqueness
  // carries over as the largest box inside the image of the far one.
  Point start_at(int e) const {
    const int n = c_.n();
    State s0{0, VecC::Zero(n), std::vector<double>(n, 0.0), {}, {}, 0};
    if (c_.orth)
      for (int l = 2; l <= c_.L; ++l) s0.x[c_.iy(l)] = 1;
    if (c_.smooth())  // v = 0, g = T(0): the root up to the rounding of T(0)
      for (int l = 2; l <= c_.L; ++l) {
        const TEval e = teval(*c_.law[l], 0.0);
        s0.x[c_.ig(l)] = e.t0;
        s0.enc[c_.ig(l)] = 2 * trule_rounding(*c_.law[l]) * e.a0;
      }
    State f = move_in(far_, s0, std::ldexp(1.0, -e), 40);
    {
      Inverse I;
      std::vector<double> enc;
      if (invert(far_, f.x, f.par, I) && tighten(far_, f, I, enc)) f.enc = enc;
    }
    Point p{std::ldexp(1.0, e), f.x, f.enc, f.box_c, f.box_r, 0};
    if (c_.smooth())
      // Above the support the root is real with v_l < 1/dmax (there the contour rule is T on the real line, real to
      // its rounding). Beyond 1/dmax the rule is T's continuation from below the axis, complex on it: the real path
      // in s then continues, without any singular point, onto that sheet (orthogonal erf 3 / 0.3, L = 3: at z = 8 the
      // path went through v_3 = 1/dmax, the top of the law of D^2, and every probe below had Im G > 0). Such an
      // anchor is refused (and the next one, twice as far, tried).
      for (int l = 2; l <= c_.L; ++l) {
        bool real = f.x[c_.iv(l)].real() < 1 / c_.law[l]->cd[0].real();  // v_l < 1/dmax (cd_0 = d(0) = dmax)
        for (int i = c_.iy(l); i <= c_.ig(l); ++i) real = real && std::abs(f.x[i].imag()) <= 1e-8 * (1 + std::abs(f.x[i]));
        if (!real) fail(p, "the root at z = 2^" + std::to_string(e) + " is not on the real branch above the support");
      }
    for (int j = 1; j < c_.L; ++j) {
      const int i = c_.iz(j);
      const double au = std::abs(f.x[i]);
      // a disk about u inside the far box, away from 0: {|u' - u| <= rho} maps onto a disk containing
      // {|zeta - 1/u| <= rho / (|u| (|u| + rho))}
      const double rho = std::min(f.box_r[i] - std::abs(f.x[i] - f.box_c[i]), 0.5 * au);
      if (!(au > 2 * f.enc[i]) || !(rho > f.enc[i])) fail(p, "zeta_" + std::to_string(j) + " not separated from infinity");
      p.x[i] = 1.0 / f.x[i];
      p.enc[i] = f.enc[i] / (au * (au - f.enc[i])) + 2 * kEps * std::abs(p.x[i]);
      p.box_c[i] = p.x[i];
      p.box_r[i] = rho / (au * (au + rho)) * (1 - 4 * kEps);
    }
    if (c_.orth && c_.smooth()) {
      // to the near form's (m, u, gamma) = (1/w - 1, 1/v, v/w) (gamma = G(1/v) = v R(v), R = 1/w): the enclosures map
      // over (|1/(x + a) - 1/x| <= e / (|x| (|x| - e)) for |a| <= e, and |(v + a)/(w + b) - v/w| <= (e_v |w| + e_w |v|) /
      // (|w| (|w| - e_w))); no uniqueness box is carried over.
      for (int l = 2; l <= c_.L; ++l) {
        const int iw = c_.iy(l), iv = c_.iv(l), ig = c_.ig(l);
        const cplx w = f.x[iw], v = f.x[iv];
        const double ew = f.enc[iw], ev = f.enc[iv], aw = std::abs(w), av = std::abs(v);
        if (!(aw > 2 * ew) || !(av > 2 * ev)) fail(p, "w_" + std::to_string(l) + " or v_" + std::to_string(l) + " not separated from 0");
        p.x[iw] = 1.0 / w - 1.0;
        p.enc[iw] = ew / (aw * (aw - ew)) + 4 * kEps * (1 + std::abs(p.x[iw]));
        p.x[iv] = 1.0 / v;
        p.enc[iv] = ev / (av * (av - ev)) + 2 * kEps * std::abs(p.x[iv]);
        p.x[ig] = v / w;
        p.enc[ig] = (ev * aw + ew * av) / (aw * (aw - ew)) + 4 * kEps * std::abs(p.x[ig]);
      }
      // The near form's G(u) = sum cw_i/(u - cd_i) equals (1 + v T(v)) v of the far form's rule only up to
      // v (1 - sum cw_i) (the rule's total mass is 1 up to its error and rounding): the image of the far root leaves
      // that residual in D_l, which moves the near root by at most about |Y| of it (twice that is added).
      std::vector<double> resid(n, 0.0);
      for (int l = 2; l <= c_.L; ++l) {
        const DiscreteLaw& law = *c_.law[l];
        cplx s0 = 0;
        double a0 = 0;
        for (std::size_t i = 0; i < law.cw.size(); ++i) s0 += law.cw[i], a0 += cabs(law.cw[i]);
        resid[c_.ig(l)] = std::abs(f.x[c_.iv(l)]) * (std::abs(1.0 - s0) + trule_rounding(law) * a0);
      }
      Inverse I;
      if (!invert(near_, p.x, p.par, I)) fail(p, "the near form is singular at the anchor");
      const std::vector<double> shift = Inverse::mul(n, I.aY, resid);
      for (int i = 0; i < n; ++i) p.enc[i] += 2 * shift[i];
      p.box_c.resize(0);
      p.box_r.clear();
    }
    p.h = std::ldexp(1.0, e) * 0.1;
    return p;
  }

  // The real branch through the innermost unknown: zeta_1 = t gives z = Phi(t) explicitly (A_l and B_l solved for
  // y_l and zeta_l in turn), with Phi'(t) by forward differentiation. The support edges are the critical values of Phi
  // on the branch that the certified root outside the support lies on.
  double shoot(double t, double& dphi) const {
    double zeta = t, dzeta = 1;
    double y = c_.orth ? 1 : 0, dy = 0;  // m_1 = 0 (w_1 = 1)
    for (int l = 2; l <= c_.L; ++l) {
      const double q0 = c_.qh[l - 2], sd = c_.sigma2 * c_.d1[l], p = c_.p[l];
      double g, dg;
      if (c_.orth) {
        // w_l = (zeta - q0) w_{l-1} / zeta = (1 - q0/zeta) w_{l-1}
        const double f = 1 - q0 / zeta, df = q0 * dzeta / (zeta * zeta);
        const double yn = f * y, dyn = df * y + f * dy;
        y = yn, dy = dyn;
        g = 1 - (1 - p) * y, dg = -(1 - p) * dy;
      } else {
        // 1 + m_l = zeta (1 + m_{l-1}) / (zeta - q0)
        const double den = zeta - q0, a = 1 + y, opm = zeta * a / den;
        const double dopm = (dzeta * a + zeta * dy) / den - zeta * a * dzeta / (den * den);
        y = opm - 1, dy = dopm;
        g = p + y, dg = dy;
      }
      double zn;
      if (c_.smooth()) {
        // v_l from m_l = v T(v) on the real branch, g = T(v) (orthogonal: w T(v)), as the chain holds T
        const double m = c_.orth ? 1 / y - 1 : y, dm = c_.orth ? -dy / (y * y) : dy;
        double T, T1;
        const double v = real_v(*c_.law[l], m, T, T1);
        if (!std::isfinite(v)) {
          dphi = std::nan("");
          return std::nan("");
        }
        const double dv = dm / (T + v * T1);
        g = c_.orth ? y * T : T;
        dg = c_.orth ? dy * T + y * T1 * dv : T1 * dv;
        zn = c_.qh[l - 1] + c_.sigma2 * zeta * g;
        dzeta = c_.sigma2 * (dzeta * g + zeta * dg);
      } else {
        zn = c_.qh[l - 1] + sd * zeta * g;
        dzeta = sd * (dzeta * g + zeta * dg);
      }
      zeta = zn;
    }
    dphi = dzeta;
    return zeta;
  }

  // The real root v < 1/dmax of v T(v) = m (psi(v) = v T(v) increases there from -1 at -infinity), T the real part
  // of the contour rule (its only real pole is at 1/dmax, the node t = 0); T and T' at the root. NaN when m <= -1 or
  // the root cannot be bracketed.
  static double real_v(const DiscreteLaw& law, double m, double& T, double& T1) {
    auto psi = [&](double v, double& t, double& t1) {
      const TEval e = teval(law, cplx(v, 0));
      t = e.t0.real(), t1 = e.t1.real();
      return v * t - m;
    };
    if (!(m > -1) || !std::isfinite(m)) return std::nan("");
    const double top = 1 / law.cd[0].real();
    double lo = 0, hi = 0, t, t1;
    if (m > 0) {
      // psi -> +infinity at the pole 1/dmax: the first of top (1 - 2^-k) where psi > 0
      for (int k = 1; k <= 60; ++k) {
        const double v = top * (1 - std::ldexp(1.0, -k));
        if (psi(v, t, t1) > 0) {
          hi = v;
          break;
        }
        lo = v;
        if (k == 60) return std::nan("");
      }
    } else if (m < 0) {
      lo = -1;
      while (psi(lo, t, t1) > 0) {
        hi = lo, lo *= 2;
        if (lo < -1e300) return std::nan("");
      }
    } else {
      const TEval e = teval(law, 0.0);
      T = e.t0.real(), T1 = e.t1.real();
      return 0;
    }
    double v = 0.5 * (lo + hi);
    for (int it = 0; it < 300; ++it) {
      const double f = psi(v, t, t1);
      (f > 0 ? hi : lo) = v;
      const double df = t + v * t1;
      double vn = df > 0 ? v - f / df : 0.5 * (lo + hi);
      if (!(vn > lo && vn < hi)) vn = 0.5 * (lo + hi);
      if (std::abs(vn - v) <= 2 * kEps * std::abs(v) || hi - lo <= 2 * kEps * std::max(std::abs(lo), std::abs(hi))) {
        psi(vn, T, T1);
        return vn;
      }
      v = vn;
    }
    return std::nan("");
  }

  // The edge reached from a certified real root p at x_out (outside the support) toward x_in (inside): the first
  // critical point of Phi along the branch. The march moves t by half the remaining distance to x_in in the
  // linearization of Phi, so it overshoots the critical point (where Phi' -> 0) rather than jumping over poles; the
  // bracket is accepted only where Phi is continuous. NaN when no edge is found between x_out and x_in.
  // With t_reach: when the march gets to x_in (1e-12 relative) without a critical point, *t_reach is zeta_1 there.
  double edge_from(const Point& p, double x_in, double* t_reach = nullptr) const {
    if (t_reach) *t_reach = std::nan("");
    const double x_out = p.par.real();
    const double t0 = p.x[c_.iz(1)].real();
    if (!(std::abs(p.x[c_.iz(1)].imag()) <= 1e-9 * std::abs(t0))) return std::nan("");
    double d0;
    const double z0 = shoot(t0, d0);
    if (!(std::abs(z0 - x_out) <= 1e-8 * std::abs(x_out)) || d0 == 0 || !std::isfinite(d0)) return std::nan("");
    const double dir = x_in > x_out ? 1.0 : -1.0;
    // the sign change of Phi' in [ta, tb], located by bisection: the edge when Phi is continuous there (else a pole)
    auto locate = [&](double ta, double tb) {
      for (int k = 0; k < 200 && std::abs(tb - ta) > 4 * kEps * std::max(std::abs(ta), std::abs(tb)); ++k) {
        const double mid = 0.5 * (ta + tb);
        double dm;
        shoot(mid, dm);
        ((dm > 0) == (d0 > 0) ? ta : tb) = mid;
      }
      double da, db;
      const double za = shoot(ta, da), zb = shoot(tb, db);
      if (!(std::abs(za - zb) <= 1e-9 * std::max(std::abs(za), std::abs(x_in - x_out)))) return std::nan("");
      return 0.5 * (za + zb);
    };
    double t = t0, z = z0, d = d0;
    for (int k = 0; k < 400; ++k) {
      double dt = 0.5 * (x_in - z) / d;
      bool moved = false;
      for (int h = 0; h < 60 && !moved; ++h, dt *= 0.5) {
        double dn;
        const double tn = t + dt, zn = shoot(tn, dn);
        if (!std::isfinite(zn) || !std::isfinite(dn)) continue;
        if ((dn > 0) != (d0 > 0)) {
          const double e = locate(t, tn);
          if (std::isfinite(e) && (e - x_out) * (x_in - e) >= 0) return e;
          continue;  // a pole, or a critical point beyond x_in: shorter
        }
        // a step along the branch: toward x_in, not past it, and consistent with the linearization (no pole crossed)
        if ((zn - z) * dir > 0 && (x_in - zn) * dir > 0 && std::abs(zn - z - d * dt) <= 0.5 * std::abs(zn - z))
          t = tn, z = zn, d = dn, moved = true;
      }
      if (!moved) return std::nan("");
      if (std::abs(x_in - z) <= 1e-12 * std::max(std::abs(x_in), std::abs(x_in - x_out))) {
        if (t_reach) *t_reach = t;
        return std::nan("");
      }
    }
    return std::nan("");
  }

  // G(z) = (1 + m_L)/(z - qhat_{L-1}) = 1/(w_L (z - qhat_{L-1})), and a bound of its error from the enclosure of y_L.
  cplx cauchy(const Point& p, double* err = nullptr) const {
    const int i = c_.iy(c_.L);
    const cplx y = p.x[i], den = p.par - c_.qh[c_.L - 1];
    const double e = p.enc.empty() ? 0.0 : p.enc[i];
    if (c_.orth && !c_.smooth()) {  // y = w (with a smooth law the near form holds m)
      const cplx G = 1.0 / (y * den);
      if (err) *err = std::abs(y) > e ? std::abs(G) * e / (std::abs(y) - e) : std::numeric_limits<double>::infinity();
      return G;
    }
    if (err) *err = e / std::abs(den);
    return (1.0 + y) / den;
  }

  // -Im G(x)/pi at a root on the real axis.
  double density(const Point& p, double* err = nullptr) const {
    double e = 0;
    const cplx G = cauchy(p, &e);
    if (err) *err = e / M_PI + 4 * kEps * std::abs(G) / M_PI;
    return std::max(0.0, -G.imag() / M_PI);
  }

  // Along the real axis from p to x by certified steps: then the root is analytic on the whole segment, so the
  // segment holds no edge of the support (the density, real-analytic there, cannot vanish on a subinterval unless it
  // vanishes on all of it). False, p unchanged, when that cannot be done within max_steps steps.
  bool along(Point& p, double x, int max_steps) const {
    try {
      p = move_in(near_, p, cplx(x, 0), 8, nullptr, max_steps);
      return true;
    } catch (const convergence_error&) {
      return false;
    }
  }

  // From a root at real x_a to real x_b: along the axis (at most 64 steps, unless try_axis is false), else up to
  // height |x_b - x_a|, over and down.
  Point slide(const Point& p, double xb, std::vector<double>* start_enc = nullptr, bool try_axis = true) const {
    if (try_axis) {
      try {
        return move_in(near_, p, cplx(xb, 0), 8, start_enc, 64);
      } catch (const convergence_error&) {
      }
    }
    const double h = std::max(std::abs(xb - p.par.real()), 1e-3 * c_.qh.back());
    Point a = move(p, cplx(p.par.real(), h), 40, try_axis ? nullptr : start_enc);
    a = move(a, cplx(xb, h));
    return move(a, cplx(xb, 0));
  }

  long steps() const { return steps_; }

 private:
  Chain c_;
  System near_, far_;
  mutable std::atomic<long> steps_{0};
};


// A K-point Gauss rule (nodes in [c - r, c + r], positive weights) with the moments mu_0..mu_{2K-1} about c of a positive
// measure on [c - r, c + r]: the roots of the monic orthogonal polynomial of degree K (from the Hankel system in units
// of r), weights from the Vandermonde system. Fewer nodes when the computed rule is not a valid one (K = 1: the mean).
void lumped_rule(const std::vector<double>& mu, double c, double r, std::vector<double>& nodes, std::vector<double>& weights) {
  const int kmax = static_cast<int>(mu.size()) / 2;
  std::vector<double> m(mu.size());
  for (std::size_t k = 0; k < mu.size(); ++k) m[k] = mu[k] / std::pow(r, static_cast<double>(k));
  for (int K = kmax; K >= 2; --K) {
    Eigen::MatrixXd Hk(K, K);
    Eigen::VectorXd rhs(K);
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < K; ++j) Hk(i, j) = m[i + j];
      rhs[i] = -m[i + K];
    }
    const Eigen::VectorXd a = Hk.colPivHouseholderQr().solve(rhs);  // t^K + a_{K-1} t^{K-1} + ... + a_0
    Eigen::MatrixXd C = Eigen::MatrixXd::Zero(K, K);
    for (int i = 1; i < K; ++i) C(i, i - 1) = 1;
    for (int i = 0; i < K; ++i) C(i, K - 1) = -a[i];
    const Eigen::VectorXcd ev = C.eigenvalues();
    std::vector<double> t;
    bool ok = ev.allFinite();
    for (int i = 0; i < K && ok; ++i) {
      ok = std::abs(ev[i].imag()) <= 1e-9 && std::abs(ev[i].real()) <= 1 + 1e-9;
      t.push_back(ev[i].real());
    }
    if (!ok) continue;
    Eigen::MatrixXd V(K, K);
    Eigen::VectorXd b(K);
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < K; ++j) V(i, j) = std::pow(t[j], i);
      b[i] = m[i];
    }
    const Eigen::VectorXd w = V.colPivHouseholderQr().solve(b);
    if (!w.allFinite() || (w.array() <= 0).any()) continue;
    nodes.clear(), weights.clear();
    for (int j = 0; j < K; ++j) nodes.push_back(c + r * t[j]), weights.push_back(w[j]);
    return;
  }
  nodes = {c + mu[1] / mu[0]}, weights = {mu[0]};
}

// ------------------------------------------------------------------------------------------ the model
class FisherModel final : public SpectrumModel {
 public:
  std::vector<Real> qhat;                  // at the working precision of the construction
  std::optional<std::vector<Rational>> qhat_exact;
  std::vector<Real> layer_q;               // q_1..q_L (for the laws of D_l^2)
  bool atomic_d2 = false;                  // every law of D_l^2 is (1 - p) delta_0 + p delta_1
  mutable std::shared_ptr<const ChainSolver> solver;  // the chain (at the chosen level of the contour rule)
  // A smooth phi' (tanh, erf, sigmoid): the chain holds each law of D^2 as its contour rule (smooth_law.hpp).
  bool smooth_d2 = false;
  std::string density_refusal;             // why a smooth phi' has no density ("" when it has one)
  std::vector<Contour> contour_of;         // index l = 2..L
  Chain base;                              // the chain without its laws
  mutable int level = 2;                   // the level of the contour rule (step kContourH0 2^-level)
  mutable double peak_density = 0;         // the scale of the density (choose_level)
  // A smooth law: the chain runs in y = x - qhat_{L-1} (its last shift set to 0), so that the lower edge of Gaussian
  // weights, y = 0, can be approached to 1e-13 of the width (in x, double resolves only 1e-16 of qhat); components,
  // probes and panels are in y, and densities / support / the table convert at their boundary.
  double x_shift = 0;
  mutable std::mutex level_mu;
  mutable std::map<int, std::shared_ptr<const ChainSolver>> level_solvers;
  // Orthogonal weights at L = 2 with a smooth phi': nu_2 = law(qhat_1 + sigma^2 qhat_0 d(Z)) exactly, a push-forward
  // (its top edge, the image of Z = 0, is an inverse square root: the branch point of T, computed directly).
  bool pushforward = false;
  double pf_shift = 0, pf_scale = 1, pf_a = 1;
  mutable std::vector<std::pair<double, double>> components;  // of the continuous part (found on first use)
  mutable std::once_flag components_once;
  mutable std::optional<ChainSolver::Point> anchor;  // a certified root on the real axis above the support
  mutable int anchor_e = 0;                          // anchor = 2^anchor_e
  std::vector<double> moments_double;  // m_1..m_16 (for the upper edge)
  bool all_atomic = false;

  // A certified root on the real axis and its density.
  struct Probe {
    double x;
    ChainSolver::Point p;
    double d;
  };
  // The scan's certified roots (ascending x) of the solver in use: starts closer than the anchor for the edges' arcs.
  mutable std::vector<Probe> waypoints;
  mutable const ChainSolver* waypoints_of = nullptr;

  // The chain with the contour rules of level lev (equal contours share one law).
  std::shared_ptr<const ChainSolver> solver_at(int lev) const {
    std::lock_guard<std::mutex> lock(level_mu);
    auto it = level_solvers.find(lev);
    if (it != level_solvers.end()) return it->second;
    Chain c = base;
    c.law.assign(c.L + 1, nullptr);
    const Expr& dphi = activation_info(net.activation).dphi;
    for (int l = 2; l <= c.L; ++l) {
      for (int k = 2; k < l && !c.law[l]; ++k)
        if (contour_of[k].a == contour_of[l].a && contour_of[k].c == contour_of[l].c &&
            contour_of[k].tau == contour_of[l].tau)
          c.law[l] = c.law[k];
      if (!c.law[l]) c.law[l] = std::make_shared<const DiscreteLaw>(smooth_law(dphi, contour_of[l], lev, true));
    }
    auto sol = std::make_shared<const ChainSolver>(std::move(c));
    level_solvers[lev] = sol;
    return sol;
  }

  double pf_density(double x) const {
    const auto& act = activation_info(net.activation);
    return pushforward_density(act.dphi, act.d2phi, pf_a, x / pf_scale) / pf_scale;  // x here is y = x - pf_shift
  }

  // The level of the contour rule: the first at which 32 points across each component and 6 toward each of its
  // edges (to 2^-24 of its width) agree with the next level to 0.1 density_tolerance of the peak. A change of level
  // finds the components again with the finer rule.
  void choose_level() const {
    for (;;) {
      std::vector<double> xs;
      for (const auto& [a, b] : components) {
        for (int i = 0; i < 32; ++i) xs.push_back(a + (b - a) * (i + 0.5) / 32);
        for (int k = 1; k <= 6; ++k) {
          xs.push_back(a + (b - a) * std::ldexp(1.0, -4 * k));
          xs.push_back(b - (b - a) * std::ldexp(1.0, -4 * k));
        }
      }
      std::sort(xs.begin(), xs.end());
      // the two levels side by side (independent continuations, each from its own root)
      const auto s0 = solver_at(level), s1 = solver_at(level + 1);
      std::vector<double> e0, e1;
      auto next = std::async(std::launch::async, [&] { return raw_densities(xs, &e1, nullptr, nullptr, s1.get()); });
      const auto d0 = raw_densities(xs, &e0, nullptr, nullptr, s0.get());
      const auto d1 = next.get();
      // the scale: the mean density over the support (the peak can be an integrable singularity: with Gaussian
      // weights the density is ~ (x - qhat_{L-1})^(-1/2) at the lower edge); above it, the difference relative to the
      // value (there the roots are ill-conditioned and two rules agree only to ~1e-11 of the value)
      double width = 0, peak = 0, worst = 0, worst_x = 0;
      for (const auto& [a, b] : components) width += b - a;
      for (double d : d0) peak = std::max(peak, d);
      peak_density = std::min(peak, 1 / width);
      // a difference within the two certified error bounds (the rounding of the roots, large next to a square-root
      // edge) says nothing about the rule
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const double diff = std::max(0.0, std::abs(d0[i] - d1[i]) - e0[i] - e1[i]) / std::max(1.0, d0[i] / peak_density);
        if (!(diff <= worst)) worst = diff, worst_x = xs[i];
      }
      if (worst <= 0.1 * options.density_tolerance * peak_density) return;
      if (level >= 5)
        throw convergence_error("fisher_spectrum(" + net.activation + "): the contour rule of phi'^2 did not converge "
                                "(the density at x = " + num(worst_x + x_shift, 6) + " changes by " + num(worst, 6) +
                                " beyond its error bounds, the scale " + num(peak_density, 6) + ", at step " +
                                num(std::ldexp(kContourH0, -level), 6) + ")",
                                0);
      ++level;
      solver = solver_at(level);
      find_components();
    }
  }

  // Components of the continuous part. A scan of 96 points from an anchor above the support down to just above
  // qhat_{L-1} (Theta >= qhat_{L-1} I), moving along the real axis where the continuation can be certified there: a
  // certified segment holds no edge (ChainSolver::along). Every other segment is refined: next to a point of a gap
  // (real root, density 0 up to rounding) the edge is the critical value of the explicit real branch (edge_from), and
  // the rest of the segment is refined from a probe 1e-4 of the way past the edge (that sliver is taken as support:
  // a component narrower than it would be missed); elsewhere the segment is halved. Segments left unresolved at
  // 1e-13 of the span (a singular point inside the support) split the component there, so that the table grades its
  // panels toward that point too.
  void find_components() const {
    const Chain& c = solver->chain();
    const double lo = c.qh.back();
    double hi = c.R;
    for (std::size_t k = 0; k < moments_double.size(); ++k)
      hi = std::min(hi, 2 * std::pow(moments_double[k], 1.0 / (k + 1)) + 2 * lo);
    // The anchor: a certified real root at hi = 2^e above the support, reached from z = infinity along the real
    // axis (the far form). A guess inside the support cannot be certified (the path would cross the top edge, where
    // the Jacobian is singular): then double it, up to the bound R.
    int e = static_cast<int>(std::ceil(std::log2(hi)));
    const int emax = static_cast<int>(std::ceil(std::log2(c.R)));
    std::optional<ChainSolver::Point> start;
    for (; e <= emax && !start; ++e) {
      try {
        start = solver->start_at(e);
      } catch (const convergence_error&) {
        if (e == emax) throw;
      }
    }
    hi = start->par.real();
    anchor = *start;
    anchor_e = e - 1;
    const double span = hi - lo;
    constexpr int M = 96, kAlong = 24;
    auto nudge = [&](double x) {
      for (int k = 0; k < 8 && near_atom(x); ++k) x += 1e-7 * span;
      return x;
    };
    // The probe at x from the probe `from`: along the axis when it can be certified (`certified`), else up and over.
    auto probe = [&](const Probe& from, double x, bool& certified, int max_steps) {
      ChainSolver::Point q = from.p;
      certified = solver->along(q, x, max_steps);
      if (!certified) q = solver->slide(from.p, x, nullptr, false);
      return Probe{x, q, solver->density(q)};
    };
    std::vector<Probe> pr{Probe{hi, *anchor, 0.0}};  // descending during the scan
    std::vector<char> cert;                          // cert[k]: the segment between pr[k] and pr[k + 1]
    for (int i = M - 1; i >= -1; --i) {
      const double x = i >= 0 ? nudge(lo + span * (i + 0.5) / M) : nudge(lo + (c.smooth() ? 1e-3 : 1e-6) * span / M);
      bool ok = false;
      // the last probe, 1e-6 of a cell above qhat_{L-1}: with Gaussian weights and a smooth phi' the support reaches
      // down to qhat_{L-1}, where the density has an inverse-square-root singularity (the edge of MP(1) at 0): the
      // steps along the axis shrink geometrically toward it, so that segment gets more of them
      pr.push_back(probe(pr.back(), x, ok, i >= 0 ? kAlong : 16 * kAlong));
      cert.push_back(ok);
    }
    std::reverse(pr.begin(), pr.end());
    std::reverse(cert.begin(), cert.end());
    waypoints = pr;
    waypoints_of = solver.get();
    double peak = 0;
    for (const auto& q : pr) peak = std::max(peak, q.d);
    const double thr = 1e-13 * peak;
    enum Kind { gap, support, singular };
    struct Cell {
      double a, b;
      Kind kind;
    };
    std::vector<Cell> cells;
    std::function<void(const Probe&, const Probe&, bool, int)> refine = [&](const Probe& A, const Probe& B, bool ok,
                                                                            int depth) {
      const bool inA = A.d > thr, inB = B.d > thr;
      if (ok) {
        cells.push_back({A.x, B.x, inA || inB ? support : gap});
        return;
      }
      if (!inA && !inB) {
        // two points of gaps: one gap when the real branch goes from A to B without a critical point (its root at
        // B.x being B's); else the edge it meets
        double tr;
        const double ed = solver->edge_from(A.p, B.x, &tr);
        const double tb = B.p.x[solver->chain().iz(1)].real();
        if (!std::isfinite(ed) && std::abs(tr - tb) <= 1e-8 * (1 + std::abs(tb))) {
          cells.push_back({A.x, B.x, gap});
          return;
        }
      }
      if (inA != inB || !inA) {
        const Probe& G = inA ? B : A;
        const Probe& O = inA ? A : B;
        const double ed = solver->edge_from(G.p, O.x);
        if (std::isfinite(ed) && ed != O.x) {
          cells.push_back({std::min(G.x, ed), std::max(G.x, ed), gap});
          // past the edge, a probe at 1e-4 of the way to O (the sliver between is taken as support)
          const double xc = ed + (O.x - ed) * 1e-4;
          bool okc = false;
          const Probe C = probe(O, xc, okc, kAlong);
          cells.push_back({std::min(ed, xc), std::max(ed, xc), support});
          if (inA) refine(O, C, okc, depth + 1);
          else refine(C, O, okc, depth + 1);
          return;
        }
      }
      if (depth > 60 || B.x - A.x < 1e-13 * span) {
        cells.push_back({A.x, B.x, inA || inB ? singular : gap});
        return;
      }
      bool ok1 = false;
      const Probe C = probe(A, nudge(0.5 * (A.x + B.x)), ok1, kAlong);
      ChainSolver::Point q = C.p;
      const bool ok2 = solver->along(q, B.x, kAlong);
      refine(A, C, ok1, depth + 1);
      refine(C, B, ok2, depth + 1);
    };
    for (std::size_t k = 0; k + 1 < pr.size(); ++k) refine(pr[k], pr[k + 1], cert[k], 0);
    std::sort(cells.begin(), cells.end(), [](const Cell& x, const Cell& y) { return x.a < y.a; });
    // Components: runs of support cells, split at singular cells; below the first probe the law has no mass
    // (Theta >= qhat_{L-1} I), so a component reaching it starts at qhat_{L-1}.
    std::vector<std::pair<double, double>> comps;
    bool open = false;
    for (std::size_t k = 0; k < cells.size(); ++k) {
      const Cell& cl = cells[k];
      if (cl.kind == gap) {
        if (open) comps.back().second = cl.a, open = false;
        continue;
      }
      const double mid = 0.5 * (cl.a + cl.b);
      if (cl.kind == singular) {
        if (open) comps.back().second = mid;
        comps.emplace_back(mid, mid), open = true;
        continue;
      }
      if (!open) comps.emplace_back(k == 0 ? lo : cl.a, cl.b), open = true;
      comps.back().second = cl.b;
    }
    std::vector<std::pair<double, double>> out;
    for (const auto& [a, b] : comps)
      if (b > a) out.emplace_back(a, b);
    if (out.empty()) throw convergence_error("fisher_spectrum: no continuous part was found, yet the atoms carry "
                                             "less than the whole mass", 0);
    components = out;
  }

  void ensure_components() const {
    if (all_atomic) return;
    std::call_once(components_once, [this] {
      if (pushforward) {
        const double d0 = d_real(activation_info(net.activation).dphi, pf_a, 0.0);
        const double dinf = d_real(activation_info(net.activation).dphi, pf_a, 64.0);
        components = {{pf_scale * dinf, pf_scale * d0}};  // in y = x - x_shift (x_shift = pf_shift)
        return;
      }
      find_components();
      if (smooth_d2) choose_level();
    });
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
    if (smooth_d2 && density_refusal.empty()) return;
    if (smooth_d2)
      throw convergence_error("fisher_spectrum(" + net.activation + "): the density, CDF and support are not "
                              "available: " + density_refusal + "; the moments are exact to the requested digits "
                              "(see docs/spectra.md, \"Known limits\")",
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

  // Densities at ascending real points by one continuation along them from the anchor (points at atoms give NaN),
  // with the error bounds from the tight enclosures of the roots (err, when asked: the enclosure of a point comes
  // free with the first step to the next one; the last point costs one more inverse).
  // `from`: a certified root to start from instead of the anchor; `roots`: receives the root at each point.
  std::vector<double> raw_densities(const std::vector<double>& xs, std::vector<double>* err = nullptr,
                                    const ChainSolver::Point* from = nullptr,
                                    std::vector<ChainSolver::Point>* roots = nullptr,
                                    const ChainSolver* sol = nullptr) const {
    std::vector<double> out(xs.size(), 0.0);
    if (err) err->assign(xs.size(), 0.0);
    if (pushforward) {
      for (std::size_t i = 0; i < xs.size(); ++i) {
        out[i] = pf_density(xs[i]);
        // rounding, amplified near the top edge (z0 solves d(z0) = y with d ~ d(0) - kappa z^2 there)
        const double b = components.empty() ? 0.0 : components.back().second;
        if (err) (*err)[i] = out[i] * 1e-15 * (1 + std::abs(b) / std::max(b - xs[i], 1e-300));
      }
      if (roots) roots->assign(xs.size(), ChainSolver::Point{});
      return out;
    }
    if (xs.empty() || all_atomic || !solver) return out;  // (the callers have found the components)
    const ChainSolver& S = sol ? *sol : *solver;
    ChainSolver::Point p = from ? *from : (sol && sol != solver.get() ? sol->start_at(anchor_e) : *anchor);
    std::size_t prev = xs.size();  // the index of the density point p sits at
    std::vector<double> enc;
    auto error_at = [&](ChainSolver::Point q, const std::vector<double>& e) {
      q.enc = e;
      double er = 0;
      S.density(q, &er);
      return er;
    };
    for (std::size_t i = 0; i < xs.size(); ++i) {
      if (near_atom(xs[i])) {
        out[i] = std::numeric_limits<double>::quiet_NaN();
        if (roots) roots->push_back(p);
        continue;
      }
      const ChainSolver::Point at = p;
      p = S.slide(p, xs[i], err ? &enc : nullptr);
      if (err && prev < xs.size()) (*err)[prev] = error_at(at, enc);
      out[i] = S.density(p);
      if (roots) roots->push_back(p);
      prev = i;
    }
    if (err && prev < xs.size()) (*err)[prev] = error_at(p, S.certify(p));
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
      const double y = xs[i] - x_shift;
      for (const auto& [a, b] : components) in = in || (y > a && y < b);
      if (in && std::isfinite(y)) sorted.push_back(y), idx.push_back(i);
    }
    std::vector<double> err, err1;
    // a smooth law: the a posteriori check of the contour rule, the rule of half the step from its own anchor (side
    // by side with the rule in use)
    const bool check = smooth_d2 && !pushforward && !sorted.empty();
    std::future<std::vector<double>> finer;
    if (check) {
      const auto s1 = solver_at(level + 1);
      finer = std::async(std::launch::async,
                         [this, s1, &sorted, &err1] { return raw_densities(sorted, &err1, nullptr, nullptr, s1.get()); });
    }
    const auto d = raw_densities(sorted, &err);
    if (check) {
      const auto d1 = finer.get();
      double worst = 0, worst_x = 0;
      for (std::size_t k = 0; k < d.size(); ++k) {
        // (beyond the two certified error bounds, as in choose_level)
        const double diff = std::abs(d[k] - d1[k]);
        const double rel = std::max(0.0, diff - err[k] - err1[k]) / std::max(1.0, d[k] / peak_density);
        err[k] += diff;
        if (!(rel <= worst)) worst = rel, worst_x = sorted[k];
      }
      if (!(worst <= options.density_tolerance * peak_density))
        throw convergence_error("fisher_spectrum(" + net.activation + "): the density at x = " +
                                    num(worst_x + x_shift, 6) + " changes by " + num(worst, 6) +
                                    " when the step of the contour rule of phi'^2 is halved (tolerance " +
                                    std::to_string(options.density_tolerance) + " of the scale)",
                                0);
    }
    std::vector<DensityValue> out(xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) out[i].x = xs[i];
    for (std::size_t k = 0; k < idx.size(); ++k) {
      out[idx[k]].density = d[k];
      out[idx[k]].error = err[k];
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
    return {components.front().first + x_shift, components.back().second + x_shift};
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
    // A smooth law of D^2 (the general chain): the measure within r = 2^-20 of the width of each edge of each component
    // is taken from a contour integral of G around the edge (arc_moments), lumped into a 3-point Gauss rule with its
    // first six moments; the panels run between. (Graded panels and a fitted tail fail at the lower edge of Gaussian
    // weights, y = 0, where the density ~ y^(-1/2) expands in a divergent series in y^(1/2): the fits stayed ~1e-3 off.)
    const bool arcs = solver && solver->chain().smooth() && !pushforward;
    struct Lump {
      double lo, hi, mass;
      std::vector<double> x, w;
    };
    std::vector<Lump> lumps;
    double arc_r = 0;
    if (arcs) {
      double width = components.back().second - components.front().first, gap = width;
      for (std::size_t k = 0; k < components.size(); ++k) {
        width = std::min(width, components[k].second - components[k].first);
        if (k > 0 && components[k].first > components[k - 1].second)
          gap = std::min(gap, components[k].first - components[k - 1].second);
      }
      arc_r = std::min(std::ldexp(width, -20), 0.25 * gap);
    }
    auto arc_at = [&](double c, double lo, double hi) {
      const auto mu = arc_moments(c, arc_r, 6);
      Lump L{lo, hi, mu[0], {}, {}};
      lumped_rule(mu, c, arc_r, L.x, L.w);
      lumps.push_back(L);
    };
    for (std::size_t ci = 0; ci < components.size(); ++ci) {
      const auto [a0, b0] = components[ci];
      if (arcs) {
        const bool joined_below = ci > 0 && components[ci - 1].second == a0;
        const bool joined_above = ci + 1 < components.size() && components[ci + 1].first == b0;
        if (!joined_below) arc_at(a0, a0, a0 + arc_r);
        arc_at(b0, b0 - arc_r, joined_above ? b0 + arc_r : b0);
      }
      // An atom closer to an edge than 1e-7 of it (a near-critical atom: its mass a difference p_{l+1} - p_l of
      // nearly equal probabilities) makes the density turn over at a scale below what double can certify near the
      // edge, so the sliver next to it cannot come from panels and a power-law tail: its mass and mean are those of
      // nu_L in a disk around the atom (contour integrals of G and z G through points 1e-5 |edge| away) less the atom's.
      double a = arcs ? a0 + arc_r : a0, b = arcs ? b0 - arc_r : b0, sa = 0, sb = 0, la = a0, lb = b0;
      for (const auto& at : atoms) {
        const double tau = 1e-7 * std::abs(a0), r = std::max(1e-5 * std::abs(a0), 100 * std::abs(at.location - a0));
        if (std::abs(at.location - a0) < tau && at.location + r < b0) {
          sa = sliver_mass(at, r, la);
          a = at.location + r;
        }
      }
      for (const auto& at : atoms) {
        const double tau = 1e-7 * std::abs(b0), r = std::max(1e-5 * std::abs(b0), 100 * std::abs(at.location - b0));
        if (std::abs(at.location - b0) < tau && at.location - r > a) {
          sb = sliver_mass(at, r, lb);
          b = at.location - r;
        }
      }
      const double H = 0.125 * (b - a);
      // Halvings toward each edge: 34, or fewer so that the last panel stays 1e-9 |edge| away (closer, the root's
      // condition ~ (distance / |edge|)^{-1/2} leaves nothing certifiable in double; the geometric tail covers the rest).
      auto halvings = [&](double edge) {
        if (arcs) return static_cast<int>(std::ceil(std::log2(H / arc_r))) + 1;  // down to r/2 next to the arc
        if (x_shift != 0 && edge == 0) return 44;  // y = 0: the lower edge of the push-forward
        return std::clamp(static_cast<int>(std::floor(std::log2(H / (1e-9 * std::abs(edge))))), 8,
                          34);
      };
      const int Ka = halvings(a), K = halvings(b);
      std::vector<double> lo, hi;
      if (arcs) lo.push_back(a), hi.push_back(a + H * std::ldexp(1.0, -Ka));  // the panels reach the arc
      for (int k = Ka - 1; k >= 0; --k) lo.push_back(a + H * std::ldexp(1.0, -(k + 1))), hi.push_back(a + H * std::ldexp(1.0, -k));
      const int nu = 96;
      for (int i = 0; i < nu; ++i) lo.push_back(a + H + (b - a - 2 * H) * i / nu), hi.push_back(a + H + (b - a - 2 * H) * (i + 1) / nu);
      for (int k = 0; k < K; ++k) lo.push_back(b - H * std::ldexp(1.0, -k)), hi.push_back(b - H * std::ldexp(1.0, -(k + 1)));
      if (arcs) lo.push_back(b - H * std::ldexp(1.0, -K)), hi.push_back(b);
      struct Panel {
        double lo, hi, integral = 0;
        std::array<double, 8> x{}, rho{};
        std::shared_ptr<const ChainSolver::Point> root;  // the root at x[0], where refinements of the panel start
      };
      // densities at the nodes of a batch of panels (one continuation along the sorted nodes, from `from`)
      auto evaluate = [&](std::vector<Panel>& ps, const ChainSolver::Point* from) {
        std::vector<double> xs;
        for (auto& pn : ps)
          for (int j = 0; j < 8; ++j) xs.push_back(pn.x[j] = 0.5 * (pn.lo + pn.hi) + 0.5 * (pn.hi - pn.lo) * gx[j]);
        std::vector<std::size_t> order(xs.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](std::size_t u, std::size_t v) { return xs[u] < xs[v]; });
        std::vector<double> sorted(xs.size());
        for (std::size_t k = 0; k < xs.size(); ++k) sorted[k] = xs[order[k]];
        std::vector<ChainSolver::Point> roots;
        const auto d = raw_densities(sorted, nullptr, from, &roots);
        for (std::size_t k = 0; k < xs.size(); ++k) {
          Panel& pn = ps[order[k] / 8];
          pn.rho[order[k] % 8] = std::isfinite(d[k]) ? d[k] : 0.0;
          if (order[k] % 8 == 0) pn.root = std::make_shared<const ChainSolver::Point>(std::move(roots[k]));
        }
        for (auto& pn : ps) {
          pn.integral = 0;
          for (int j = 0; j < 8; ++j) pn.integral += 0.5 * (pn.hi - pn.lo) * gw[j] * pn.rho[j];
        }
      };
      std::vector<Panel> panels(lo.size());
      for (std::size_t i = 0; i < lo.size(); ++i) panels[i].lo = lo[i], panels[i].hi = hi[i];
      evaluate(panels, nullptr);
      // The mass left at each edge: the panels halve toward it, so near an edge where rho ~ (x - a)^beta (1 + g (x - a))
      // the panel masses, nearest first, are m_k = A r^k (1 + s 2^k) (r = 2^{beta + 1}, s ~ g times the nearest width);
      // three panels give A, r, s, and the panels beyond the nearest sum to A (1/(r - 1) + s/(2r - 1)). (With s = 0,
      // the geometric series of a pure power law; the first-order term matters next to a regular point, e.g. the
      // end of the contour sliver below, where the slope of rho moves the tail by ~0.5% of the nearest panel.)
      auto tail = [](double m0, double m1, double m2) {
        if (!(m0 > 0) || !(m1 > 0)) return 0.0;
        const double q1 = m1 / m0, q2 = m2 / m1, R = q2 / q1;
        double s = 0;
        if (m2 > 0 && std::abs(R - 1) < 0.1) {
          // 4 (R - 1) s^2 + (4R - 5) s + (R - 1) = 0, the root near 0
          const double qa = 4 * (R - 1), qb = 4 * R - 5, qc = R - 1;
          const double disc = qb * qb - 4 * qa * qc;
          if (disc >= 0) s = (2 * qc) / (-qb + std::copysign(std::sqrt(disc), -qb));
          if (!std::isfinite(s) || std::abs(s) > 0.1) s = 0;
        }
        const double r = q1 * (1 + s) / (1 + 2 * s), A = m0 / (1 + s);
        return r > 1.01 ? A * (1 / (r - 1) + s / (2 * r - 1)) : 0.0;
      };
      const std::size_t P = panels.size();
      double ta = arcs ? 0.0 : tail(panels[0].integral, panels[1].integral, panels[2].integral),
             tb = arcs ? 0.0 : tail(panels[P - 1].integral, panels[P - 2].integral, panels[P - 3].integral);
      if (pushforward) {
        // exact: y = pf_scale d(Z) with d even and decreasing in |z|, so P(y < c) = P(|Z| > z0(c)) (the lower edge of
        // erf is y^(1/(4q) - 1) / sqrt(log(1/y)), whose log factor defeats a geometric tail: 2e-7 of mass)
        const auto& act = activation_info(net.activation);
        const double za = pushforward_root(act.dphi, act.d2phi, pf_a, panels[0].lo / pf_scale);
        const double zb = pushforward_root(act.dphi, act.d2phi, pf_a, panels[P - 1].hi / pf_scale);
        ta = std::isfinite(za) ? std::erfc(za / std::sqrt(2.0)) : 0.0;
        tb = std::erf(zb / std::sqrt(2.0));
      }
      // Panels whose 8-point rule is not converged are halved (orthogonal weights give densities with steep
      // shoulders inside the support). The estimate: the Legendre coefficients c_k of the interpolant at the nodes,
      // h max(|c_6|, |c_7|) times the square of their decay from c_4, c_5 (the decay to degree 16 extrapolated
      // geometrically, r^4.5, missed a panel of hard_tanh orthogonal L = 50 off by 6e-9 of its mass), at most 1e-13
      // of the continuous mass.
      const double cm = 1 - std::accumulate(atoms.begin(), atoms.end(), 0.0, [](double s, const Atom& at) { return s + at.mass; });
      const double tol = 1e-13 * std::max(cm, 1e-300);
      auto converged = [&](const Panel& pn) {
        double c[8];
        for (int k = 0; k < 8; ++k) {
          double s = 0;
          for (int j = 0; j < 8; ++j) {
            // P_k(x_j) by the three-term recurrence
            double p0 = 1, p1 = gx[j];
            double pk = k == 0 ? p0 : p1;
            for (int m = 2; m <= k; ++m) {
              const double p2 = ((2 * m - 1) * gx[j] * p1 - (m - 1) * p0) / m;
              p0 = p1, p1 = p2, pk = p2;
            }
            s += gw[j] * pn.rho[j] * pk;
          }
          c[k] = 0.5 * (2 * k + 1) * s;
        }
        const double top = std::max(std::abs(c[6]), std::abs(c[7])), mid = std::max(std::abs(c[4]), std::abs(c[5]));
        const double r = mid > 0 ? top / mid : 1.0;
        const double err = (pn.hi - pn.lo) * top * (r < 1 ? r * r : 1.0);
        return err <= tol;
      };
      std::vector<Panel> done, todo;
      for (std::size_t i = 0; i < P; ++i)
        (((i == 0 || i + 1 == P) && !arcs) || converged(panels[i]) ? done : todo).push_back(panels[i]);
      for (int round = 0; round < 30 && !todo.empty(); ++round) {
        std::vector<Panel> halves;
        for (const auto& pn : todo) {
          // each panel's halves from the root at its first node (not from the anchor above the support)
          const double mid = 0.5 * (pn.lo + pn.hi);
          std::vector<Panel> two(2);
          two[0].lo = pn.lo, two[0].hi = mid, two[1].lo = mid, two[1].hi = pn.hi;
          evaluate(two, pn.root.get());
          halves.insert(halves.end(), two.begin(), two.end());
        }
        todo.clear();
        for (auto& h : halves) (converged(h) || h.hi - h.lo < 1e-12 * (b - a) ? done : todo).push_back(h);
      }
      for (auto& pn : todo) done.push_back(pn);  // unconverged after 30 halvings: kept (the tests will tell)
      std::sort(done.begin(), done.end(), [](const Panel& u, const Panel& v) { return u.lo < v.lo; });
      done.front().integral += ta;
      done.back().integral += tb;
      const double sh = x_shift;  // panels are in y = x - sh (0 but for smooth laws)
      for (const auto& pn : done) {
        for (int j = 0; j < 8; ++j) {
          const double w = 0.5 * (pn.hi - pn.lo) * gw[j], x = pn.x[j] + sh;
          tab.t.push_back(std::log(x)), tab.w.push_back(w / x), tab.f.push_back(x * pn.rho[j]);
        }
        tab.panel_lo.push_back(std::log(pn.lo + sh)), tab.panel_hi.push_back(std::log(pn.hi + sh));
        tab.panel_integral.push_back(pn.integral);
      }
      if (!arcs) {
        tab.t.push_back(std::log(a + sh)), tab.w.push_back(ta / (a + sh)), tab.f.push_back(a + sh);
        tab.t.push_back(std::log(b + sh)), tab.w.push_back(tb / (b + sh)), tab.f.push_back(b + sh);
      }
      if (sa != 0) {
        tab.t.push_back(std::log(la)), tab.w.push_back(sa / la), tab.f.push_back(la);
        tab.panel_lo.push_back(std::log(a0)), tab.panel_hi.push_back(std::log(a)), tab.panel_integral.push_back(sa);
      }
      if (sb != 0) {
        tab.t.push_back(std::log(lb)), tab.w.push_back(sb / lb), tab.f.push_back(lb);
        tab.panel_lo.push_back(std::log(b)), tab.panel_hi.push_back(std::log(b0)), tab.panel_integral.push_back(sb);
      }
    }
    const double sh = x_shift;
    for (const auto& L : lumps) {
      for (std::size_t j = 0; j < L.x.size(); ++j) {
        const double x = L.x[j] + sh;
        tab.t.push_back(std::log(x)), tab.w.push_back(L.w[j] / x), tab.f.push_back(x);
      }
      tab.panel_lo.push_back(std::log(L.lo + sh)), tab.panel_hi.push_back(std::log(L.hi + sh));
      tab.panel_integral.push_back(L.mass);
    }
  }

  // Moments about c of nu_L restricted to the disk |x - c| <= r, mu_k = int (x - c)^k dnu, k = 0..nk-1, atoms
  // included: by G(conj z) = conj G(z), mu_k = (1/pi) Im int_0^pi G(c + r e^{i th}) (r e^{i th})^(k + 1) i dth, the
  // integral over the upper half circle (G is analytic on it; at th = 0 and pi it meets the real axis at c +- r, where
  // it continues analytically from above when that point lies inside the support). Gauss-Legendre in the angle
  // converges geometrically when nothing else singular lies near the circle: 4 and 8 panels of 8 nodes must agree to
  // 1e-13 of the continuous mass (each mu_k in units of r^k). The nodes are reached by certified steps along the arc
  // from c + r.
  std::vector<double> arc_moments(double c, double r, int nk) const {
    constexpr double gx[8] = {-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498,
                              0.1834346424956498,  0.5255324099163290,  0.7966664774136267,  0.9602898564975363};
    constexpr double gw[8] = {0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620,
                              0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};
    // from the scan's certified root nearest to c + r (else the anchor): the path from the anchor to an edge can be
    // long (tanh 1.05 / 0.01, orthogonal, L = 20: 35k steps around the support)
    const ChainSolver::Point* from = &*anchor;
    double best = std::abs(anchor->par.real() - (c + r));
    if (waypoints_of == solver.get())
      for (const Probe& q : waypoints)
        if (std::abs(q.x - (c + r)) < best) best = std::abs(q.x - (c + r)), from = &q.p;
    const ChainSolver::Point start = solver->slide(*from, c + r);
    auto integral = [&](int panels) {
      std::vector<cplx> I(nk);
      ChainSolver::Point p = start;
      for (int k = 0; k < panels; ++k)
        for (int j = 0; j < 8; ++j) {
          const double h = M_PI / panels, th = h * (k + 0.5) + 0.5 * h * gx[j];
          const cplx e = std::polar(1.0, th);
          p = solver->move(p, c + r * e);
          cplx t = 0.5 * h * gw[j] * solver->cauchy(p) * cplx(0, 1) * e;  // (x - c)^k in units of r^k
          for (int q = 0; q < nk; ++q) I[q] += t, t *= e;
        }
      std::vector<double> mu(nk);
      for (int q = 0; q < nk; ++q) mu[q] = r * I[q].imag() / M_PI;
      return mu;
    };
    const auto m4 = integral(4), m8 = integral(8);
    const double cm = 1 - std::accumulate(atoms.begin(), atoms.end(), 0.0, [](double s, const Atom& x) { return s + x.mass; });
    for (int q = 0; q < nk; ++q)
      if (!(std::abs(m8[q] - m4[q]) <= 1e-13 * cm))
        throw convergence_error("fisher_spectrum: the contour integral of G around x = " +
                                    std::to_string(c + x_shift) + " (radius " + std::to_string(r) +
                                    ") did not converge: moment " + std::to_string(q) + " is " + std::to_string(m4[q]) +
                                    " or " + std::to_string(m8[q]),
                                0);
    std::vector<double> mu(nk);
    for (int q = 0; q < nk; ++q) mu[q] = m8[q] * std::pow(r, q);
    return mu;
  }

  // The continuous mass within r of the atom `at`, and its mean (in `mean`): the disk's moments (arc_moments) less
  // the atom's. The circle keeps r from the atom and the edge.
  double sliver_mass(const Atom& at, double r, double& mean) const {
    for (const auto& other : atoms)
      if (&other != &at && std::abs(other.location - at.location) < 2 * r)
        throw convergence_error("fisher_spectrum: two atoms (" + std::to_string(at.location) + ", " +
                                    std::to_string(other.location) + ") next to an edge of the continuous part: its "
                                    "mass there cannot be separated",
                                0);
    const auto mu = arc_moments(at.location, r, 2);
    if (!(mu[0] - at.mass > 0))
      throw convergence_error("fisher_spectrum: the contour integral around the atom at " +
                                  std::to_string(at.location) + " gave no continuous mass (" + std::to_string(mu[0]) +
                                  ", the atom " + std::to_string(at.mass) + ")",
                              0);
    mean = at.location + mu[1] / (mu[0] - at.mass);  // the atom sits at c: no first moment about c
    return mu[0] - at.mass;
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
  // A smooth phi': the contour rule of each law of D^2 (a smooth law has no atom, so L >= 2 is not all atomic).
  const bool smooth = !act.piecewise_constant_derivative && !model->all_atomic;
  if (smooth) {
    model->smooth_d2 = true;
    model->contour_of.resize(net.depth + 1);
    for (int l = 2; l <= net.depth && model->density_refusal.empty(); ++l)
      model->density_refusal =
          make_contour(net.activation, act.dphi, static_cast<double>(model->q[l - 2]), model->contour_of[l]);
    if (model->density_refusal.empty() && orth && net.depth == 2) {
      const Expr& dphi = act.dphi;
      model->pushforward = true;
      model->pf_a = model->contour_of[2].a;
      model->pf_shift = model->x_shift = static_cast<double>(model->qhat[1]);
      model->pf_scale = s2 * static_cast<double>(model->qhat[0]);
      if (!(d_real(dphi, model->pf_a, 64.0) <= 1e-14 * d_real(dphi, model->pf_a, 0.0)))
        model->density_refusal = "phi'(h)^2 does not tend to 0 as |h| grows (the push-forward at L = 2 is written "
                                 "for that)";
    }
  }
  if ((model->atomic_d2 || (smooth && model->density_refusal.empty() && !model->pushforward)) && !model->all_atomic) {
    Chain c;
    c.L = net.depth;
    c.sigma2 = s2;
    c.orth = orth;
    for (const auto& q : model->qhat) c.qh.push_back(static_cast<double>(q));
    c.p = p;
    c.d1.assign(net.depth + 1, 1.0);
    // R: the support of nu_L lies in [0, R], by ||Theta_l|| <= qhat_{l-1} + ||W||^2 ||Theta_{l-1}||, ||W||^2 <= 4 sigma^2
    // (sigma^2 orthogonal), ||D|| <= 1. Only a cap for the anchor (the continuation needs no a priori bound).
    // ||D||^2 <= sup phi'^2 = d(0) for a smooth phi' (even and decreasing in |h|, as make_contour checked).
    const double wn = s2 * (orth ? 1.0 : 4.0) * (smooth ? d_real(act.dphi, 1.0, 0.0) : 1.0);
    double R = c.qh[0];
    for (int l = 2; l <= net.depth; ++l) R = std::min(c.qh[l - 1] + wn * R, 1e300);
    c.R = R * (1 + 1e-12);
    if (smooth) {
      model->x_shift = c.qh.back();
      c.qh.back() = 0;
      model->base = c;
      model->solver = model->solver_at(model->level);
    } else {
      model->solver = std::make_shared<const ChainSolver>(std::move(c));
    }
    const auto m = model->moments(16);
    for (const auto& x : m) model->moments_double.push_back(static_cast<double>(x));
  }
  return Spectrum(model);
}

}  // namespace netsor

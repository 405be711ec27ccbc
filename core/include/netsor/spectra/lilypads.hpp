// netsor/spectra/lilypads.hpp — certified Newton continuation for the Cauchy transform of a free product
// (the "Newton lilypads" idea of Chhaibi, Daouda & Kahn, "Free probability, Newton lilypads and Jacobians of
// neural networks", arXiv:2111.00841: chain Newton basins from a point where convergence is certain to the
// target), written for the system below. shared/MATH.md, "Jacobians of deep networks"; docs/spectra.md.
//
// The law of J^T J (size N_0) for J = D_L W_L ... D_1 W_1 has S-transform
//   S(w) = prod_l S_{D_l^2}(Lambda_l w) / (sigma^2 c_l (1 + Lambda_l w))   (Gaussian weights)
//   S(w) = prod_l S_{D_l^2}(w) / sigma^2                                   (Haar orthogonal, square)
// With m = psi(1/z) and, per layer, u_l = m v_l the point where psi_{D_l^2}(u_l) = Lambda_l m, the equation
// z = (1 + m) / (m S(m)) becomes, in the unknowns x = (m, v_1, ..., v_p) (p distinct layer laws, layer law l used
// n_l times):
//   E_0:  log z + log m + alpha log(1 + m) + sum_l n_l log v_l - C = 0     (alpha = -1 Gaussian, L - 1 orthogonal)
//         (solved in zeta = log(m / (1 + m)) = log m - log(1 + m) rather than log m: see lilypads.cpp)
//   E_l:  v_l E[d / (1 - m v_l d)] - Lambda_l = 0,     d ~ law of D_l^2,
// with C = sum_l log(sigma^2 Lambda_{l-1}) (Gaussian) or L log sigma^2 (orthogonal). z enters E_0 alone and
// additively, the Jacobian F'(x) is an arrowhead matrix and does not depend on z, and every second derivative
// has an explicit bound on a ball (|1 - u d| >= delta > 0 there): that is what makes each step checkable.
//
// The guarantee (for the system with the law of D^2 as the solver holds it; see docs/spectra.md):
//  * Start: at |z0| >= 10^4 R (R a rigorous bound of the support), the true solution lies within explicit a priori
//    bounds of (m1/z0, Lambda_l/d1_l); a Kantorovich test there (affine covariant: h = omega eta <= 1/4, sup-norm)
//    whose uniqueness ball contains those bounds certifies that Newton converges to the true branch.
//  * Steps: moving z from z_a to z_b, the Kantorovich test is made at the previous solution with
//    eta_max = eta(z_a) + |log z_b - log z_a| ||F'^{-1} e_0||, which bounds eta along the whole segment; omega
//    bounds ||F'(x0)^{-1} (F'(x) - F'(y))|| / ||x - y|| on the ball. h <= 1/4 certifies a unique root in the ball for every z of the segment,
//    hence (by continuity) that the root reached at z_b is the analytic continuation of the true branch. A step
//    that fails the test is halved; near a support edge the path leaves the real axis (up, across, down).
//  * Rounding: the test runs in double; the safety factor (1/4 instead of 1/2) covers rounding in F and in the
//    bounds, which are computed with relative errors of order 1e-14. It is not interval arithmetic.
//  * A smooth phi' (tanh, erf, sigmoid): T(u) = E[d/(1 - u d)] is an integral over z ~ N(0, 1) whose integrand has
//    poles on the real z line once u > 1/dmax. The solver uses T on a contour z = t + i s(t) pushed to the side where
//    Im d(z) < 0 (trapezoidal rule in t, complex nodes cd_i and weights cw_i): for Im u <= 0, the region the
//    contour sweeps holds no pole and no singularity of d (checked on a grid when the law is built), so the contour
//    sum is T itself, analytic up to and across the real u axis beyond 1/dmax. The Kantorovich bounds use |cd_i|,
//    |cw_i| node by node, so the certificate holds for the discretized contour system; the discretization is
//    checked a posteriori against the rule with half the step (the error estimate of the density).
#pragma once

#include <complex>
#include <vector>

namespace netsor::detail {

using cplx = std::complex<double>;

/// A law on [0, dmax] as the solver holds it. The real nodes d_i, w_i (summing to 1) are its atoms (phi' piecewise
/// constant) or a trapezoidal rule on the real z line (smooth phi'); they serve for real u < 1/dmax (the real
/// branch, the support edges) and for the start. The contour nodes cd_i, cw_i (smooth phi' only) are the rule on
/// the deformed contour, used for every complex u; when empty the real nodes serve there too.
struct DiscreteLaw {
  std::vector<double> d, w;
  std::vector<cplx> cd, cw;
  double dmax = 0, m1 = 0, m2 = 0, m3 = 0;
  double p_positive = 0;  // P(d > 0)
  void finish();          // normalizes w (and cw), fills dmax, moments, p_positive from d, w
};

/// The system E_0, E_l above.
struct ProductSystem {
  std::vector<DiscreteLaw> laws;  // p distinct layer laws
  std::vector<double> mult;       // n_l
  std::vector<double> lambda;     // Lambda_l
  double alpha = -1;              // coefficient of log(1 + m) in E_0
  double c = 0;                   // the constant C
  double first_moment = 1;        // m1 of the law of J^T J (sets the start)
  double support_bound = 1;       // R: the support of J^T J lies in [0, R]
};

struct LilypadStats {
  long steps = 0, rejected = 0, newton_iterations = 0;
};

class LilypadSolver {
 public:
  /// A root of the system: zeta = Log(m / (1 + m)) (regular both as m -> 0, z -> infinity, and as m -> -1, z -> 0
  /// for a law without an atom at 0), nu_l = log v_l, at the parameter lz = log z (a continuous determination along
  /// the path; z itself may be too small for a double: the relu spectrum at depth 50 puts mass below 1e-300).
  struct Point {
    cplx lz;
    cplx zeta;
    std::vector<cplx> nu;  // log v_l; or s_l = log u_l when the solver uses log u (orthogonal weights, see log_u())
    double eta = 0;  // sup-norm of the last Newton correction
    cplx z() const { return std::exp(lz); }
    cplx m() const;
  };

  explicit LilypadSolver(ProductSystem sys);

  /// The certified start at log z0 (|z0| >= 1e4 R, 0 <= arg z0 <= pi).
  Point start(cplx lz0) const;
  /// One certified move of the parameter from p.lz to `lz_to` (a straight segment in log z). Returns h (the
  /// Kantorovich number) on success, +inf when the test fails; on success `out` is the polished root at `lz_to`.
  double step(const Point& p, cplx lz_to, Point& out) const;
  /// Moves along the straight segment to `lz_to`, adapting the step (at most `max_halvings` failed tests in a row);
  /// throws convergence_error when a step cannot be certified.
  Point move(const Point& p, cplx lz_to, int max_halvings = 50) const;
  /// From the start to x + i0, x = exp(log_x) > 0: down the imaginary axis to i x, then along the arc |z| = x.
  Point descend(double log_x) const;
  /// From a root on the real axis to exp(log_x1): along the axis, or around through the upper half-plane when
  /// the axis path cannot be certified (a support edge in between).
  Point slide(const Point& p, double log_x1) const;

  /// x rho(x) = -Im m / pi at a point z = x on the real axis (rho the density of J^T J; G(z) = (1 + m)/z).
  static double x_density(const Point& p);
  /// Newton iterations at p.lz from p, no certificate: re-solves a certified point with a finer discretization of
  /// the laws (the a posteriori check of the contour rule). False when Newton does not settle.
  bool refine(Point& p) const { return polish(p, 30); }

  const ProductSystem& system() const { return sys_; }
  /// Whether the unknowns after zeta are s_l = log u_l rather than nu_l = log v_l: for Haar orthogonal weights
  /// (1 + alpha = sum n_l, every Lambda_l = 1), where E_0 becomes linear in (zeta, s) and E_l depends on zeta
  /// linearly and on s_l alone, so the Lipschitz bound of F' is that of Log(u T / R) only.
  bool log_u() const { return log_u_; }
  LilypadStats& stats() const { return stats_; }

  /// The Kantorovich number h of the segment from the (approximate) root p to lz_to, or +inf; fills the Newton
  /// correction at lz_to and, when asked, the radius of the ball in which the root is unique.
  double kantorovich(const Point& p, cplx lz_to, std::vector<cplx>& delta, double* uniqueness_radius = nullptr) const;

 private:
  struct Eval;
  Eval evaluate(const Point& p) const;
  bool polish(Point& p, int max_iter = 12) const;
  bool newton_correction(const Point& p, std::vector<cplx>& d) const;
  ProductSystem sys_;
  bool log_u_ = false;
  mutable LilypadStats stats_;
};

/// Real branch of the system for real m (support edges): for each law, v_l(m) real with E_l = 0, and z(m) from
/// E_0. Returns false when no real solution exists at that m.
bool real_branch(const ProductSystem& sys, double m, std::vector<double>& v, double& z, double* dlogz_dm = nullptr);

}  // namespace netsor::detail

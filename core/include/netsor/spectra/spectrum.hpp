// netsor/spectra/spectrum.hpp — the limiting spectra of deep networks at initialization: the squared singular
// values of the input-output Jacobian (Pennington, Schoenholz & Ganguli 2017/2018; Chhaibi et al. 2021) and the
// Fisher information for one input (Hayase & Karakida 2021). shared/MATH.md, "Jacobians of deep networks" and
// "The Fisher information spectrum"; shared/API.md, "Spectra of deep networks"; docs/spectra.md.
//
//   Spectrum sp = jacobian_spectrum({.activation = "tanh", .weight_variance = 1.5, .bias_variance = 0.05,
//                                    .depth = 10, .weights = Weights::orthogonal}, {.digits = 30});
//   sp.moments(6);      // tau((J J^T)^k), k = 1..6, every one correct to 30 significant digits
//   sp.density(0.5);    // density of the continuous part of the law of J J^T (atoms are in sp.atoms())
//   sp.support();       // the edges of the continuous part
//
// Moments are exact-to-digits (free multiplicative convolution of moment sequences, at two working precisions
// that must agree); when every factor is rational (relu, abs, linear with rational variances) they are also
// given exactly in `exact_moments`. The density is computed in double by the certified Newton continuation of
// spectra/lilypads.hpp, with an a posteriori error estimate; it throws `convergence_error` rather than return a
// value it cannot certify.
#pragma once

#include <netsor/numbers.hpp>
#include <netsor/program/param.hpp>
#include <netsor/spectra/mean_field.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace netsor {

enum class Weights { gaussian, orthogonal };
const char* to_string(Weights w);

/// An MLP h^l = W^l x^{l-1} + b^l, x^l = phi(h^l), l = 1..depth, at initialization.
struct NetworkSpec {
  std::string activation = "tanh";
  Param weight_variance = 1;   // W^l entries N(0, weight_variance / fan_in), or sqrt(weight_variance) O (Haar)
  Param bias_variance = 0;     // b^l entries N(0, bias_variance)
  int depth = 1;
  Weights weights = Weights::gaussian;
  /// Widths N_0, N_1, ..., N_depth as ratios of a base width (depth + 1 entries); empty: all equal.
  /// Unequal widths need Gaussian weights.
  std::vector<Param> width_ratios = {};
  /// E[x_i^2] of the input x^0 (then q_1 = sigma_w^2 v + sigma_b^2 and the variances follow the mean-field
  /// recursion); unset: every layer sits at the fixed point q_star.
  std::optional<Param> input_variance = std::nullopt;
};

struct SpectrumOptions {
  unsigned digits = 30;             // digits of the moments (and of the mean-field quantities)
  double density_tolerance = 1e-10;  // absolute accuracy asked of the density, relative to its scale
};

/// A point mass of the spectrum.
struct Atom {
  double location = 0;
  double mass = 0;
  std::optional<Rational> exact_mass;  // when known exactly
};

/// A density value with its a posteriori error estimate.
struct DensityValue {
  double x = 0;
  double density = 0;
  double error = 0;  // estimated |density - truth| (discretization of the law of D^2; rounding)
};

namespace detail {
class SpectrumModel;
}

/// The limiting law of J J^T (or of the Fisher information): moments, density, support, atoms.
class Spectrum {
 public:
  Spectrum() = default;
  explicit Spectrum(std::shared_ptr<const detail::SpectrumModel> model) : model_(std::move(model)) {}

  /// m_1..m_k, each correct to options.digits significant digits (Reals at at least digits + 5 of precision).
  std::vector<Real> moments(int k) const;
  /// m_1..m_k exactly, when every ingredient is rational; nullopt otherwise.
  std::optional<std::vector<Rational>> exact_moments(int k) const;
  /// Density of the continuous part at x (0 outside the support).
  double density(double x) const;
  /// The same with its error estimate.
  DensityValue density_with_error(double x) const;
  /// Densities on many points: one certified continuation along the sorted points (fast: use this for grids).
  std::vector<DensityValue> density(const std::vector<double>& xs) const;
  /// `points` midpoints of equal cells covering the support, with their densities.
  std::vector<DensityValue> density_grid(int points) const;
  /// The edges [a, b] of the continuous part (a = 0 when it reaches 0).
  std::pair<double, double> support() const;
  /// Point masses (a mass at 0 when J J^T has a kernel, e.g. relu; the whole law for linear + orthogonal).
  const std::vector<Atom>& atoms() const;
  /// Mass of the continuous part (1 - sum of atoms).
  double continuous_mass() const;
  /// The integral of density(x) over (0, inf), computed from the density (an independent check of the solver:
  /// it should equal continuous_mass()). Integrates x rho(x) in t = log x on panels graded toward the edges.
  double integrated_mass() const;
  /// m_1..m_k computed from the density and the atoms (an independent check of `moments`; ~1e-12 relative).
  std::vector<double> moments_from_density(int k) const;
  /// The CDF at each of the sorted points xs (atoms included): for the Kolmogorov distance.
  std::vector<double> cdf(const std::vector<double>& xs) const;
  /// The mean-field quantities of the network (q_star, chi, ...).
  const MeanField& mean_field() const;
  /// The variances q_l of the pre-activations of layers 1..depth.
  const std::vector<Real>& layer_variances() const;
  /// "jacobian" (law of J J^T) or "fisher" (law of the Fisher information's non-zero part, see fisher_spectrum).
  const std::string& kind() const;
  const NetworkSpec& network() const;
  const SpectrumOptions& options() const;
  const detail::SpectrumModel& model() const { return *model_; }

 private:
  std::shared_ptr<const detail::SpectrumModel> model_;
};

/// The law of J J^T, J = d x^L / d x^0 = D_L W^L ... D_1 W^1 (size N_L), as the free multiplicative convolution
/// of the laws of D_l^2 = phi'(h^l)^2 and of the weights (shared/MATH.md). Throws `invalid_argument` for a bad
/// spec (depth < 1, unknown activation, orthogonal weights with unequal widths, phi' = 0 a.e.), and
/// `convergence_error` when the mean field or the moments cannot reach the requested digits.
Spectrum jacobian_spectrum(const NetworkSpec& net, const SpectrumOptions& options = {});

/// The Fisher information spectrum for one input and a linear read-out f = h^L (Hayase & Karakida 2021), in the
/// normalization of shared/MATH.md: the law of Theta = sum_l qhat_{l-1} B_l B_l^T (N x N, B_l = d h^L / d h^l),
/// whose non-zero spectrum is that of the weight Fisher information normalized by N. Its mean is
/// sum_l qhat_{l-1} prod_{k=l}^{L-1} chi_k (= L qhat_star at criticality). Equal widths only.
Spectrum fisher_spectrum(const NetworkSpec& net, const SpectrumOptions& options = {});

namespace detail {

/// What a Spectrum holds; implemented by the Jacobian and the Fisher models.
class SpectrumModel {
 public:
  virtual ~SpectrumModel() = default;
  virtual std::vector<Real> moments(int k) const = 0;
  virtual std::optional<std::vector<Rational>> exact_moments(int k) const = 0;
  virtual std::vector<DensityValue> densities(const std::vector<double>& sorted_xs) const = 0;
  /// x rho(x) at x = exp(t) for ascending t (works below the smallest double: the relu spectrum at depth 50
  /// carries mass below 1e-300).
  virtual std::vector<double> x_density_log(const std::vector<double>& sorted_t) const = 0;
  virtual std::pair<double, double> support() const = 0;
  /// The mass of the continuous part between exp(t) and the top edge, for a model whose density does not vanish
  /// there (an inverse-square-root edge); 0 by default (a square-root edge leaves ~1e-16 in the table's sliver).
  virtual double top_sliver_mass(double /*t*/) const { return 0; }

  std::string kind;
  NetworkSpec net;
  SpectrumOptions options;
  MeanField mf;
  std::vector<Real> q;           // q_1..q_L
  std::vector<Atom> atoms;

  /// The quadrature table of the continuous part in t = log x (built on first use).
  struct Table {
    std::vector<double> t, w, f;        // nodes, weights, x rho(x) at the nodes
    std::vector<double> panel_lo, panel_hi, panel_integral;
    double tail = 0;                    // estimated mass below the lowest panel
    double top = 0, top_x = 0;          // mass in the sliver left out at the top edge, and that edge
  };
  const Table& table() const;
  /// Builds the table; the default grades panels in t = log x toward the edges of support() (see spectrum.cpp).
  virtual void build_table(Table& tab) const;
  /// The panels next to an edge, as far as the density can be certified; returns the mass of the sliver left out.
  double near_edge_panels(Table& tab, double edge_t, double H, int sign) const;

 private:
  mutable std::mutex table_mu_;
  mutable std::shared_ptr<Table> table_;
};

}  // namespace detail

}  // namespace netsor

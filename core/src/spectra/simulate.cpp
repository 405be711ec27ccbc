// core/src/spectra/simulate.cpp — sampled networks and the eigenvalues of J J^T (netsor/spectra/simulate.hpp).
#include <netsor/errors.hpp>
#include <netsor/spectra/activation.hpp>
#include <netsor/spectra/simulate.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <random>

namespace netsor {

namespace {

// The checks and the input variance shared by both samplers.
double check_and_input_variance(const NetworkSpec& net, const NetworkSampleOptions& o, const std::string& who) {
  if (o.n < 2) throw invalid_argument(who + ": n must be at least 2, got " + std::to_string(o.n));
  if (o.n > 20000) throw invalid_argument(who + ": n = " + std::to_string(o.n) + " is too large for dense matrices (at most 20000)");
  if (o.trials < 1) throw invalid_argument(who + ": trials must be positive, got " + std::to_string(o.trials));
  if (net.depth < 1) throw invalid_argument(who + ": depth must be at least 1, got " + std::to_string(net.depth));
  if (!net.width_ratios.empty()) throw invalid_argument(who + ": equal widths only (width_ratios must be empty)");
  const double sw = net.weight_variance.approx, sb = net.bias_variance.approx;
  if (!(sw > 0) || !(sb >= 0) || !std::isfinite(sw) || !std::isfinite(sb))
    throw invalid_argument(who + ": variances must be finite, weight_variance > 0, bias_variance >= 0");
  double v0 = 1;
  if (net.input_variance) {
    v0 = net.input_variance->approx;
  } else {
    const MeanField mf = detail::mean_field_impl(net.activation, {net.weight_variance, net.bias_variance, 15}, false);
    if (mf.fixed_point == FixedPoint::attracting) v0 = std::max(0.0, (static_cast<double>(mf.q_star) - sb) / sw);
  }
  return v0;
}

Eigen::MatrixXd sample_weights(const NetworkSpec& net, long n, std::mt19937_64& rng) {
  std::normal_distribution<double> N01(0, 1);
  const double sw = net.weight_variance.approx;
  Eigen::MatrixXd W(n, n);
  for (long j = 0; j < n; ++j)
    for (long i = 0; i < n; ++i) W(i, j) = N01(rng);
  if (net.weights == Weights::orthogonal) {
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(W);
    Eigen::MatrixXd Q = qr.householderQ();
    const Eigen::MatrixXd R = qr.matrixQR();
    for (long j = 0; j < n; ++j)
      if (R(j, j) < 0) Q.col(j) *= -1;  // Haar: fix the signs of the QR decomposition
    return std::sqrt(sw) * Q;
  }
  return W * std::sqrt(sw / static_cast<double>(n));
}

}  // namespace

std::vector<std::vector<double>> sample_fisher_spectrum(const NetworkSpec& net, const NetworkSampleOptions& o) {
  const double v0 = check_and_input_variance(net, o, "sample_fisher_spectrum");
  const auto& act = detail::activation_info(net.activation);
  const double sb = net.bias_variance.approx;
  const long n = o.n;
  std::vector<std::vector<double>> out;
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> N01(0, 1);
  for (int t = 0; t < o.trials; ++t) {
    Eigen::VectorXd x(n);
    for (long i = 0; i < n; ++i) x(i) = std::sqrt(v0) * N01(rng);
    // Theta_1 = qhat_0 I; Theta_l = qhat_{l-1} I + W^l D_{l-1} Theta_{l-1} D_{l-1} W^{lT}
    Eigen::MatrixXd theta;
    Eigen::VectorXd dprev;
    for (int l = 1; l <= net.depth; ++l) {
      const Eigen::MatrixXd W = sample_weights(net, n, rng);
      const double qh = x.squaredNorm() / static_cast<double>(n);
      if (l == 1) {
        theta = qh * Eigen::MatrixXd::Identity(n, n);
      } else {
        Eigen::MatrixXd A = dprev.asDiagonal() * theta * dprev.asDiagonal();
        theta = W * A * W.transpose();
        theta.diagonal().array() += qh;
      }
      Eigen::VectorXd h = W * x;
      dprev.resize(n);
      for (long i = 0; i < n; ++i) {
        h(i) += std::sqrt(sb) * N01(rng);
        dprev(i) = detail::eval_double(act.dphi, h(i));
        x(i) = detail::eval_double(act.phi, h(i));
      }
    }
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(theta, Eigen::EigenvaluesOnly);
    out.emplace_back(es.eigenvalues().data(), es.eigenvalues().data() + n);
  }
  return out;
}

std::vector<std::vector<double>> sample_jacobian_spectrum(const NetworkSpec& net, const NetworkSampleOptions& o) {
  const double v0 = check_and_input_variance(net, o, "sample_jacobian_spectrum");
  const auto& act = detail::activation_info(net.activation);
  const double sb = net.bias_variance.approx;
  const long n = o.n;
  std::vector<std::vector<double>> out;
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> N01(0, 1);
  for (int t = 0; t < o.trials; ++t) {
    Eigen::VectorXd x(n);
    for (long i = 0; i < n; ++i) x(i) = std::sqrt(v0) * N01(rng);
    Eigen::MatrixXd J = Eigen::MatrixXd::Identity(n, n);
    for (int l = 0; l < net.depth; ++l) {
      const Eigen::MatrixXd W = sample_weights(net, n, rng);
      Eigen::VectorXd h = W * x;
      for (long i = 0; i < n; ++i) h(i) += std::sqrt(sb) * N01(rng);
      Eigen::MatrixXd WJ = W * J;
      for (long i = 0; i < n; ++i) {
        const double d = detail::eval_double(act.dphi, h(i));
        WJ.row(i) *= d;
        x(i) = detail::eval_double(act.phi, h(i));
      }
      J = std::move(WJ);
    }
    const Eigen::MatrixXd JJ = J * J.transpose();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(JJ, Eigen::EigenvaluesOnly);
    std::vector<double> ev(es.eigenvalues().data(), es.eigenvalues().data() + n);
    for (double& e : ev) e = std::max(e, 0.0);
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace netsor

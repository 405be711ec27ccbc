// simulate.cpp — the finite-width simulator: sampling, node evaluation, trials in parallel.
#include <netsor/program/detail/program_data.hpp>
#include <netsor/program/expr_eval.hpp>
#include <netsor/sim/random.hpp>
#include <netsor/sim/simulation.hpp>

#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include <atomic>
#include <cmath>
#include <exception>
#include <fstream>
#include <iomanip>
#include <limits>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

namespace netsor {

using detail::MatrixKind;
using detail::NodeKind;

namespace {

constexpr long column_block = 64;  // columns per random stream: the unit of reproducible work

/// Bytes of memory the OS says are available (MemAvailable), or a large number when unknown.
double available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024.0;
  return 1e15;
}

std::string gigabytes(double b) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << b / 1e9 << " GB";
  return os.str();
}

void fill_gaussian(Eigen::MatrixXd& m, std::uint64_t seed, int trial, std::int32_t node, double scale) {
  const long rows = m.rows(), cols = m.cols();
  for (long b = 0; b * column_block < cols; ++b) {
    detail::Xoshiro256 rng(detail::stream_key(seed, trial, node, b));
    const long c0 = b * column_block, c1 = std::min(cols, c0 + column_block);
    detail::fill_normal(rng, m.data() + c0 * rows, (c1 - c0) * rows, scale);
  }
}

}  // namespace

Stat detail::checked_stat(std::vector<double> samples, const std::string& what, long n) {
  for (std::size_t t = 0; t < samples.size(); ++t)
    if (!std::isfinite(samples[t]))
      throw invalid_program(what + " is not a finite number in trial " + std::to_string(t) + " at n = " +
                            std::to_string(n) + " (a nonlinearity gave NaN or infinity: log or sqrt of a negative "
                            "value, a division by zero, an overflow)");
  return make_stat(std::move(samples));
}

Stat make_stat(std::vector<double> samples) {
  Stat s;
  const auto t = static_cast<double>(samples.size());
  double sum = 0;
  for (double x : samples) sum += x;
  s.mean = samples.empty() ? std::numeric_limits<double>::quiet_NaN() : sum / t;
  if (samples.size() > 1) {
    double ss = 0;
    for (double x : samples) ss += (x - s.mean) * (x - s.mean);
    s.error = std::sqrt(ss / (t - 1) / t);
  } else {
    s.error = std::numeric_limits<double>::quiet_NaN();
  }
  s.samples = std::move(samples);
  return s;
}

std::ostream& operator<<(std::ostream& os, const Stat& s) {
  const auto flags = os.flags();
  const auto prec = os.precision();
  // Print the mean to the digits the error supports, plus two.
  int digits = 6;
  if (std::isfinite(s.error) && s.error > 0 && s.mean != 0)
    digits = std::max(2, static_cast<int>(std::ceil(std::log10(std::abs(s.mean) / s.error))) + 2);
  os << std::setprecision(digits) << s.mean << " ± " << std::setprecision(2) << s.error;
  os.flags(flags);
  os.precision(prec);
  return os;
}

long Simulation::width(const Dim& d) const {
  if (d.id() < 0 || d.id() >= static_cast<std::int32_t>(widths_.size()))
    throw invalid_program("Simulation::width: unknown dimension");
  return widths_[d.id()];
}

void Simulation::check_node(std::int32_t id, const char* what) const {
  if (id < 0 || static_cast<std::size_t>(id) >= node_count_)
    throw invalid_program(std::string(what) + ": node " + std::to_string(id) +
                          " was added to the program after the simulation ran; simulate again");
}

Simulation::TrialValues Simulation::run_trial(int t) const {
  const auto& d = program_->data();
  TrialValues tv;
  tv.matrices.resize(node_count_);
  tv.vectors.resize(node_count_);
  tv.scalars.assign(node_count_, 0.0);
  std::vector<Eigen::MatrixXd> family_samples(d.families.size());
  for (std::size_t i = 0; i < node_count_; ++i) {
    const auto& node = d.nodes[i];
    const auto id = static_cast<std::int32_t>(i);
    switch (node.kind) {
      case NodeKind::Input: {
        auto& fs = family_samples[node.family];
        if (fs.size() == 0) {
          // Coordinates (a_i, b_i, ...) iid N(0, C): z = C^{1/2} xi, C^{1/2} from the symmetric eigendecomposition.
          const auto& fam = d.families[node.family];
          const long k = static_cast<long>(fam.members.size());
          Eigen::MatrixXd c(k, k);
          for (long a = 0; a < k; ++a)
            for (long b = 0; b < k; ++b) c(a, b) = fam.covariance[a][b].approx;
          Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(c);
          Eigen::MatrixXd root = es.eigenvectors() * es.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
          const long w = widths_[node.dim];
          Eigen::MatrixXd xi(w, k);
          fill_gaussian(xi, opt_.seed, t, fam.members[0], 1.0);
          fs = xi * root.transpose();
        }
        tv.vectors[i] = fs.col(node.member);
        break;
      }
      case NodeKind::Matrix: {
        const long r = widths_[node.rows], c = widths_[node.cols];
        const double sd = std::sqrt(node.variance.approx);
        auto& m = tv.matrices[i];
        m.resize(r, c);
        switch (node.matrix_kind) {
          case MatrixKind::Gaussian: fill_gaussian(m, opt_.seed, t, id, sd / std::sqrt(static_cast<double>(c))); break;
          case MatrixKind::Wigner: {
            fill_gaussian(m, opt_.seed, t, id, 1.0 / std::sqrt(static_cast<double>(c)));
            Eigen::MatrixXd s = (m + m.transpose()) * (sd / std::sqrt(2.0));
            m = std::move(s);
            break;
          }
          case MatrixKind::Orthogonal: {
            // Haar measure: Q of the QR factorization of a Gaussian matrix, with the signs of diag(R) divided out
            // (Mezzadri, "How to generate random matrices from the classical compact groups", 2007).
            fill_gaussian(m, opt_.seed, t, id, 1.0);
            Eigen::HouseholderQR<Eigen::MatrixXd> qr(m);
            Eigen::MatrixXd q = qr.householderQ();
            const auto& rr = qr.matrixQR();
            for (long j = 0; j < c; ++j)
              if (rr(j, j) < 0) q.col(j) *= -1.0;
            m = q * sd;
            break;
          }
        }
        break;
      }
      case NodeKind::MatMul: {
        const auto& w = tv.matrices[node.matrix];
        const auto& x = tv.vectors[node.arg];
        if (node.transposed) tv.vectors[i].noalias() = w.transpose() * x;
        else tv.vectors[i].noalias() = w * x;
        break;
      }
      case NodeKind::Nonlin:
      case NodeKind::Moment: {
        const long w = widths_[node.dim];
        Eigen::ArrayXd v = detail::evaluate_array(
            node.expr, w, [&](std::int32_t ref) -> const Eigen::VectorXd& { return tv.vectors[ref]; },
            [&](std::int32_t ref) { return tv.scalars[ref]; });
        if (node.kind == NodeKind::Nonlin) tv.vectors[i] = v.matrix();
        else tv.scalars[i] = v.mean();
        break;
      }
    }
  }
  return tv;
}

Simulation prepare_simulation(const Program& p, const SimulateOptions& opt) {
  const auto& d = p.data();
  if (opt.n < 1) throw invalid_argument("simulate: width n must be at least 1, got " + std::to_string(opt.n));
  if (opt.trials < 1)
    throw invalid_argument("simulate: trials must be at least 1, got " + std::to_string(opt.trials));
  if (opt.threads < 0)
    throw invalid_argument("simulate: threads must be >= 0 (0 = all cores), got " + std::to_string(opt.threads));
  Simulation sim;
  sim.program_ = &p;
  sim.node_count_ = d.nodes.size();
  sim.opt_ = opt;
  for (const auto& di : d.dims) {
    Rational w = di.ratio * opt.n;
    if (boost::multiprecision::denominator(w) != 1 || w < 1)
      throw invalid_argument("simulate: width " + di.name + " = " + di.ratio.str() + " n is not a positive integer at n = " +
                             std::to_string(opt.n) + " (" + w.str() + ")");
    sim.widths_.push_back(static_cast<long>(boost::multiprecision::numerator(w)));
  }
  // Memory: matrices of one trial (QR needs two more copies of the largest orthogonal matrix), vectors kept.
  double matrix_bytes = 0, vector_bytes = 0, extra = 0;
  std::string largest;
  double largest_bytes = 0;
  for (const auto& node : d.nodes) {
    if (node.kind == NodeKind::Matrix) {
      const double b = 8.0 * sim.widths_[node.rows] * sim.widths_[node.cols];
      matrix_bytes += b;
      if (node.matrix_kind != MatrixKind::Gaussian) extra = std::max(extra, 2 * b);
      if (b > largest_bytes) {
        largest_bytes = b;
        largest = node.name + " (" + std::to_string(sim.widths_[node.rows]) + " x " +
                  std::to_string(sim.widths_[node.cols]) + ")";
      }
    } else if (node.kind != NodeKind::Moment) {
      vector_bytes += 8.0 * sim.widths_[node.dim];
    }
  }
  const double per_trial = matrix_bytes + extra + vector_bytes;
  const double avail = 0.8 * available_bytes();
  if (per_trial > avail)
    throw invalid_argument("simulate: at n = " + std::to_string(opt.n) + " one trial needs " + gigabytes(per_trial) +
                           " (largest matrix " + largest + ": " + gigabytes(largest_bytes) + ") but only " +
                           gigabytes(avail) + " of memory is available; use a smaller n");
  int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::min(threads, opt.trials);
  while (threads > 1 && threads * per_trial > avail) --threads;
  sim.keep_ = opt.keep_vectors && (threads * per_trial + opt.trials * vector_bytes <= avail);
  sim.threads_used_ = threads;
  return sim;
}

Simulation simulate(const Program& p, const SimulateOptions& opt) {
  Simulation sim = prepare_simulation(p, opt);
  const bool keep = sim.keep_;
  const int threads = sim.threads_used_;
  sim.scalars_.resize(opt.trials);
  if (keep) sim.vectors_.resize(opt.trials);

  std::atomic<int> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (int t; (t = next++) < opt.trials;) {
      try {
        auto tv = sim.run_trial(t);
        sim.scalars_[t] = std::move(tv.scalars);
        if (keep) sim.vectors_[t] = std::move(tv.vectors);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  if (failure) std::rethrow_exception(failure);
  return sim;
}

Stat Simulation::operator[](const Scalar& s) const {
  program_->data().own(s.data(), "Simulation[]", s.data() ? s.name() : "?");
  check_node(s.id(), "Simulation[]");
  if (scalars_.empty()) throw invalid_argument("Simulation[]: no trial has run (prepare_simulation); use run_trial");
  std::vector<double> v(opt_.trials);
  for (int t = 0; t < opt_.trials; ++t) v[t] = scalars_[t][s.id()];
  return detail::checked_stat(std::move(v), "Simulation[]: moment '" + s.name() + "'", opt_.n);
}

Stat Simulation::mean(const VExpr& e) const {
  const auto& d = program_->data();
  if (e.data() && e.data() != &d) throw invalid_program("Simulation::mean: the expression belongs to another program");
  for (auto id : e.expr().leaves(detail::Op::Vec)) check_node(id, "Simulation::mean");
  for (auto id : e.expr().leaves(detail::Op::Sca)) check_node(id, "Simulation::mean");
  const auto dim = e.data() ? d.expr_dim(e.expr(), "Simulation::mean") : -1;
  const long w = dim >= 0 ? widths_[dim] : 1;
  if (scalars_.empty()) throw invalid_argument("Simulation::mean: no trial has run (prepare_simulation); use run_trial");
  std::vector<double> v(opt_.trials);
  for (int t = 0; t < opt_.trials; ++t) {
    TrialValues rerun;
    const std::vector<Eigen::VectorXd>* vecs = nullptr;
    if (!vectors_.empty()) {
      vecs = &vectors_[t];
    } else {
      rerun = run_trial(t);
      vecs = &rerun.vectors;
    }
    Eigen::ArrayXd a = detail::evaluate_array(
        e.expr(), w, [&](std::int32_t ref) -> const Eigen::VectorXd& { return (*vecs)[ref]; },
        [&](std::int32_t ref) { return scalars_[t][ref]; });
    v[t] = a.mean();
  }
  return detail::checked_stat(std::move(v), "Simulation::mean: the expression", opt_.n);
}

Eigen::VectorXd Simulation::vector(const Vector& v, int trial) const {
  program_->data().own(v.data(), "Simulation::vector", v.data() ? v.name() : "?");
  check_node(v.id(), "Simulation::vector");
  if (trial < 0 || trial >= opt_.trials)
    throw invalid_argument("Simulation::vector: trial " + std::to_string(trial) + " is out of range [0, " +
                           std::to_string(opt_.trials) + ")");
  if (!vectors_.empty()) return vectors_[trial][v.id()];
  return run_trial(trial).vectors[v.id()];
}

}  // namespace netsor

// netsor/sim/simulation.hpp — finite-width simulation of a tensor program (shared/API.md, "Finite width").
//
// `simulate(p, {.n, .trials, .seed})` samples every matrix and input of the program at base width n (other
// widths are ratio * n), evaluates every node in double precision with Eigen, and keeps, per trial, every
// Moment and (memory permitting) every vector. Statistics over trials come as `Stat`: mean, standard error,
// samples. Reproducibility: each random object draws from a stream keyed by (seed, trial, node, block), so
// the numbers are bit-identical whatever the thread count.
#pragma once

#include <netsor/program/program.hpp>
#include <netsor/program/word.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace netsor {

struct SimulateOptions {
  long n = 1024;            // base width
  int trials = 16;          // independent samples of the whole program
  std::uint64_t seed = 0;   // the same seed gives the same numbers, whatever `threads`
  int threads = 0;          // 0: all hardware threads
  bool keep_vectors = true; // keep every vector of every trial (else `mean` re-runs the trials)
};

/// A statistic over trials.
struct Stat {
  double mean = 0;
  double error = 0;              // standard error of the mean (NaN with a single trial)
  std::vector<double> samples;   // one value per trial
};
std::ostream& operator<<(std::ostream& os, const Stat& s);
/// Mean and standard error of a list of samples.
Stat make_stat(std::vector<double> samples);
namespace detail {
/// make_stat for a simulated quantity: throws invalid_program naming `what`, the trial and the width `n` when
/// a sample is NaN or infinite (a nonlinearity evaluated outside its domain, or an overflow), instead of
/// returning a mean that is not a number.
Stat checked_stat(std::vector<double> samples, const std::string& what, long n);
}  // namespace detail

class Simulation {
 public:
  /// A Moment's value over trials.
  Stat operator[](const Scalar& s) const;
  /// (1/width) sum_alpha e_alpha, averaged over trials.
  Stat mean(const VExpr& e) const;
  /// The normalized trace (1/n) Tr(w) of a square word, exactly (matrix products; see sim/trace.hpp for the
  /// cost), over trials. Each trial's matrices are regenerated from the seed.
  Stat trace(const Word& w) const;
  /// The value of vector `v` in trial `t`.
  Eigen::VectorXd vector(const Vector& v, int trial) const;

  long n() const { return opt_.n; }
  long width(const Dim& d) const;
  int trials() const { return opt_.trials; }
  const SimulateOptions& options() const { return opt_; }
  /// Threads actually used (fewer than asked when memory is short).
  int threads_used() const { return threads_used_; }
  /// Widths by dim id.
  const std::vector<long>& widths() const { return widths_; }

  struct TrialValues {
    std::vector<Eigen::MatrixXd> matrices;  // by node id (empty for other nodes)
    std::vector<Eigen::VectorXd> vectors;   // by node id
    std::vector<double> scalars;            // by node id
  };
  /// Runs trial `t` from scratch (deterministic) and returns everything it computed.
  TrialValues run_trial(int t) const;

 private:
  friend Simulation simulate(const Program&, const SimulateOptions&);
  friend Simulation prepare_simulation(const Program&, const SimulateOptions&);
  const Program* program_ = nullptr;
  std::size_t node_count_ = 0;
  SimulateOptions opt_;
  int threads_used_ = 1;
  bool keep_ = false;
  std::vector<long> widths_;                             // by dim id
  std::vector<std::vector<double>> scalars_;             // [trial][node id]
  std::vector<std::vector<Eigen::VectorXd>> vectors_;    // [trial][node id], empty when not kept
  void check_node(std::int32_t id, const char* what) const;
};

/// Simulates `p` at finite width. Throws `invalid_argument` for a bad width or when the matrices cannot fit in
/// memory (the message says how much is needed and how much is available).
Simulation simulate(const Program& p, const SimulateOptions& opt = {});
/// Validates widths and memory like `simulate` but runs no trial: `run_trial(t)` then runs trial t on demand
/// (trial t is the same whatever the number of trials). For callers that consume one trial at a time.
Simulation prepare_simulation(const Program& p, const SimulateOptions& opt = {});

}  // namespace netsor

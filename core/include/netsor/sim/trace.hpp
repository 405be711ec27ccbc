// netsor/sim/trace.hpp — exact traces of products of dense and diagonal matrices at finite width.
//
// Tr(B_1 ... B_k) with diagonal factors folded into their dense neighbours and the cyclic property used twice:
// k dense factors cost k - 2 matrix-matrix products (none for k <= 2) plus O(n^2) work. At n = 2048 a product
// takes about 0.15 s on 2 cores with AVX-512 (OpenMP-parallel Eigen), so a word with 3 dense factors costs one.
#pragma once

#include <netsor/program/word.hpp>
#include <netsor/sim/simulation.hpp>

#include <Eigen/Core>

#include <vector>

namespace netsor::detail {

/// A factor of a product: dense (`m`, optionally transposed, possibly owned) or diagonal (`d`).
struct Block {
  const Eigen::MatrixXd* m = nullptr;
  bool transposed = false;
  Eigen::VectorXd d;  // used when m == nullptr
  Eigen::Index rows() const { return m ? (transposed ? m->cols() : m->rows()) : d.size(); }
  Eigen::Index cols() const { return m ? (transposed ? m->rows() : m->cols()) : d.size(); }
};

/// Tr(B_1 B_2 ... B_k) (not normalized). The blocks must chain and the product be square.
double trace_of_product(const std::vector<Block>& blocks);

/// The diagonal of a Diag letter in one trial.
Eigen::VectorXd diag_values(const Letter& l, const Simulation::TrialValues& tv, long width);

/// The blocks of a word in one trial (matrices referenced from `tv`).
std::vector<Block> word_blocks(const Word& w, const Simulation::TrialValues& tv, const std::vector<long>& widths);

/// Dense value of a (short) word in one trial.
Eigen::MatrixXd word_matrix(const Word& w, const Simulation::TrialValues& tv, const std::vector<long>& widths);

}  // namespace netsor::detail

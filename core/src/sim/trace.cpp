// trace.cpp — exact normalized traces of matrix words at finite width (see sim/trace.hpp).
#include <netsor/program/detail/program_data.hpp>
#include <netsor/program/expr_eval.hpp>
#include <netsor/sim/trace.hpp>

namespace netsor::detail {

namespace {

// A dense factor with the diagonal that follows it folded in: (M or M^T) * diag(d).
struct Segment {
  const Eigen::MatrixXd* m;
  bool transposed;
  Eigen::VectorXd d;  // empty: identity
};

Eigen::MatrixXd materialize(const Segment& s) {
  Eigen::MatrixXd r = s.transposed ? Eigen::MatrixXd(s.m->transpose()) : *s.m;
  if (s.d.size()) r = r * s.d.asDiagonal();
  return r;
}

// S_from * ... * S_{to-1}: the first factor materialized, then one matrix product per further factor.
Eigen::MatrixXd product(const std::vector<Segment>& segs, std::size_t from, std::size_t to) {
  Eigen::MatrixXd p = materialize(segs[from]);
  for (std::size_t i = from + 1; i < to; ++i) {
    const auto& s = segs[i];
    Eigen::MatrixXd q;
    if (s.transposed) q.noalias() = p * s.m->transpose();
    else q.noalias() = p * *s.m;
    if (s.d.size()) q = q * s.d.asDiagonal();
    p = std::move(q);
  }
  return p;
}

// Tr(X1 D1 X2 D2) = sum_ij (X1)_ij d1_j (X2)_ji d2_i without forming any product: one lazy pass over n^2.
template <class A, class B>
double trace_pair_lazy(const A& x1, const Eigen::VectorXd& d1, const B& x2t, const Eigen::VectorXd& d2) {
  // x2t is X2 transposed (a lazy view), so (X2)_ji = x2t(i, j).
  if (d1.size() && d2.size())
    return (((x1.array() * x2t.array()).colwise() * d2.array()).rowwise() * d1.transpose().array()).sum();
  if (d1.size()) return ((x1.array() * x2t.array()).rowwise() * d1.transpose().array()).sum();
  if (d2.size()) return ((x1.array() * x2t.array()).colwise() * d2.array()).sum();
  return (x1.array() * x2t.array()).sum();
}

double trace_pair(const Eigen::MatrixXd& m1, bool t1, const Eigen::VectorXd& d1, const Segment& s2) {
  const Eigen::MatrixXd& m2 = *s2.m;
  if (!t1 && !s2.transposed) return trace_pair_lazy(m1, d1, m2.transpose(), s2.d);
  if (!t1 && s2.transposed) return trace_pair_lazy(m1, d1, m2, s2.d);
  if (t1 && !s2.transposed) return trace_pair_lazy(m1.transpose(), d1, m2.transpose(), s2.d);
  return trace_pair_lazy(m1.transpose(), d1, m2, s2.d);
}

}  // namespace

double trace_of_product(const std::vector<Block>& blocks) {
  if (blocks.empty()) return 0;
  // Rotate so that the product starts with a dense block (trace is cyclic).
  std::size_t first = blocks.size();
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (blocks[i].m) {
      first = i;
      break;
    }
  if (first == blocks.size()) {  // all diagonal
    Eigen::ArrayXd p = blocks[0].d.array();
    for (std::size_t i = 1; i < blocks.size(); ++i) p *= blocks[i].d.array();
    return p.sum();
  }
  std::vector<Segment> segs;
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    const Block& b = blocks[(first + k) % blocks.size()];
    if (b.m) {
      segs.push_back({b.m, b.transposed, Eigen::VectorXd()});
    } else if (segs.back().d.size()) {
      segs.back().d = segs.back().d.cwiseProduct(b.d);
    } else {
      segs.back().d = b.d;
    }
  }
  const std::size_t k = segs.size();
  if (k == 1) {
    const auto& s = segs[0];
    Eigen::VectorXd dg = s.m->diagonal();  // the diagonal of M^T is that of M
    return s.d.size() ? dg.dot(s.d) : dg.sum();
  }
  if (k == 2) return trace_pair(*segs[0].m, segs[0].transposed, segs[0].d, segs[1]);
  // k >= 3: P = S_1 ... S_{k-1} (k - 2 products), then Tr(P S_k) lazily.
  const Eigen::MatrixXd p = product(segs, 0, k - 1);
  return trace_pair(p, false, Eigen::VectorXd(), segs[k - 1]);
}

Eigen::VectorXd diag_values(const Letter& l, const Simulation::TrialValues& tv, long width) {
  Eigen::ArrayXd a = evaluate_array(
      l.diag, width, [&](std::int32_t ref) -> const Eigen::VectorXd& { return tv.vectors[ref]; },
      [&](std::int32_t ref) { return tv.scalars[ref]; });
  return a.matrix();
}

std::vector<Block> word_blocks(const Word& w, const Simulation::TrialValues& tv, const std::vector<long>& widths) {
  std::vector<Block> out;
  for (const auto& l : w.letters()) {
    Block b;
    if (l.kind == Letter::Kind::Matrix) {
      b.m = &tv.matrices[l.matrix];
      b.transposed = l.transposed;
    } else {
      b.d = diag_values(l, tv, widths[l.rows]);
    }
    out.push_back(std::move(b));
  }
  return out;
}

Eigen::MatrixXd word_matrix(const Word& w, const Simulation::TrialValues& tv, const std::vector<long>& widths) {
  const auto blocks = word_blocks(w, tv, widths);
  Eigen::MatrixXd p;
  bool started = false;
  for (const auto& b : blocks) {
    if (!started) {
      p = b.m ? (b.transposed ? Eigen::MatrixXd(b.m->transpose()) : *b.m) : Eigen::MatrixXd(b.d.asDiagonal());
      started = true;
      continue;
    }
    if (b.m) {
      Eigen::MatrixXd q;
      if (b.transposed) q.noalias() = p * b.m->transpose();
      else q.noalias() = p * *b.m;
      p = std::move(q);
    } else {
      p = p * b.d.asDiagonal();
    }
  }
  return p;
}

}  // namespace netsor::detail

namespace netsor {

Stat Simulation::trace(const Word& w) const {
  const auto& d = program_->data();
  if (w.empty()) throw invalid_program("Simulation::trace: empty word");
  if (w.data() != &d) throw invalid_program("Simulation::trace: the word " + w.to_string() + " belongs to another program");
  if (!w.square())
    throw invalid_program("Simulation::trace: the word " + w.to_string() + " is " + d.dims[w.letters().front().rows].name +
                          " x " + d.dims[w.letters().back().cols].name + ", not square");
  for (const auto& l : w.letters()) {
    if (l.kind == Letter::Kind::Matrix) check_node(l.matrix, "Simulation::trace");
    for (auto id : l.diag.leaves(detail::Op::Vec)) check_node(id, "Simulation::trace");
  }
  const long n = widths_[w.letters().front().rows];
  std::vector<double> v(opt_.trials);
  for (int t = 0; t < opt_.trials; ++t) {
    const auto tv = run_trial(t);
    v[t] = detail::trace_of_product(detail::word_blocks(w, tv, widths_)) / static_cast<double>(n);
  }
  return detail::checked_stat(std::move(v), "Simulation::trace: the trace of " + w.to_string(), opt_.n);
}

}  // namespace netsor

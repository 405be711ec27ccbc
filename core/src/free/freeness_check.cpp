// freeness_check.cpp — alternating centered words, measured at finite width (see free/freeness_check.hpp).
#include <netsor/free/freeness_check.hpp>
#include <netsor/program/detail/program_data.hpp>
#include <netsor/sim/simulation.hpp>
#include <netsor/sim/trace.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

namespace netsor {

namespace {

using Block = std::vector<int>;  // generator indices of one family

// Alternating words: blocks[0] from A, blocks[1] from B, ... (even count), as generator index lists.
struct AltWord {
  std::vector<Block> blocks;
};

void blocks_up_to(int gens, int maxlen, std::vector<Block>& out) {
  std::vector<Block> frontier{{}};
  for (int len = 1; len <= maxlen; ++len) {
    std::vector<Block> next;
    for (const auto& b : frontier)
      for (int g = 0; g < gens; ++g) {
        Block c = b;
        c.push_back(g);
        next.push_back(c);
      }
    out.insert(out.end(), next.begin(), next.end());
    frontier = std::move(next);
  }
}

std::string block_text(const Block& b, const std::vector<Word>& fam) {
  std::string s;
  for (int g : b) s += (s.empty() ? "" : " ") + fam[g].to_string();
  return s;
}

// The word rotated by `shift` (A, B) pairs.
std::vector<std::vector<int>> key_of(const AltWord& w, int shift) {
  std::vector<std::vector<int>> k;
  const auto m = w.blocks.size();
  for (std::size_t i = 0; i < m; ++i) k.push_back(w.blocks[(i + 2 * shift) % m]);
  return k;
}

// Index of the transpose of each generator within its family (-1 if it is not in the family).
std::vector<int> transposes(const std::vector<Word>& fam) {
  std::vector<int> t(fam.size(), -1);
  for (std::size_t i = 0; i < fam.size(); ++i) {
    const std::string ti = fam[i].T().to_string();
    for (std::size_t j = 0; j < fam.size(); ++j)
      if (fam[j].to_string() == ti) t[i] = static_cast<int>(j);
  }
  return t;
}

// The transposed word (Tr X = Tr X^T), rewritten to start with an A block: blocks reversed, each block's
// generators reversed and transposed. Returns false when a generator's transpose is not in its family.
bool transposed_word(const AltWord& w, const std::vector<int>& ta, const std::vector<int>& tb, AltWord& out) {
  const auto m = w.blocks.size();
  out.blocks.assign(m, {});
  for (std::size_t i = 0; i < m; ++i) {
    // block i (family i % 2) goes to position (m - i) % m, which keeps A blocks at even positions.
    const auto& t = i % 2 ? tb : ta;
    Block b;
    for (auto it = w.blocks[i].rbegin(); it != w.blocks[i].rend(); ++it) {
      if (t[*it] < 0) return false;
      b.push_back(t[*it]);
    }
    out.blocks[(m - i) % m] = std::move(b);
  }
  return true;
}

struct LinearFit {
  double intercept = 0, intercept_error = 0, slope = 0;
};

// Weighted least squares y = a + b x with weights w.
LinearFit wls(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& w) {
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sw += w[i], sx += w[i] * x[i], sy += w[i] * y[i], sxx += w[i] * x[i] * x[i], sxy += w[i] * x[i] * y[i];
  }
  const double det = sw * sxx - sx * sx;
  LinearFit f;
  if (det <= 0) {
    f.intercept = sy / sw;
    f.intercept_error = 1 / std::sqrt(sw);
    return f;
  }
  f.slope = (sw * sxy - sx * sy) / det;
  f.intercept = (sxx * sy - sx * sxy) / det;
  f.intercept_error = std::sqrt(sxx / det);
  return f;
}

}  // namespace

FreenessReport check_freeness(const Program& p, const std::vector<Word>& a, const std::vector<Word>& b,
                              const FreenessOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& d = p.data();
  if (a.empty() || b.empty()) throw invalid_argument("check_freeness: both families need at least one word");
  if (opt.degree < 2) throw invalid_argument("check_freeness: degree must be at least 2, got " + std::to_string(opt.degree));
  if (opt.widths.size() < 2)
    throw invalid_argument("check_freeness: at least two widths are needed to fit a decay, got " +
                           std::to_string(opt.widths.size()));
  if (opt.trials < 2) throw invalid_argument("check_freeness: at least two trials are needed, got " + std::to_string(opt.trials));
  if (opt.max_block < 1) throw invalid_argument("check_freeness: max_block must be at least 1");
  std::int32_t dim = -1;
  for (const auto* fam : {&a, &b})
    for (const auto& w : *fam) {
      if (w.data() != &d) throw invalid_program("check_freeness: the word " + w.to_string() + " belongs to another program");
      if (!w.square()) throw invalid_program("check_freeness: the word " + w.to_string() + " is not square; centered "
                                             "elements need square words (use e.g. W W^T for a rectangular W)");
      if (dim < 0) dim = w.letters().front().rows;
      if (w.letters().front().rows != dim)
        throw invalid_program("check_freeness: the words " + a[0].to_string() + " and " + w.to_string() +
                              " act on different widths");
    }
  // Enumerate alternating words A B A B ... with 2, 4, ... blocks, at most `degree` generators in all.
  std::vector<Block> ablocks, bblocks;
  blocks_up_to(static_cast<int>(a.size()), opt.max_block, ablocks);
  blocks_up_to(static_cast<int>(b.size()), opt.max_block, bblocks);
  std::vector<AltWord> words;
  std::map<std::vector<std::vector<int>>, int> seen;
  const auto ta = transposes(a), tb = transposes(b);
  std::vector<AltWord> partial{{}};
  std::vector<int> partial_len{0};
  while (!partial.empty()) {
    AltWord w = partial.back();
    int len = partial_len.back();
    partial.pop_back();
    partial_len.pop_back();
    for (const auto& ab : ablocks)
      for (const auto& bb : bblocks) {
        const int l2 = len + static_cast<int>(ab.size() + bb.size());
        if (l2 > opt.degree) continue;
        AltWord v = w;
        v.blocks.push_back(ab);
        v.blocks.push_back(bb);
        // keep one representative per class of rotations and transposition
        auto best = key_of(v, 0);
        for (std::size_t s = 1; s < v.blocks.size() / 2; ++s) best = std::min(best, key_of(v, static_cast<int>(s)));
        AltWord vt;
        if (transposed_word(v, ta, tb, vt))
          for (std::size_t s = 0; s < vt.blocks.size() / 2; ++s) best = std::min(best, key_of(vt, static_cast<int>(s)));
        if (!seen.count(best)) {
          seen[best] = 1;
          words.push_back(v);
        }
        partial.push_back(v);
        partial_len.push_back(l2);
      }
  }
  FreenessReport rep;
  rep.options = opt;
  const std::size_t nw = words.size(), nwid = opt.widths.size();
  std::vector<std::vector<std::vector<double>>> values(nw, std::vector<std::vector<double>>(nwid));
  for (std::size_t wi = 0; wi < nwid; ++wi) {
    const long n = opt.widths[wi];
    // Trials run one after the other; the matrix products inside each are parallel (OpenMP).
    Simulation sim = prepare_simulation(p, {.n = n, .trials = opt.trials, .seed = opt.seed, .keep_vectors = false});
    for (int t = 0; t < opt.trials; ++t) {
      const auto tv = sim.run_trial(t);
      const auto& widths = sim.widths();
      const double nn = static_cast<double>(widths[dim]);
      // Centered block values of this trial: computed once, then shared read-only by all words.
      std::map<std::pair<int, Block>, Eigen::MatrixXd> dense;
      std::map<std::pair<int, Block>, detail::Block> centered;
      for (std::size_t k = 0; k < nw; ++k)
        for (std::size_t j = 0; j < words[k].blocks.size(); ++j) {
          const int fam = static_cast<int>(j % 2);
          auto key = std::make_pair(fam, words[k].blocks[j]);
          if (centered.count(key)) continue;
          Word w;
          for (int g : key.second) w = w * (fam == 0 ? a[g] : b[g]);
          bool all_diag = true;
          for (const auto& l : w.letters()) all_diag = all_diag && l.kind == Letter::Kind::Diag;
          detail::Block out;
          if (all_diag) {
            Eigen::VectorXd v = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(nn));
            for (const auto& l : w.letters()) v = v.cwiseProduct(detail::diag_values(l, tv, widths[l.rows]));
            v.array() -= v.mean();
            out.d = std::move(v);
          } else {
            auto& m = dense[key];
            m = detail::word_matrix(w, tv, widths);
            const double tr = m.trace() / nn;
            m.diagonal().array() -= tr;
            out.m = &m;
          }
          centered.emplace(key, std::move(out));
        }
      // Words in parallel; Eigen does not nest its own threads inside an OpenMP region.
      std::vector<double> tr(nw);
#pragma omp parallel for schedule(dynamic)
      for (std::size_t k = 0; k < nw; ++k) {
        std::vector<detail::Block> bl;
        for (std::size_t j = 0; j < words[k].blocks.size(); ++j)
          bl.push_back(centered.at(std::make_pair(static_cast<int>(j % 2), words[k].blocks[j])));
        tr[k] = detail::trace_of_product(bl) / nn;
      }
      for (std::size_t k = 0; k < nw; ++k) values[k][wi].push_back(tr[k]);
    }
    if (opt.progress)
      std::cerr << "[check_freeness] n = " << n << ": " << nw << " words x " << opt.trials << " trials done\n";
  }
  rep.free = true;
  for (std::size_t k = 0; k < nw; ++k) {
    FreenessRow row;
    for (std::size_t j = 0; j < words[k].blocks.size(); ++j)
      row.word += "(" + block_text(words[k].blocks[j], j % 2 ? b : a) + ")";
    std::vector<double> x, y, w, lx, ly, lw;
    for (std::size_t wi = 0; wi < nwid; ++wi) {
      Stat s = make_stat(values[k][wi]);
      double ms = 0;
      for (double v : values[k][wi]) ms += v * v;
      const double rms = std::sqrt(ms / static_cast<double>(values[k][wi].size()));
      row.mean.push_back(s.mean);
      row.error.push_back(s.error);
      row.rms.push_back(rms);
      x.push_back(1.0 / static_cast<double>(opt.widths[wi]));
      y.push_back(s.mean);
      w.push_back(1.0 / std::max(s.error * s.error, 1e-300));
      if (rms > 0) {
        lx.push_back(std::log(static_cast<double>(opt.widths[wi])));
        ly.push_back(std::log(rms));
        lw.push_back(1.0);
      }
    }
    const LinearFit f = wls(x, y, w);
    row.limit = f.intercept;
    row.limit_error = f.intercept_error;
    row.exponent = lx.size() >= 2 ? -wls(lx, ly, lw).slope : INFINITY;
    row.pass = std::abs(row.limit) <= opt.sigmas * row.limit_error && row.exponent >= opt.min_exponent;
    rep.free = rep.free && row.pass;
    rep.rows.push_back(std::move(row));
  }
  std::ostringstream rule;
  rule << "a word passes iff its extrapolated value L (weighted fit mean_n = L + c/n) satisfies |L| <= " << opt.sigmas
       << " stderr(L) and its rms decays at least like n^-" << opt.min_exponent
       << "; the families are free iff all " << nw << " words pass";
  rep.rule = rule.str();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

std::ostream& operator<<(std::ostream& os, const FreenessReport& r) {
  const auto flags = os.flags();
  const auto prec = os.precision();
  std::size_t wlen = 4;
  for (const auto& row : r.rows) wlen = std::max(wlen, row.word.size());
  os << std::left << std::setw(static_cast<int>(wlen)) << "word";
  for (long n : r.options.widths) os << "  " << std::setw(22) << ("n=" + std::to_string(n));
  os << "  " << std::setw(8) << "alpha" << "  " << std::setw(22) << "limit" << "  verdict\n";
  for (const auto& row : r.rows) {
    os << std::left << std::setw(static_cast<int>(wlen)) << row.word;
    for (std::size_t i = 0; i < row.mean.size(); ++i) {
      std::ostringstream c;
      c << std::setprecision(3) << std::scientific << row.mean[i] << " ± " << std::setprecision(1) << row.error[i];
      os << "  " << std::setw(22) << c.str();
    }
    std::ostringstream a, l;
    a << std::fixed << std::setprecision(2) << row.exponent;
    l << std::setprecision(2) << std::scientific << row.limit << " ± " << std::setprecision(1) << row.limit_error;
    os << "  " << std::setw(8) << a.str() << "  " << std::setw(22) << l.str() << "  " << (row.pass ? "pass" : "FAIL") << '\n';
  }
  os << "rule: " << r.rule << '\n';
  os << "verdict: " << (r.free ? "asymptotically free" : "NOT free") << "  (" << r.options.trials << " trials, seed "
     << r.options.seed << ", " << std::fixed << std::setprecision(1) << r.seconds << " s)\n";
  os.flags(flags);
  os.precision(prec);
  return os;
}

}  // namespace netsor

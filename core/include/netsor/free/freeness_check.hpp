// netsor/free/freeness_check.hpp — the numerical test of asymptotic freeness (shared/MATH.md, "Freeness").
//
// Two families A and B of square words are asymptotically free when every alternating product of centered
// elements, tau_n((a_1 - tau_n a_1)(b_1 - tau_n b_1)(a_2 - tau_n a_2)...), tends to 0. `check_freeness`
// enumerates such words up to a degree, measures them exactly (matrix products) over seeded trials at a ladder
// of widths, fits (i) the extrapolated infinite-width value L by weighted least squares on mean_n = L + c/n and
// (ii) the decay exponent alpha of the root-mean-square value, rms_n ~ n^-alpha, and applies the printed rule:
//     a word passes  iff  |L| <= sigmas * stderr(L)  and  alpha >= min_exponent;
//     the families are free iff every word passes.
// Used for the Free Independence Principle (Yang, Tensor Programs III, Thm 4.2) and for Haar orthogonal MLPs
// (Hayase & Collins, "Asymptotic freeness of layerwise Jacobians", 2021).
#pragma once

#include <netsor/program/word.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace netsor {

struct FreenessOptions {
  int degree = 6;                                 // most letters (generators) in an alternating word
  std::vector<long> widths = {256, 512, 1024};    // base widths n, increasing
  int trials = 8;
  std::uint64_t seed = 1;
  int max_block = 2;        // most generators in one centered block a_i or b_i (bounds the cost)
  double sigmas = 4;        // |L| must be within this many standard errors of 0
  double min_exponent = 0.5;  // rms must decay at least like n^-min_exponent
  bool progress = false;    // one line per width on stderr
};

struct FreenessRow {
  std::string word;               // e.g. "(W)(diag(h))(W^T)(diag(y))", each factor centered
  std::vector<double> mean;       // per width, over trials
  std::vector<double> error;      // standard error per width
  std::vector<double> rms;        // root mean square per width
  double exponent = 0;            // fitted alpha in rms ~ n^-alpha
  double limit = 0;               // extrapolated value at n = infinity
  double limit_error = 0;         // its standard error
  bool pass = false;
};

struct FreenessReport {
  bool free = false;
  std::vector<FreenessRow> rows;
  FreenessOptions options;
  std::string rule;               // the decision rule, in words, with the numbers used
  double seconds = 0;
};

std::ostream& operator<<(std::ostream& os, const FreenessReport& r);

/// Tests whether the families `a` and `b` of square words of `p` are asymptotically free.
FreenessReport check_freeness(const Program& p, const std::vector<Word>& a, const std::vector<Word>& b,
                              const FreenessOptions& opt = {});

}  // namespace netsor

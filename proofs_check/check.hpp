// proofs_check/check.hpp — the theorem checks behind `netsor check` (shared/API.md, "Command line").
//
// One file per theorem. Each check states the result in words and cites it, computes the infinite-width side
// (the limit evaluator, free probability, closed laws) and the finite-width side (seeded simulation over a
// ladder of widths) by independent routes, and applies a decision rule that it prints. The rules are
// deliberately two-sided statistical tests: a wrong limit, or a dependence that breaks the freeness a theorem
// asserts, flips the verdict (tests/checks/ injects both). A check that cannot fail is a defect.
#pragma once

#include <netsor/free/freeness_check.hpp>
#include <netsor/limit.hpp>
#include <netsor/numbers.hpp>
#include <netsor/sim.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace netsor::checks {

/// What a test may break on purpose to see a verdict flip.
enum class Inject {
  none,
  wrong_limit,  // the infinite-width side is 10% off (laws: variance 1.1 instead of 1)
  dependence,   // the families tested for freeness (or independence) share a dependence the theorem excludes
};

struct Options {
  std::vector<long> widths = {256, 512, 1024, 2048};  // base widths n, increasing
  int trials = 16;                                    // seeded trials per width
  std::uint64_t seed = 2026;
  unsigned digits = 30;                               // digits of the infinite-width side
  /// Receives one line per step of a long run ("semicircle: n = 1024, 16 trials"); may be empty.
  std::function<void(const std::string&)> progress;
  Inject inject = Inject::none;
};

/// The default rule for a quantity compared over the width ladder (printed by every check that uses it).
struct LadderRule {
  double sigmas = 4;          // |L - limit| <= sigmas * stderr(L), L extrapolated to n = infinity
  double rate = -0.5;          // the expected decay of the rms error over trials, n^rate
  double slope_sigmas = 3;     // the fitted exponent a passes iff a <= rate + slope_sigmas * se(a)
  std::string text() const;
};

/// One quantity: its limit and its simulated value at each width.
struct Ladder {
  std::string quantity;
  std::string limit_text;             // the limit as printed (exact rational, or its certified digits)
  double limit = 0;
  std::optional<Rational> exact;      // when the limit is exactly this rational
  std::vector<long> widths;
  std::vector<double> mean, error;    // over trials, per width
  std::vector<double> rms;            // sqrt(mean over trials of (sample - limit)^2), per width
  double exponent = std::numeric_limits<double>::quiet_NaN();  // fitted a in rms ~ n^a
  double max_exponent = 0;  // the largest exponent the rule accepts with this ladder and this many trials
  double extrapolated = 0, extrapolated_error = 0;  // L and its stderr from mean_n = L + c/n
  double z = 0;                       // |L - limit| / stderr(L)
  bool pass = false;
  std::string why;                    // the failing part of the rule, when it fails
};

/// Compares per-width samples with a limit by `rule`; `samples[i]` are the trial values at `widths[i]`.
Ladder compare_ladder(std::string quantity, double limit, std::string limit_text,
                      const std::vector<long>& widths, const std::vector<std::vector<double>>& samples,
                      const LadderRule& rule = {});

/// A free-form table (freeness words, spectral distances, ...).
struct Table {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

/// A plot, drawn by gnuplot into the HTML report.
struct Series {
  std::string title;
  enum class Style { lines, points, errorbars, steps, boxes } style = Style::lines;
  std::vector<double> x, y, err;  // err only for errorbars
};
struct Figure {
  std::string name;               // file stem, unique within a check
  std::string title, xlabel, ylabel;
  bool logx = false, logy = false;
  std::vector<Series> series;
};

struct Result {
  std::string name, title;
  std::string statement;  // the theorem in words
  std::string citation;   // paper, theorem or equation
  std::string rule;       // the decision rule, with its numbers
  std::vector<Ladder> ladders;
  std::vector<Table> tables;
  std::vector<Figure> figures;
  std::vector<std::string> failures;  // one line per failed part of the rule
  nlohmann::json extra;               // check-specific machine-readable data
  bool pass = false;
  double seconds = 0;
};

struct Check {
  std::string name;
  std::string title;
  std::function<Result(const Options&)> run;
};

/// Every check, in the order `netsor check list` prints them.
const std::vector<Check>& all_checks();
/// Runs the named check; throws `invalid_argument` listing the known names for an unknown one.
/// Throws invalid_argument naming the first bad option (widths not increasing or below 8, fewer than 2 trials,
/// digits outside [15, 1000]).
void validate(const Options& opt);
Result run_check(const std::string& name, const Options& opt);

// ------------------------------------------------------------------------------------------- helpers
/// The infinite-width value a check compares with: `limit`, or, under Inject::wrong_limit, limit * 1.1
/// (limit + 0.1 when it is 0).
double injected(double limit, const Options& opt);

/// Simulates `p` at every width of `opt` and compares each Moment of `moments` with its limit from `lim`
/// (`label` prefixes progress lines). `per_width`, when set, sees each width's simulation (for histograms).
std::vector<Ladder> compare_moments(const Program& p, const std::vector<Scalar>& moments, const Limit& lim,
                                    const Options& opt, const std::string& label,
                                    const std::function<void(long, const Simulation&)>& per_width = {},
                                    const LadderRule& rule = {});
/// Like compare_moments for normalized traces of square words: lim.trace(w) against sim.trace(w).
std::vector<Ladder> compare_traces(const Program& p, const std::vector<std::pair<std::string, Word>>& words,
                                   const Limit& lim, const Options& opt, const std::vector<long>& widths,
                                   const std::string& label, const LadderRule& rule = {});
/// The widths of `opt` up to `cap` (at least the two smallest): dense-product checks are O(n^3) per trial.
std::vector<long> capped_widths(const Options& opt, long cap);
/// Adds a freeness report to `r`: its table, its rule, a failure line per failing word, its JSON.
void add_freeness(Result& r, const FreenessReport& rep, const std::string& title);
/// The limit as printed: the exact rational, or `digits` significant digits of the value.
std::string limit_text(const Estimate& e, unsigned digits);
/// Least-squares slope of log y against log x (NaN when fewer than two positive points).
double loglog_slope(const std::vector<double>& x, const std::vector<double>& y);
/// Kolmogorov distance sup_x |F_n(x) - F(x)| between the empirical law of `samples` and a law given by its
/// right-continuous CDF, with at most one atom (`atom_mass` at `atom_at`). Values within `atom_tolerance` of
/// the atom are snapped to it (rounding of zero eigenvalues).
double kolmogorov_distance(std::vector<double> samples, const std::function<double(double)>& cdf,
                           double atom_at = 0, double atom_mass = 0, double atom_tolerance = 1e-9);
/// CDF of a continuous density on [a, b] with square-root edges (x = a + (b - a)(1 - cos t)/2, Simpson in t),
/// tabulated once and interpolated; plus an atom of mass `atom` at `atom_at` (included for x >= atom_at).
std::function<double(double)> cdf_from_density(const std::function<double(double)>& density, double a,
                                               double b, double atom = 0, double atom_at = 0);
/// A histogram of `samples` on [lo, hi] with `bins` bins, normalized as a density (boxes style).
Series histogram(const std::vector<double>& samples, double lo, double hi, int bins, std::string title);
/// Formats a double with `digits` significant digits.
std::string fmt_double(double x, int digits = 10);
/// "mean ± error" with the mean rounded to the error's second significant digit.
std::string fmt_pm(double mean, double error);
/// Runs `opt.progress` if set.
void progress(const Options& opt, const std::string& line);
/// Appends ladders' failures to r.failures and sets r.pass (all ladders pass and no other failure).
void finish(Result& r);
/// The JSON of a result (every number of its tables, plus options).
nlohmann::json to_json(const Result& r);

// The checks (one per file in proofs_check/).
Result check_semicircle(const Options&);
Result check_marchenko_pastur(const Options&);
Result check_master_theorem(const Options&);
Result check_fip_gaussian(const Options&);
Result check_fip_orthogonal(const Options&);
Result check_gradient_independence(const Options&);
Result check_jacobian_spectrum(const Options&);

}  // namespace netsor::checks

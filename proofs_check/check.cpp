// proofs_check/check.cpp — the registry and the shared statistics of the theorem checks.
#include "check.hpp"

#include <netsor/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace netsor::checks {

const std::vector<Check>& all_checks() {
  static const std::vector<Check> checks = {
      {"semicircle", "Wigner matrices: Catalan moments and the semicircle law", check_semicircle},
      {"marchenko-pastur", "X^T X: Narayana moments and the Marchenko-Pastur law", check_marchenko_pastur},
      {"master-theorem", "The Master Theorem on the program catalogue", check_master_theorem},
      {"fip-gaussian", "Free Independence Principle, Gaussian weights", check_fip_gaussian},
      {"fip-orthogonal", "Asymptotic freeness of layerwise Jacobians, Haar orthogonal weights",
       check_fip_orthogonal},
      {"gradient-independence", "Gradient independence: true W^T versus an independent copy",
       check_gradient_independence},
      {"jacobian-spectrum", "Jacobian spectra of deep networks: free multiplicative convolution of the layers",
       check_jacobian_spectrum},
  };
  return checks;
}

void validate(const Options& opt) {
  if (opt.widths.size() < 2)
    throw invalid_argument("check: at least two widths are needed, got " + std::to_string(opt.widths.size()));
  for (std::size_t i = 0; i < opt.widths.size(); ++i) {
    if (opt.widths[i] < 8) throw invalid_argument("check: width " + std::to_string(opt.widths[i]) + " is below 8");
    if (i > 0 && opt.widths[i] <= opt.widths[i - 1])
      throw invalid_argument("check: widths must increase, got " + std::to_string(opt.widths[i - 1]) + " then " +
                             std::to_string(opt.widths[i]));
  }
  if (opt.trials < 2)
    throw invalid_argument("check: at least 2 trials are needed for error bars, got " + std::to_string(opt.trials));
  if (opt.digits < 15 || opt.digits > 1000)
    throw invalid_argument("check: digits must be in [15, 1000], got " + std::to_string(opt.digits));
}

Result run_check(const std::string& name, const Options& opt) {
  for (const Check& c : all_checks()) {
    if (c.name != name) continue;
    validate(opt);
    const auto t0 = std::chrono::steady_clock::now();
    Result r = c.run(opt);
    r.name = c.name;
    r.title = c.title;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  std::string known;
  for (const Check& c : all_checks()) known += (known.empty() ? "" : ", ") + c.name;
  throw invalid_argument("unknown check '" + name + "'; the checks are: " + known);
}

std::string LadderRule::text() const {
  return fmt::format("a quantity passes iff its extrapolated value L (weighted least squares on mean_n = L + c/n "
                     "over the width ladder; with two widths, the largest width's mean) is within {} standard errors "
                     "of the limit, and the fitted exponent a of its rms error over trials (rms ~ n^a) satisfies a <= {} + "
                     "{} se(a), where se(a) = 1 / sqrt(2 trials sum_i (log n_i - mean log n)^2) is the sampling "
                     "error of the slope of log rms (quantities exact at every width pass the decay test)",
                     sigmas, rate, slope_sigmas);
}

double loglog_slope(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int k = 0;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (!(x[i] > 0) || !(y[i] > 0) || !std::isfinite(y[i])) continue;
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly, ++k;
  }
  if (k < 2) return std::numeric_limits<double>::quiet_NaN();
  const double d = k * sxx - sx * sx;
  return d == 0 ? std::numeric_limits<double>::quiet_NaN() : (k * sxy - sx * sy) / d;
}

Ladder compare_ladder(std::string quantity, double limit, std::string limit_text, const std::vector<long>& widths,
                      const std::vector<std::vector<double>>& samples, const LadderRule& rule) {
  Ladder l;
  l.quantity = std::move(quantity);
  l.limit = limit;
  l.limit_text = std::move(limit_text);
  l.widths = widths;
  bool exact_everywhere = true;
  for (const auto& s : samples) {
    double m = 0, sq = 0;
    for (double v : s) m += v;
    m /= static_cast<double>(s.size());
    double var = 0;
    for (double v : s) var += (v - m) * (v - m), sq += (v - limit) * (v - limit);
    var /= static_cast<double>(s.size() - 1);
    l.mean.push_back(m);
    l.error.push_back(std::sqrt(var / static_cast<double>(s.size())));
    l.rms.push_back(std::sqrt(sq / static_cast<double>(s.size())));
    if (l.rms.back() > 1e-10 * std::max(1.0, std::abs(limit))) exact_everywhere = false;
  }
  std::vector<double> w(widths.begin(), widths.end());
  l.exponent = loglog_slope(w, l.rms);
  // log rms from t trials has a sampling standard deviation of about 1/sqrt(2 t); propagate it to the slope.
  double mean_log = 0, sxx = 0;
  std::size_t trials = samples.empty() ? 0 : samples.front().size();
  for (const auto& s : samples) trials = std::min(trials, s.size());
  for (double x : w) mean_log += std::log(x) / static_cast<double>(w.size());
  for (double x : w) sxx += (std::log(x) - mean_log) * (std::log(x) - mean_log);
  l.max_exponent = rule.rate + rule.slope_sigmas / std::sqrt(2.0 * static_cast<double>(trials) * sxx);
  // The n = infinity value: weighted least squares on mean_n = L + c/n (finite-width bias is O(1/n)).
  double s00 = 0, s01 = 0, s11 = 0, b0 = 0, b1 = 0;
  bool weighted = true;
  for (std::size_t i = 0; i < w.size(); ++i) weighted &= l.error[i] > 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double wt = weighted ? 1 / (l.error[i] * l.error[i]) : 1.0, x = 1 / w[i];
    s00 += wt, s01 += wt * x, s11 += wt * x * x, b0 += wt * l.mean[i], b1 += wt * x * l.mean[i];
  }
  const double det = s00 * s11 - s01 * s01;
  if (weighted && det > 0 && w.size() >= 3) {
    l.extrapolated = (s11 * b0 - s01 * b1) / det;
    l.extrapolated_error = std::sqrt(s11 / det);
  } else {
    l.extrapolated = l.mean.back();
    l.extrapolated_error = l.error.back();
  }
  const double diff = std::abs(l.extrapolated - limit), se = l.extrapolated_error;
  l.z = se > 0 ? diff / se : (diff > 1e-10 * std::max(1.0, std::abs(limit)) ? INFINITY : 0);
  const bool z_ok = l.z <= rule.sigmas;
  const bool decay_ok = exact_everywhere || (std::isfinite(l.exponent) && l.exponent <= l.max_exponent);
  l.pass = z_ok && decay_ok;
  if (!z_ok)
    l.why = fmt::format("{}: the extrapolated value {} is {:.1f} standard errors from the limit {}", l.quantity,
                        fmt_pm(l.extrapolated, se), l.z, l.limit_text);
  else if (!decay_ok)
    l.why = fmt::format("{}: the rms error does not decay like n^{} (fitted exponent {:.2f} > {:.2f})", l.quantity,
                        rule.rate, l.exponent, l.max_exponent);
  return l;
}

double kolmogorov_distance(std::vector<double> samples, const std::function<double(double)>& cdf, double atom_at,
                           double atom_mass, double atom_tolerance) {
  if (samples.empty()) return 1;
  if (atom_mass > 0)
    for (double& s : samples)
      if (std::abs(s - atom_at) <= atom_tolerance) s = atom_at;
  // F(x-) = F(x) except at the atom.
  const auto cdf_left = [&](double x) { return x == atom_at ? cdf(x) - atom_mass : cdf(x); };
  std::sort(samples.begin(), samples.end());
  const double n = static_cast<double>(samples.size());
  double d = 0;
  for (std::size_t i = 0; i < samples.size();) {
    // A group of equal values [i, j): the empirical CDF is j/n at the value and i/n just left of it.
    std::size_t j = i + 1;
    while (j < samples.size() && samples[j] == samples[i]) ++j;
    d = std::max(d, std::abs(static_cast<double>(j) / n - cdf(samples[i])));
    d = std::max(d, std::abs(static_cast<double>(i) / n - cdf_left(samples[i])));
    i = j;
  }
  return d;
}

std::function<double(double)> cdf_from_density(const std::function<double(double)>& density, double a, double b,
                                                double atom, double atom_at) {
  // Cumulative mass on a uniform grid in t, x(t) = a + (b - a)(1 - cos t)/2: the square-root edges become smooth.
  constexpr int m = 4096;
  std::vector<double> xs(m + 1), cum(m + 1, 0.0);
  auto integrand = [&](double t) {
    const double x = a + (b - a) * (1 - std::cos(t)) / 2;
    return density(x) * (b - a) * std::sin(t) / 2;
  };
  const double h = M_PI / m;
  for (int i = 0; i <= m; ++i) xs[i] = a + (b - a) * (1 - std::cos(i * h)) / 2;
  for (int i = 1; i <= m; ++i) {
    const double t0 = (i - 1) * h, t1 = i * h;
    cum[i] = cum[i - 1] + (h / 6) * (integrand(t0) + 4 * integrand((t0 + t1) / 2) + integrand(t1));
  }
  const double total = cum[m];
  return [xs = std::move(xs), cum = std::move(cum), total, atom, atom_at, a, b](double x) {
    const double jump = x >= atom_at ? atom : 0.0;
    if (x <= a) return jump;
    if (x >= b) return jump + total;
    const auto it = std::upper_bound(xs.begin(), xs.end(), x);
    const std::size_t i = static_cast<std::size_t>(it - xs.begin());
    const double f = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
    return jump + cum[i - 1] + f * (cum[i] - cum[i - 1]);
  };
}

Series histogram(const std::vector<double>& samples, double lo, double hi, int bins, std::string title) {
  Series s;
  s.title = std::move(title);
  s.style = Series::Style::boxes;
  std::vector<double> count(static_cast<std::size_t>(bins), 0.0);
  const double w = (hi - lo) / bins;
  for (double v : samples) {
    const int i = static_cast<int>(std::floor((v - lo) / w));
    if (i >= 0 && i < bins) count[static_cast<std::size_t>(i)] += 1;
  }
  for (int i = 0; i < bins; ++i) {
    s.x.push_back(lo + (i + 0.5) * w);
    s.y.push_back(count[static_cast<std::size_t>(i)] / (static_cast<double>(samples.size()) * w));
  }
  return s;
}

double injected(double limit, const Options& opt) {
  if (opt.inject != Inject::wrong_limit) return limit;
  return limit == 0 ? 0.1 : limit * 1.1;
}

std::string limit_text(const Estimate& e, unsigned digits) {
  if (e.exact) return to_string(*e.exact);
  return to_string(e.value, std::min(digits, e.digits));
}

std::vector<Ladder> compare_moments(const Program& p, const std::vector<Scalar>& moments, const Limit& lim,
                                    const Options& opt, const std::string& label,
                                    const std::function<void(long, const Simulation&)>& per_width,
                                    const LadderRule& rule) {
  // samples[moment][width][trial]
  std::vector<std::vector<std::vector<double>>> samples(moments.size());
  for (long n : opt.widths) {
    progress(opt, fmt::format("{}: simulating n = {}, {} trials", label, n, opt.trials));
    Simulation sim = simulate(p, {.n = n, .trials = opt.trials, .seed = opt.seed, .keep_vectors = false});
    for (std::size_t i = 0; i < moments.size(); ++i) samples[i].push_back(sim[moments[i]].samples);
    if (per_width) per_width(n, sim);
  }
  std::vector<Ladder> out;
  for (std::size_t i = 0; i < moments.size(); ++i) {
    const Estimate e = lim[moments[i]];
    const double value = injected(static_cast<double>(e.value), opt);
    std::string text = opt.inject == Inject::wrong_limit ? fmt_double(value, 17) + " (injected)" : limit_text(e, opt.digits);
    Ladder l = compare_ladder(label + ": " + moments[i].name(), value, std::move(text), opt.widths, samples[i], rule);
    if (e.exact && opt.inject != Inject::wrong_limit) l.exact = e.exact;
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<Ladder> compare_traces(const Program& p, const std::vector<std::pair<std::string, Word>>& words,
                                   const Limit& lim, const Options& opt, const std::vector<long>& widths,
                                   const std::string& label, const LadderRule& rule) {
  std::vector<std::vector<std::vector<double>>> samples(words.size());
  for (long n : widths) {
    progress(opt, fmt::format("{}: traces at n = {}, {} trials", label, n, opt.trials));
    Simulation sim = prepare_simulation(p, {.n = n, .trials = opt.trials, .seed = opt.seed, .keep_vectors = false});
    for (std::size_t i = 0; i < words.size(); ++i) samples[i].push_back(sim.trace(words[i].second).samples);
  }
  std::vector<Ladder> out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    progress(opt, fmt::format("{}: free-probability limit of {}", label, words[i].first));
    const Estimate e = lim.trace(words[i].second);
    const double value = injected(static_cast<double>(e.value), opt);
    std::string text = opt.inject == Inject::wrong_limit ? fmt_double(value, 17) + " (injected)" : limit_text(e, opt.digits);
    Ladder l = compare_ladder(label + ": " + words[i].first, value, std::move(text), widths, samples[i], rule);
    if (e.exact && opt.inject != Inject::wrong_limit) l.exact = e.exact;
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<long> capped_widths(const Options& opt, long cap) {
  std::vector<long> w;
  for (long n : opt.widths)
    if (n <= cap || w.size() < 2) w.push_back(n);
  return w;
}

void add_freeness(Result& r, const FreenessReport& rep, const std::string& title) {
  Table t{title, {"alternating centered word"}, {}};
  for (long n : rep.options.widths) t.header.push_back("n = " + std::to_string(n));
  t.header.insert(t.header.end(), {"rms exponent", "extrapolated limit", "verdict"});
  nlohmann::json rows = nlohmann::json::array();
  for (const FreenessRow& row : rep.rows) {
    std::vector<std::string> cells{row.word};
    for (std::size_t i = 0; i < row.mean.size(); ++i)
      cells.push_back(fmt::format("{:.2e} +- {:.1e}", row.mean[i], row.error[i]));
    cells.push_back(fmt::format("{:.2f}", row.exponent));
    cells.push_back(fmt::format("{:.2e} +- {:.1e}", row.limit, row.limit_error));
    cells.push_back(row.pass ? "pass" : "FAIL");
    t.rows.push_back(std::move(cells));
    rows.push_back({{"word", row.word}, {"mean", row.mean}, {"stderr", row.error}, {"rms", row.rms},
                    {"exponent", row.exponent}, {"limit", row.limit}, {"limit_stderr", row.limit_error},
                    {"pass", row.pass}});
    if (!row.pass)
      r.failures.push_back(fmt::format("{}: word {} does not vanish (extrapolated {:.2e} +- {:.1e}, rms exponent "
                                       "{:.2f})",
                                       title, row.word, row.limit, row.limit_error, row.exponent));
  }
  r.tables.push_back(std::move(t));
  r.extra["freeness"].push_back({{"title", title}, {"free", rep.free}, {"rule", rep.rule},
                                 {"widths", rep.options.widths}, {"trials", rep.options.trials},
                                 {"seed", rep.options.seed}, {"words", rows}});
  // The rms of the words against n, a few of them, with a n^-1 guide (alternating words decay like 1/n).
  Figure f{"freeness-" + std::to_string(r.figures.size()), title + ": rms of alternating centered words", "width n",
           "rms over trials", true, true, {}};
  double top = 0;
  for (std::size_t i = 0; i < rep.rows.size() && i < 10; ++i) {
    const FreenessRow& row = rep.rows[i];
    for (double v : row.rms) top = std::max(top, v);
    f.series.push_back({row.word, Series::Style::points,
                        {rep.options.widths.begin(), rep.options.widths.end()}, row.rms, {}});
  }
  if (top > 0) {
    Series guide{"n^-1", Series::Style::lines, {}, {}, {}};
    for (long n : rep.options.widths) {
      guide.x.push_back(static_cast<double>(n));
      guide.y.push_back(top * static_cast<double>(rep.options.widths.front()) / static_cast<double>(n));
    }
    f.series.push_back(std::move(guide));
  }
  r.figures.push_back(std::move(f));
}

std::string fmt_double(double x, int digits) { return fmt::format("{:.{}g}", x, digits); }

std::string fmt_pm(double mean, double error) {
  if (!(error > 0) || !std::isfinite(error)) return fmt_double(mean, 10) + " ± " + fmt_double(error, 2);
  // Decimal places that show two significant digits of the error.
  const int places = std::max(0, 1 - static_cast<int>(std::floor(std::log10(error))));
  if (places > 8 || std::abs(mean) >= 1e6) return fmt::format("{:.3e} ± {:.1e}", mean, error);
  return fmt::format("{:.{}f} ± {:.{}f}", mean, places, error, places);
}

void progress(const Options& opt, const std::string& line) {
  if (opt.progress) opt.progress(line);
}

void finish(Result& r) {
  for (const Ladder& l : r.ladders)
    if (!l.pass) r.failures.push_back(l.why);
  r.pass = r.failures.empty();
}

nlohmann::json to_json(const Result& r) {
  using nlohmann::json;
  json j;
  j["name"] = r.name;
  j["title"] = r.title;
  j["statement"] = r.statement;
  j["citation"] = r.citation;
  j["rule"] = r.rule;
  j["pass"] = r.pass;
  j["seconds"] = r.seconds;
  j["failures"] = r.failures;
  json ls = json::array();
  for (const Ladder& l : r.ladders) {
    json x;
    x["quantity"] = l.quantity;
    x["limit"] = l.limit_text;
    x["limit_double"] = l.limit;
    if (l.exact) x["limit_exact"] = to_string(*l.exact);
    x["widths"] = l.widths;
    x["mean"] = l.mean;
    x["stderr"] = l.error;
    x["rms_error"] = l.rms;
    x["fitted_exponent"] = std::isfinite(l.exponent) ? json(l.exponent) : json(nullptr);
    x["max_exponent"] = l.max_exponent;
    x["extrapolated"] = l.extrapolated;
    x["extrapolated_stderr"] = l.extrapolated_error;
    x["z"] = std::isfinite(l.z) ? json(l.z) : json(nullptr);
    x["pass"] = l.pass;
    ls.push_back(std::move(x));
  }
  j["quantities"] = std::move(ls);
  json ts = json::array();
  for (const Table& t : r.tables) ts.push_back({{"title", t.title}, {"header", t.header}, {"rows", t.rows}});
  j["tables"] = std::move(ts);
  if (!r.extra.is_null()) j["data"] = r.extra;
  return j;
}

}  // namespace netsor::checks

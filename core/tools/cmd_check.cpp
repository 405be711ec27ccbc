// core/tools/cmd_check.cpp — `netsor check list | run NAME... | all`: the theorem checks of proofs_check/, a
// console table, `--json FILE` (every number shown, with the options and seed) and `--report DIR` (an HTML page
// with the tables and gnuplot SVG figures).
#include "commands.hpp"

#include <check.hpp>

#include <netsor/errors.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <unistd.h>

namespace netsor::cli {

namespace {

namespace fs = std::filesystem;
using checks::Figure;
using checks::Ladder;
using checks::Result;
using checks::Series;
using checks::Table;

struct CheckArgs {
  std::vector<std::string> names;
  std::string widths = "256,512,1024,2048";
  int trials = 16;
  std::uint64_t seed = 2026;
  unsigned digits = 30;
  std::string json, report;
  bool quiet = false;
};

std::vector<long> parse_widths(const std::string& s) {
  std::vector<long> w;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      w.push_back(v);
    } catch (const std::exception&) {
      throw invalid_argument("--widths: '" + item + "' is not an integer width (expected e.g. 256,512,1024)");
    }
  }
  return w;
}

// ------------------------------------------------------------------------------------------ console

// Display width of UTF-8 text (continuation bytes do not count).
std::size_t display_width(const std::string& s) {
  std::size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

void print_table(std::ostream& os, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(header.size(), 0);
  auto widen = [&](const std::vector<std::string>& r) {
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], display_width(r[i]));
  };
  widen(header);
  for (const auto& r : rows) widen(r);
  auto line = [&](const std::vector<std::string>& r) {
    os << "  ";
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i)
      os << r[i] << std::string(w[i] - display_width(r[i]) + 2, ' ');
    os << '\n';
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string shorten(const std::string& s, std::size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }

std::vector<std::string> ladder_header(const Result& r) {
  std::vector<std::string> h{"quantity", "limit"};
  if (!r.ladders.empty())
    for (long n : r.ladders.front().widths) h.push_back("n = " + std::to_string(n));
  h.insert(h.end(), {"extrapolated", "rate", "z", "verdict"});
  return h;
}

std::vector<std::string> ladder_row(const Ladder& l, bool full) {
  std::vector<std::string> row{l.quantity, full ? l.limit_text : shorten(l.limit_text, 16)};
  for (std::size_t i = 0; i < l.mean.size(); ++i)
    row.push_back(checks::fmt_pm(l.mean[i], l.error[i]));
  row.push_back(checks::fmt_pm(l.extrapolated, l.extrapolated_error));
  row.push_back(std::isfinite(l.exponent) ? fmt::format("{:.2f}", l.exponent) : "exact");
  row.push_back(std::isfinite(l.z) ? fmt::format("{:.1f}", l.z) : "inf");
  row.push_back(l.pass ? "pass" : "FAIL");
  return row;
}

void print_result(std::ostream& os, const Result& r) {
  os << "\n== " << r.name << " — " << r.title << "\n";
  os << "   " << r.citation << "\n";
  if (!r.ladders.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const Ladder& l : r.ladders) rows.push_back(ladder_row(l, false));
    print_table(os, ladder_header(r), rows);
  }
  for (const Table& t : r.tables) {
    os << "  " << t.title << ":\n";
    print_table(os, t.header, t.rows);
  }
  for (const std::string& f : r.failures) os << "  FAILED: " << f << '\n';
  os << "  rule: " << r.rule << '\n';
  os << fmt::format("  verdict: {}  ({:.1f} s)\n", r.pass ? "PASS" : "FAIL", r.seconds);
}

// --------------------------------------------------------------------------------------- report
std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string gp_escape(std::string s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

// Writes DIR/name.gp and runs gnuplot to produce DIR/name.svg; returns false (with a reason) on failure.
bool draw(const Figure& f, const fs::path& dir, std::string& why) {
  const fs::path gp = dir / (f.name + ".gp"), svg = dir / (f.name + ".svg");
  std::ofstream out(gp);
  std::size_t long_entries = 0;
  for (const Series& s : f.series) long_entries += s.title.size() > 45;
  out << "set terminal svg size 760," << 480 + 16 * (long_entries > 0 ? f.series.size() : 0)
      << " dynamic font 'Helvetica,12' background rgb 'white'\n";
  out << "set output \"" << gp_escape(svg.string()) << "\"\n";
  out << "set title \"" << gp_escape(f.title) << "\" noenhanced\n";
  out << "set xlabel \"" << gp_escape(f.xlabel) << "\" noenhanced\nset ylabel \"" << gp_escape(f.ylabel)
      << "\" noenhanced\n";
  // Long legend entries beside the plot squeeze it to nothing: put them below it instead (and make room).
  std::size_t longest = 0;
  for (const Series& s : f.series) longest = std::max(longest, s.title.size());
  if (longest > 45)
    out << "set key below left Left reverse noenhanced font ',10' maxcols 1\nset grid\n";
  else
    out << "set key outside right top noenhanced font ',10'\nset grid\n";
  if (f.logx) out << "set logscale x 2\n";
  if (f.logy) out << "set logscale y\nset format y '%.0e'\n";
  bool boxes = false;
  for (std::size_t i = 0; i < f.series.size(); ++i) {
    const Series& s = f.series[i];
    out << "$d" << i << " << EOD\n";
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (f.logy && !(s.y[k] > 0)) continue;
      out << fmt::format("{:.10g} {:.10g}", s.x[k], s.y[k]);
      if (s.style == Series::Style::errorbars) out << fmt::format(" {:.6g}", k < s.err.size() ? s.err[k] : 0.0);
      out << '\n';
    }
    out << "EOD\n";
    boxes |= s.style == Series::Style::boxes;
  }
  if (boxes) out << "set style fill solid 0.35 noborder\nset boxwidth 0.95 relative\n";
  out << "plot ";
  for (std::size_t i = 0; i < f.series.size(); ++i) {
    const Series& s = f.series[i];
    const char* with = "lines lw 2";
    switch (s.style) {
      case Series::Style::lines: with = s.title.rfind("n^", 0) == 0 ? "lines lw 3 lc rgb '#999999'" : "lines lw 2"; break;
      case Series::Style::points: with = "linespoints pt 7 ps 0.8"; break;
      case Series::Style::errorbars: with = "yerrorbars pt 7"; break;
      case Series::Style::steps: with = "steps lw 2"; break;
      case Series::Style::boxes: with = "boxes"; break;
    }
    out << (i ? ", " : "") << "$d" << i << " using 1:2" << (s.style == Series::Style::errorbars ? ":3" : "")
        << " with " << with << " title \"" << gp_escape(s.title) << "\"";
  }
  out << "\n";
  out.close();
  const std::string cmd = "gnuplot \"" + gp.string() + "\" 2>\"" + (dir / (f.name + ".log")).string() + "\"";
  if (std::system(cmd.c_str()) != 0 || !fs::exists(svg)) {
    why = "gnuplot failed on " + gp.string() + " (see " + (dir / (f.name + ".log")).string() + ")";
    return false;
  }
  fs::remove(dir / (f.name + ".log"));
  return true;
}

void html_table(std::ostream& o, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  o << "<table><tr>";
  for (const auto& h : header) o << "<th>" << html_escape(h) << "</th>";
  o << "</tr>\n";
  for (const auto& r : rows) {
    o << "<tr>";
    for (const auto& c : r) {
      const bool bad = c == "FAIL" || c == "NO";
      o << (bad ? "<td class=bad>" : "<td>") << html_escape(c) << "</td>";
    }
    o << "</tr>\n";
  }
  o << "</table>\n";
}

void write_report(const fs::path& dir, const std::vector<Result>& results, const checks::Options& opt) {
  fs::create_directories(dir);
  const bool have_gnuplot = std::system("command -v gnuplot >/dev/null 2>&1") == 0;
  std::ofstream o(dir / "index.html");
  o << "<!doctype html><html><head><meta charset=utf-8><title>netsor check report</title><style>"
       "body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse;margin:0.5em 0 1em;font-size:13px}"
       "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;font-family:monospace}"
       "th{background:#f0f0f0}.pass{color:#060;font-weight:bold}.fail{color:#b00;font-weight:bold}"
       "td.bad{color:#b00;font-weight:bold}.rule{color:#444;font-size:14px}img{max-width:100%}"
       "</style></head><body>\n<h1>netsor check report</h1>\n";
  std::string widths;
  for (long n : opt.widths) widths += (widths.empty() ? "" : ", ") + std::to_string(n);
  o << "<p>widths " << widths << "; " << opt.trials << " trials; seed " << opt.seed << "; " << opt.digits
    << " digits.</p>\n<table><tr><th>check</th><th>verdict</th><th>seconds</th></tr>\n";
  for (const Result& r : results)
    o << "<tr><td><a href=\"#" << r.name << "\">" << r.name << "</a></td><td class=" << (r.pass ? "pass" : "fail")
      << ">" << (r.pass ? "PASS" : "FAIL") << "</td><td>" << fmt::format("{:.1f}", r.seconds) << "</td></tr>\n";
  o << "</table>\n";
  if (!have_gnuplot) o << "<p class=fail>gnuplot was not found: the figures are missing (apt-get install gnuplot-nox).</p>\n";
  for (const Result& r : results) {
    o << "<h2 id=\"" << r.name << "\">" << html_escape(r.name) << " — " << html_escape(r.title) << " <span class="
      << (r.pass ? "pass>PASS" : "fail>FAIL") << "</span></h2>\n";
    o << "<p>" << html_escape(r.statement) << "</p>\n<p><i>" << html_escape(r.citation) << "</i></p>\n";
    o << "<p class=rule><b>Rule.</b> " << html_escape(r.rule) << "</p>\n";
    if (!r.failures.empty()) {
      o << "<ul>";
      for (const auto& f : r.failures) o << "<li class=fail>" << html_escape(f) << "</li>";
      o << "</ul>\n";
    }
    if (!r.ladders.empty()) {
      std::vector<std::vector<std::string>> rows;
      for (const Ladder& l : r.ladders) rows.push_back(ladder_row(l, true));
      html_table(o, ladder_header(r), rows);
    }
    for (const Table& t : r.tables) {
      o << "<h4>" << html_escape(t.title) << "</h4>\n";
      html_table(o, t.header, t.rows);
    }
    if (have_gnuplot) {
      const fs::path sub = dir / r.name;
      fs::create_directories(sub);
      for (const Figure& f : r.figures) {
        std::string why;
        if (draw(f, sub, why))
          o << "<p><img src=\"" << r.name << "/" << f.name << ".svg\" alt=\"" << html_escape(f.title) << "\"></p>\n";
        else
          o << "<p class=fail>" << html_escape(why) << "</p>\n";
      }
    }
  }
  o << "</body></html>\n";
}

// ------------------------------------------------------------------------------------------- run
int run_checks(const CheckArgs& args, const std::vector<std::string>& names) {
  checks::Options opt;
  opt.widths = parse_widths(args.widths);
  opt.trials = args.trials;
  opt.seed = args.seed;
  opt.digits = args.digits;
  // Fail on bad options and names before any work.
  checks::validate(opt);
  for (const auto& n : names) {
    bool known = false;
    for (const auto& c : checks::all_checks()) known |= c.name == n;
    if (!known) (void)checks::run_check(n, opt);  // throws the message listing the checks
  }
  const bool tty = isatty(fileno(stderr));
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t index = 0;
  if (!args.quiet) {
    opt.progress = [&](const std::string& line) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const std::string text = fmt::format("[{}/{} {:6.1f} s] {}", index + 1, names.size(), s, line);
      if (tty)
        std::fprintf(stderr, "\r\033[K%s", text.c_str());
      else
        std::fprintf(stderr, "%s\n", text.c_str());
      std::fflush(stderr);
    };
  }
  std::vector<Result> results;
  for (index = 0; index < names.size(); ++index) {
    Result r;
    try {
      r = checks::run_check(names[index], opt);
    } catch (const std::exception& e) {
      r.name = names[index];
      r.title = "(did not complete)";
      r.failures.push_back(std::string("error: ") + e.what());
      r.pass = false;
    }
    if (tty && !args.quiet) std::fprintf(stderr, "\r\033[K");
    print_result(std::cout, r);
    std::cout.flush();
    results.push_back(std::move(r));
  }
  bool all = true;
  std::cout << "\nsummary:\n";
  std::vector<std::vector<std::string>> rows;
  for (const Result& r : results) {
    all &= r.pass;
    rows.push_back({r.name, r.pass ? "PASS" : "FAIL", fmt::format("{:.1f} s", r.seconds)});
  }
  print_table(std::cout, {"check", "verdict", "time"}, rows);
  std::cout << (all ? "all checks passed\n" : "SOME CHECKS FAILED\n");

  if (!args.json.empty()) {
    nlohmann::json j;
    j["netsor"] = "check";
    j["options"] = {{"widths", opt.widths}, {"trials", opt.trials}, {"seed", opt.seed}, {"digits", opt.digits}};
    j["pass"] = all;
    for (const Result& r : results) j["checks"].push_back(checks::to_json(r));
    std::ofstream out(args.json);
    if (!out) throw invalid_argument("--json: cannot write " + args.json);
    out << j.dump(2) << '\n';
    std::cout << "JSON written to " << args.json << '\n';
  }
  if (!args.report.empty()) {
    write_report(args.report, results, opt);
    std::cout << "report written to " << (fs::path(args.report) / "index.html").string() << '\n';
  }
  return all ? 0 : 1;
}

void add_options(CLI::App* sub, CheckArgs& a) {
  sub->add_option("--widths", a.widths, "increasing base widths, comma separated")->capture_default_str();
  sub->add_option("--trials", a.trials, "seeded trials per width")->capture_default_str()->check(CLI::Range(2, 100000));
  sub->add_option("--seed", a.seed, "random seed (the same seed gives the same numbers)")->capture_default_str();
  sub->add_option("--digits", a.digits, "digits of the infinite-width side")->capture_default_str()->check(CLI::Range(15, 1000));
  sub->add_option("--json", a.json, "write every number to this JSON file");
  sub->add_option("--report", a.report, "write an HTML report with plots to this directory");
  sub->add_flag("--quiet", a.quiet, "no progress lines");
}

}  // namespace

void add_check_command(CLI::App& app) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* check = app.add_subcommand("check", "run the theorem checks of proofs_check/");
  check->require_subcommand(1);
  CLI::App* list = check->add_subcommand("list", "the checks, one name a line");
  list->callback([] {
    for (const auto& c : checks::all_checks()) std::cout << c.name << '\n';
  });
  CLI::App* run = check->add_subcommand("run", "run the named checks");
  run->add_option("names", args->names, "check names (see `netsor check list`)")->required();
  add_options(run, *args);
  run->callback([args] { exit_status() = run_checks(*args, args->names); });
  CLI::App* all = check->add_subcommand("all", "run every check; exit status 0 iff all pass");
  add_options(all, *args);
  all->callback([args] {
    std::vector<std::string> names;
    for (const auto& c : checks::all_checks()) names.push_back(c.name);
    exit_status() = run_checks(*args, names);
  });
}

}  // namespace netsor::cli

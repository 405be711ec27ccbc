// core/tools/cmd_spectrum.cpp — `netsor spectrum`: the limiting spectrum of J J^T (or, with --fisher, of the Fisher
// information for one input) for an MLP at initialization
// (shared/API.md, "Command line"; netsor/spectra.hpp). Prints the mean field, the first moments, the support and
// atoms; --json writes them with the density grid; --plot draws the density with gnuplot (SVG), and with
// --simulate N the histogram of the squared singular values of a sampled network of width N on top.
#include "commands.hpp"

#include <netsor/errors.hpp>
#include <netsor/spectra.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <fstream>
#include <iostream>

namespace netsor::cli {

namespace {

struct SpectrumArgs {
  std::string activation = "tanh", weights = "gaussian", json, plot;
  double weight_variance = 1, bias_variance = 0;
  int depth = 1, points = 1000, digits = 30, moments = 6;
  long simulate = 0;
  std::uint64_t seed = 1;
  bool fisher = false;
  double input_variance = -1;  // < 0: unset (layers at the fixed point)
};

int run_spectrum(const SpectrumArgs& a) {
  if (a.points < 2) throw invalid_argument("spectrum: --points must be at least 2, got " + std::to_string(a.points));
  if (a.weights != "gaussian" && a.weights != "orthogonal")
    throw invalid_argument("spectrum: --weights must be gaussian or orthogonal, got '" + a.weights + "'");
  NetworkSpec net{.activation = a.activation, .weight_variance = a.weight_variance,
                  .bias_variance = a.bias_variance, .depth = a.depth,
                  .weights = a.weights == "orthogonal" ? Weights::orthogonal : Weights::gaussian};
  if (a.input_variance >= 0) net.input_variance = Param(a.input_variance);
  const SpectrumOptions so{.digits = static_cast<unsigned>(a.digits)};
  const Spectrum sp = a.fisher ? fisher_spectrum(net, so) : jacobian_spectrum(net, so);
  const std::string what = a.fisher ? "Fisher information (Theta = sum_l qhat_{l-1} B_l B_l^T)" : "J J^T";
  const MeanField& mf = sp.mean_field();
  const auto m = sp.moments(a.moments);
  std::cout << fmt::format("{} of a depth-{} {} network, {} weights, sigma_w^2 = {}, sigma_b^2 = {}\n", what, a.depth,
                           a.activation, a.weights, a.weight_variance, a.bias_variance);
  if (mf.fixed_point == FixedPoint::attracting && !net.input_variance)
    std::cout << "q_star = " << to_string(mf.q_star, a.digits) << "\n";
  if (net.input_variance) std::cout << "input variance = " << a.input_variance << "\n";
  if (mf.fixed_point == FixedPoint::attracting || mf.fixed_point == FixedPoint::neutral)
    std::cout << "chi    = " << to_string(mf.chi, a.digits) << " (" << to_string(mf.phase) << ")\n";
  for (int k = 0; k < a.moments; ++k) std::cout << "m" << k + 1 << "     = " << to_string(m[k], a.digits) << "\n";
  if (a.fisher && a.moments >= 2) {
    // concentration: the spread relative to the mean (Hayase-Karakida: the mean grows like L, the spread slower)
    precision_scope ps(a.digits + 10);
    const Real sd = sqrt(std::max(Real(0), m[1] - m[0] * m[0]));
    std::cout << "sd / mean = " << to_string(sd / m[0], 12) << "   (mean / depth = " << to_string(m[0] / a.depth, 12)
              << ")\n";
  }
  std::cout.flush();
  const auto [lo, hi] = sp.support();  // throws convergence_error where the density is not available
  std::cout << fmt::format("support of the continuous part: [{:.12g}, {:.12g}]\n", lo, hi);
  for (const Atom& at : sp.atoms()) std::cout << fmt::format("atom at {:.12g}, mass {:.12g}\n", at.location, at.mass);

  std::vector<DensityValue> grid;
  if (!a.json.empty() || !a.plot.empty()) grid = sp.density_grid(a.points);
  std::vector<double> sampled;
  if (a.simulate > 0) {
    const NetworkSampleOptions no{.n = a.simulate, .trials = 1, .seed = a.seed};
    for (const auto& tr : a.fisher ? sample_fisher_spectrum(net, no) : sample_jacobian_spectrum(net, no))
      sampled.insert(sampled.end(), tr.begin(), tr.end());
  }
  if (!a.json.empty()) {
    nlohmann::json j;
    j["network"] = {{"activation", a.activation}, {"weights", a.weights}, {"weight_variance", a.weight_variance},
                    {"bias_variance", a.bias_variance}, {"depth", a.depth}};
    j["kind"] = sp.kind();
    if (net.input_variance) j["network"]["input_variance"] = a.input_variance;
    j["chi"] = to_string(mf.chi, a.digits);
    if (mf.fixed_point == FixedPoint::attracting) j["q_star"] = to_string(mf.q_star, a.digits);
    for (const auto& x : m) j["moments"].push_back(to_string(x, a.digits));
    j["support"] = {lo, hi};
    j["atoms"] = nlohmann::json::array();
    for (const Atom& at : sp.atoms()) j["atoms"].push_back({{"location", at.location}, {"mass", at.mass}});
    for (const auto& d : grid) {
      j["density"]["x"].push_back(d.x);
      j["density"]["y"].push_back(d.density);
      j["density"]["error"].push_back(d.error);
    }
    if (!sampled.empty()) j["simulated_eigenvalues"] = sampled;
    std::ofstream(a.json) << j.dump(1) << "\n";
  }
  if (!a.plot.empty()) {
    const std::string dat = a.plot + ".dat", hist = a.plot + ".hist.dat", gp = a.plot + ".gp";
    // A spectrum spread over more than two decades (deep networks, or one reaching 0) is drawn against log10 x,
    // as the density of log10 x (ln 10 x rho(x)): on a linear axis everything sits in the first pixel.
    const bool logx = lo <= 0 || hi / lo > 100;
    const double xmin = lo > 0 ? lo : hi * 1e-6;
    const auto u = [&](double x) { return logx ? std::log10(x) : x; };
    const double u0 = u(xmin), u1 = u(hi);
    std::vector<double> xs;
    std::vector<DensityValue> curve;
    if (logx) {
      for (int i = 0; i < a.points; ++i) xs.push_back(std::pow(10.0, u0 + (u1 - u0) * (i + 0.5) / a.points));
      curve = sp.density(xs);
    } else {
      curve = grid;
    }
    double ymax = 0;
    {
      std::ofstream o(dat);
      o.precision(12);
      for (const auto& d : curve) {
        const double y = logx ? std::log(10.0) * d.x * d.density : d.density;
        o << u(d.x) << " " << y << "\n";
        ymax = std::max(ymax, y);
      }
    }
    // Sampled atoms: runs of equal eigenvalues (to 1e-9 relative) holding more than 1% of them, e.g. the Fisher
    // spectrum's atom at the sampled qhat_{L-1}, which sits next to the limit's qhat_{L-1} (one input: its squared
    // norm fluctuates by O(n^-1/2)). They are left out of the histogram and marked with their masses.
    std::vector<std::pair<double, double>> sampled_atoms;  // location, mass
    std::vector<double> continuous;
    {
      std::vector<double> v = sampled;
      std::sort(v.begin(), v.end());
      for (std::size_t i = 0; i < v.size();) {
        std::size_t j = i + 1;
        while (j < v.size() && std::abs(v[j] - v[i]) <= 1e-9 * std::max(std::abs(v[i]), 1e-300)) ++j;
        if (static_cast<double>(j - i) > 0.01 * static_cast<double>(v.size()) && v[i] > 1e-9)
          sampled_atoms.emplace_back(v[i], static_cast<double>(j - i) / static_cast<double>(v.size()));
        else
          continuous.insert(continuous.end(), v.begin() + static_cast<long>(i), v.begin() + static_cast<long>(j));
        i = j;
      }
    }
    if (!sampled.empty()) {
      // histogram of the eigenvalues of the continuous part, normalized to the whole spectrum (atoms not drawn)
      const int bins = 80;
      std::vector<double> c(bins, 0);
      for (double v : continuous)
        if (v > 1e-9 && v >= xmin && v < hi) c[std::min(bins - 1, static_cast<int>((u(v) - u0) / (u1 - u0) * bins))] += 1;
      std::ofstream o(hist);
      const double w = (u1 - u0) / bins;
      for (int i = 0; i < bins; ++i) o << u0 + (i + 0.5) * w << " " << c[i] / (sampled.size() * w) << "\n";
    }
    std::ofstream o(gp);
    o << "set terminal svg size 760,480 dynamic background rgb 'white'\nset output '" << a.plot << "'\n";
    o << fmt::format("set title '{}, depth {} {} ({} weights, sigma_w^2 = {}, sigma_b^2 = {})' noenhanced\n",
                     a.fisher ? "Fisher information" : "J J^T", a.depth, a.activation, a.weights, a.weight_variance,
                     a.bias_variance);
    o << (logx ? "set xlabel 'log10 x'\nset ylabel 'density of log10 x'\n" : "set xlabel 'x'\nset ylabel 'density'\n")
      << "set yrange [0:" << std::max(1e-300, 1.3 * std::min(ymax, 50.0)) << "]\nset style fill transparent solid 0.35\n";
    // Atoms as dashed vertical lines with their masses (the histogram leaves their eigenvalues out): the Fisher
    // spectrum's atom at qhat_{L-1} sits at the bottom of the support.
    const auto shown = [&](double x) { return x > 0 && (!logx || x >= hi * 1e-6); };
    double left = u0;  // wide enough for the atoms
    for (const Atom& at : sp.atoms()) {
      if (!shown(at.location)) continue;
      left = std::min(left, u(at.location));
      o << fmt::format("set arrow from {0},graph 0 to {0},graph 0.8 nohead lw 2 dt 2 lc rgb 'black'\n"
                       "set label 'atom, mass {1:.4g}' at {0},graph 0.83 left offset 0.5,0 noenhanced\n",
                       u(at.location), at.mass);
    }
    for (const auto& [x, mass] : sampled_atoms) {
      if (!shown(x)) continue;
      left = std::min(left, u(x));
      o << fmt::format("set arrow from {0},graph 0 to {0},graph 0.7 nohead lw 2 dt 3 lc rgb 'dark-magenta'\n"
                       "set label 'sampled atom, mass {1:.3g}' at {0},graph 0.73 left offset 0.5,0 tc rgb "
                       "'dark-magenta' noenhanced\n",
                       u(x), mass);
    }
    o << "set xrange [" << left - 0.02 * (u1 - left) << ":" << u1 + 0.02 * (u1 - left) << "]\n";
    o << "plot ";
    if (!sampled.empty())
      o << "'" << hist << "' using 1:2 with boxes title 'simulated, n = " << a.simulate << "', ";
    o << "'" << dat << "' using 1:2 with lines lw 2 title 'limit (free probability)'\n";
    o.close();
    if (std::system(("gnuplot '" + gp + "'").c_str()) != 0) {
      std::cerr << "netsor spectrum: gnuplot failed on " << gp << "\n";
      return 1;
    }
    std::cout << "plot written to " << a.plot << "\n";
  }
  return 0;
}

}  // namespace

void add_spectrum_command(CLI::App& app) {
  auto args = std::make_shared<SpectrumArgs>();
  CLI::App* c = app.add_subcommand("spectrum", "the limiting spectrum of J J^T (or of the Fisher information, --fisher) for an MLP at initialization");
  c->add_option("--activation", args->activation, "activation (tanh, relu, erf, ...)");
  c->add_option("--weight-variance", args->weight_variance, "sigma_w^2");
  c->add_option("--bias-variance", args->bias_variance, "sigma_b^2");
  c->add_option("--depth", args->depth, "number of layers L");
  c->add_option("--weights", args->weights, "gaussian or orthogonal");
  c->add_option("--points", args->points, "density grid points (>= 2)");
  c->add_option("--digits", args->digits, "digits of the moments");
  c->add_option("--moments", args->moments, "how many moments to print");
  c->add_option("--json", args->json, "write the results as JSON");
  c->add_option("--plot", args->plot, "draw the density into this SVG (gnuplot)");
  c->add_option("--simulate", args->simulate, "also sample a network of this width and plot its spectrum");
  c->add_option("--seed", args->seed, "seed of --simulate");
  c->add_flag("--fisher", args->fisher, "the Fisher information spectrum (one input, f = h^L) instead of J J^T");
  c->add_option("--input-variance", args->input_variance,
                "E[x_i^2] of the input (default: every layer at the fixed point q_star)");
  c->callback([args] {
    try {
      exit_status() = run_spectrum(*args);
    } catch (const std::exception& e) {
      std::cerr << "netsor spectrum: " << e.what() << "\n";
      exit_status() = 2;
    }
  });
}

}  // namespace netsor::cli

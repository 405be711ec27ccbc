// bench_quadrature.cpp — wall time of the Gaussian expectation engine (limit/gaussian_quadrature.hpp) on the
// cases of the project's acceptance numbers, with the digits reached against independent references; and the
// same integrals with Boost.Math's double-exponential integrators, the alternative the engine was chosen over.
// Peer: bench/peer_mpmath_quadrature.py (python3-mpmath's mp.quad on the same integrals at the same digits),
// run side by side by `--mpmath`, which ends with a table of ratios.
//
//   bench_quadrature                  # everything (about 10 s)
//   bench_quadrature --quick          # 1-D E[tanh(z)^2] at 50 digits only
//   bench_quadrature [--quick] --mpmath   # and the peer in the same run, with ratios (full: about 5 minutes)
//
// The integrands are written as the limit evaluator compiles them (core/src/limit/evaluator.cpp): declared even
// (E[f] over half the outer line, mirrored) and with the lattice fast path (f_lattice: exp(2 v) along an inner
// line by one multiplication per node). The "_blackbox" cases give the engine a plain f (one MPFR tanh per
// factor and node) for comparison. Threads: 1, or 2 (the outer line split between two threads; an even
// integrand's mirrored line is walked by one thread, so 2 threads change nothing there).
// Working precision: target digits + kGuardDigits. Times are the best of several calls ("warm": node tables
// cached; `seconds` = warm) and the first call at that precision ("cold"). Output, one line per case:
//   quadrature <case> digits=<d> threads=<t> seconds=<warm> cold=<s> evals=<n> converged=<0|1> agree=<digits>
#include <netsor/limit/gaussian_quadrature.hpp>

#include <mpfr.h>
#include <boost/math/quadrature/exp_sinh.hpp>
#include <boost/math/quadrature/sinh_sinh.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using netsor::Real;
using netsor::detail::GaussianIntegrand;
using netsor::detail::Kink;
using netsor::detail::LatticeExp;
using netsor::detail::QuadratureOptions;
using netsor::detail::QuadratureResult;

constexpr unsigned kGuardDigits = 10;

// E[tanh(Z)^2], Z ~ N(0,1), to 335 digits:
//   python3 -c "import mpmath as mp; mp.mp.dps=340; print(mp.nstr(mp.quad(lambda z: mp.tanh(z)**2*mp.exp(-z*z/2),
//   [-mp.inf,0,mp.inf])/mp.sqrt(2*mp.pi), 335))"
const char* kTanh2Ref =
    "0.394294490397841174416459772444119560573790749422305097621123252768811583751692044672080248746715365938626"
    "377122601632311594055718683652407500587506124327016674299138554759301463965495136052314106574742696099821354"
    "96782152729848980039923108344281482606227072759641431368958941940803191287315126283294541015866020582470344693"
    "129476222759";
// E[tanh(Z1) tanh(0.6 Z1 + 0.8 Z2)] to 58 digits:
//   python3 -c "import mpmath as mp; mp.mp.dps=60; c,s=mp.mpf(3)/5,mp.mpf(4)/5; print(mp.nstr(mp.quad(lambda x,y:
//   mp.tanh(x)*mp.tanh(c*x+s*y)*mp.exp(-(x*x+y*y)/2),[-mp.inf,0,mp.inf],[-mp.inf,0,mp.inf])/(2*mp.pi), 58))"
const char* kTanhTanh2dRef = "0.2252221535268836561140057494480209601939644881409437982377";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double agree(const Real& got, const Real& ref) {
  const Real d = abs(got - ref);
  if (d == 0) return 999;
  return static_cast<double>(-log10(d / abs(ref)));
}

// The integrands, written on MPFR directly (no temporaries beyond the result) and thread-safe.
Real tanh2(const Real* z) {
  Real r;
  mpfr_tanh(r.backend().data(), z[0].backend().data(), MPFR_RNDN);
  mpfr_sqr(r.backend().data(), r.backend().data(), MPFR_RNDN);
  return r;
}

// tanh(z0) tanh(a z0 + b z1) with (a, b) the second row of a whitening, given as Reals.
struct TanhTanh {
  Real a, b;
  Real operator()(const Real* z) const {
    Real r, t;
    mpfr_mul(t.backend().data(), z[0].backend().data(), a.backend().data(), MPFR_RNDN);
    mpfr_fma(t.backend().data(), z[1].backend().data(), b.backend().data(), t.backend().data(), MPFR_RNDN);
    mpfr_tanh(t.backend().data(), t.backend().data(), MPFR_RNDN);
    mpfr_tanh(r.backend().data(), z[0].backend().data(), MPFR_RNDN);
    mpfr_mul(r.backend().data(), r.backend().data(), t.backend().data(), MPFR_RNDN);
    return r;
  }
};

// Per-thread state of a lattice integrand: the exponential along the current line and what is constant on it.
// Keyed by the integrand (a serial number) and the precision, so that a thread meeting a new integral resets it.
struct LineState {
  long owner = -1;
  mpfr_prec_t bits = 0;
  LatticeExp e;
  Real z0, t0, a, b;  // the line's outer coordinate and tanh of it; scratch at the guard precision
};
std::atomic<long> g_serial{0};

LineState& line_state(long owner, const Real& slope) {
  thread_local LineState st;
  const mpfr_prec_t bits = mpfr_get_prec(slope.backend().data());
  if (st.owner != owner || st.bits != bits) {
    st.owner = owner;
    st.bits = bits;
    st.e.set_slope(slope);
    st.e.set_line(Real(0));
    mpfr_set_prec(st.a.backend().data(), st.e.bits());
    mpfr_set_prec(st.b.backend().data(), st.e.bits());
    mpfr_set_prec(st.z0.backend().data(), bits);
    mpfr_set_prec(st.t0.backend().data(), bits);
    mpfr_set_nan(st.z0.backend().data());
  }
  return st;
}

// tanh x = (E - 1) / (E + 1) from E = exp(2 x), at E's precision, rounded into r.
void tanh_from_exp2(mpfr_ptr r, mpfr_srcptr e, LineState& st) {
  mpfr_sub_ui(st.a.backend().data(), e, 1, MPFR_RNDN);
  mpfr_add_ui(st.b.backend().data(), e, 1, MPFR_RNDN);
  mpfr_div(r, st.a.backend().data(), st.b.backend().data(), MPFR_RNDN);
}

// tanh(z)^2 on the lattice z = j h: E = exp(2 j h). Built inside the caller's precision scope.
struct Tanh2Lattice {
  long id = g_serial++;
  Real two = 2;
  Real operator()(const Real*, long j, double h) const {
    LineState& st = line_state(id, two);
    Real r;
    tanh_from_exp2(r.backend().data(), st.e.eval(j, h), st);
    mpfr_sqr(r.backend().data(), r.backend().data(), MPFR_RNDN);
    return r;
  }
};

// tanh(s z0) tanh(a z0 + b z1) on the lattice z1 = j h: tanh(s z0) once per line, E = exp(2 a z0) exp(2 b h)^j.
// Built inside the caller's precision scope.
struct TanhTanhLattice {
  Real s, a, b, slope;
  long id = g_serial++;
  TanhTanhLattice(Real s_, Real a_, Real b_) : s(std::move(s_)), a(std::move(a_)), b(std::move(b_)), slope(2 * b) {}
  Real operator()(const Real* z, long j, double h) const {
    LineState& st = line_state(id, slope);
    if (!mpfr_equal_p(z[0].backend().data(), st.z0.backend().data())) {
      mpfr_set(st.z0.backend().data(), z[0].backend().data(), MPFR_RNDN);
      Real t = s * z[0];
      mpfr_tanh(st.t0.backend().data(), t.backend().data(), MPFR_RNDN);
      st.e.set_line(Real(2 * a * z[0]));
    }
    Real r;
    tanh_from_exp2(r.backend().data(), st.e.eval(j, h), st);
    mpfr_mul(r.backend().data(), r.backend().data(), st.t0.backend().data(), MPFR_RNDN);
    return r;
  }
};

struct Timing {
  QuadratureResult result;
  double cold = 0, warm = 1e300;
};

Timing time_it(const GaussianIntegrand& g, const QuadratureOptions& opt, int repeats) {
  Timing t;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    t.result = netsor::detail::gaussian_expectation(g, opt);
    const double s = seconds_since(t0);
    if (i == 0) t.cold = s;
    t.warm = std::min(t.warm, s);
  }
  return t;
}

// netsor's lines, kept for the ratio table: case key "<case> digits=<d>" -> best warm seconds, per thread count.
std::map<std::string, std::map<unsigned, double>> g_netsor;

void report(const std::string& name, unsigned digits, unsigned threads, const Timing& t, double agreement) {
  std::cout << "quadrature " << name << " digits=" << digits << " threads=" << threads << std::setprecision(4)
            << " seconds=" << t.warm << " cold=" << t.cold << " evals=" << t.result.evaluations
            << " converged=" << t.result.converged << " agree=" << std::setprecision(3) << agreement << std::endl;
  auto& slot = g_netsor[name + " digits=" + std::to_string(digits)][threads];
  slot = slot > 0 ? std::min(slot, t.warm) : t.warm;
}

void tanh2_1d(unsigned digits, unsigned threads, int repeats, bool blackbox = false) {
  netsor::precision_scope scope(digits + kGuardDigits);
  GaussianIntegrand g;
  g.dim = 1;
  g.f = tanh2;
  if (!blackbox) {
    g.even = true;
    g.f_lattice = Tanh2Lattice{};
  }
  const Timing t = time_it(g, {.digits = digits, .threads = threads}, repeats);
  report(blackbox ? "tanh2_1d_blackbox" : "tanh2_1d", digits, threads, t, agree(t.result.value, Real(kTanh2Ref)));
}

void relu2_1d(unsigned digits, int repeats) {
  netsor::precision_scope scope(digits + kGuardDigits);
  GaussianIntegrand g;
  g.dim = 1;
  g.f = [](const Real* z) { return z[0] > 0 ? Real(z[0] * z[0]) : Real(0); };
  g.kinks = {Kink{{Real(1)}, Real(0)}};
  const Timing t = time_it(g, {.digits = digits}, repeats);
  report("relu2_1d", digits, 1, t, agree(t.result.value, Real(1) / 2));
}

void tanh_tanh_2d(unsigned digits, unsigned threads, int repeats, bool blackbox = false) {
  netsor::precision_scope scope(digits + kGuardDigits);
  GaussianIntegrand g;
  g.dim = 2;
  g.f = TanhTanh{Real(3) / 5, Real(4) / 5};
  if (!blackbox) {
    g.even = true;
    g.f_lattice = TanhTanhLattice{Real(1), Real(3) / 5, Real(4) / 5};
  }
  const Timing t = time_it(g, {.digits = digits, .threads = threads}, repeats);
  report(blackbox ? "tanh_tanh_2d_blackbox" : "tanh_tanh_2d", digits, threads, t,
         agree(t.result.value, Real(kTanhTanh2dRef)));
}

// The NNGP kernel of a 20-layer tanh MLP (sigma_w^2 = 1.5, sigma_b^2 = 0.05; shared/MATH.md, "Jacobians of deep
// networks") for two inputs of norm 1 and overlap 0.5: per layer q <- sigma_w^2 E tanh(sqrt(q) z)^2 + sigma_b^2
// (1-D), and for the pair (u, v) with covariance [[q, c], [c, q]] the 2-D expectations E tanh(u) tanh(v) and
// E tanh'(u) tanh'(v) (the NTK's derivative kernel, by a black-box f: sech^2 has no lattice form here): 20 1-D
// and 40 2-D expectations, at one working precision (bench_limit runs the whole certified limit).
void mlp_kernel(unsigned digits, unsigned threads) {
  netsor::precision_scope scope(digits + kGuardDigits);
  const Real sw2 = Real(3) / 2, sb2 = Real(1) / 20;
  Real q = 1, c = Real(1) / 2;
  std::size_t evals = 0;
  bool all_converged = true;
  const auto t0 = std::chrono::steady_clock::now();
  for (int layer = 0; layer < 20; ++layer) {
    const Real sq = sqrt(q), a = c / sq, b = sqrt(q - c * c / q);
    GaussianIntegrand g1;
    g1.dim = 1;
    g1.f = [sq](const Real* z) {
      Real r;
      mpfr_mul(r.backend().data(), z[0].backend().data(), sq.backend().data(), MPFR_RNDN);
      mpfr_tanh(r.backend().data(), r.backend().data(), MPFR_RNDN);
      mpfr_sqr(r.backend().data(), r.backend().data(), MPFR_RNDN);
      return r;
    };
    g1.even = true;
    GaussianIntegrand gf;  // E tanh(u) tanh(v), u = sq z0, v = a z0 + b z1
    gf.dim = 2;
    gf.f = [sq, a, b](const Real* z) {
      Real r, t;
      mpfr_mul(t.backend().data(), z[0].backend().data(), a.backend().data(), MPFR_RNDN);
      mpfr_fma(t.backend().data(), z[1].backend().data(), b.backend().data(), t.backend().data(), MPFR_RNDN);
      mpfr_tanh(t.backend().data(), t.backend().data(), MPFR_RNDN);
      mpfr_mul(r.backend().data(), z[0].backend().data(), sq.backend().data(), MPFR_RNDN);
      mpfr_tanh(r.backend().data(), r.backend().data(), MPFR_RNDN);
      mpfr_mul(r.backend().data(), r.backend().data(), t.backend().data(), MPFR_RNDN);
      return r;
    };
    gf.even = true;
    gf.f_lattice = TanhTanhLattice{sq, a, b};
    GaussianIntegrand gd;  // E tanh'(u) tanh'(v) = E sech^2(u) sech^2(v)
    gd.dim = 2;
    gd.f = [sq, a, b](const Real* z) {
      Real r, t;
      mpfr_mul(t.backend().data(), z[0].backend().data(), a.backend().data(), MPFR_RNDN);
      mpfr_fma(t.backend().data(), z[1].backend().data(), b.backend().data(), t.backend().data(), MPFR_RNDN);
      mpfr_sech(t.backend().data(), t.backend().data(), MPFR_RNDN);
      mpfr_mul(r.backend().data(), z[0].backend().data(), sq.backend().data(), MPFR_RNDN);
      mpfr_sech(r.backend().data(), r.backend().data(), MPFR_RNDN);
      mpfr_mul(r.backend().data(), r.backend().data(), t.backend().data(), MPFR_RNDN);
      mpfr_sqr(r.backend().data(), r.backend().data(), MPFR_RNDN);
      return r;
    };
    gd.even = true;
    const QuadratureOptions opt{.digits = digits, .threads = threads};
    const auto r1 = netsor::detail::gaussian_expectation(g1, opt);
    const auto rf = netsor::detail::gaussian_expectation(gf, opt);
    const auto rd = netsor::detail::gaussian_expectation(gd, opt);
    evals += r1.evaluations + rf.evaluations + rd.evaluations;
    all_converged = all_converged && r1.converged && rf.converged && rd.converged;
    q = sw2 * r1.value + sb2;
    c = sw2 * rf.value + sb2;
  }
  const double s = seconds_since(t0);
  std::cout << "quadrature mlp20_kernel digits=" << digits << " threads=" << threads << std::setprecision(4)
            << " seconds=" << s << " evals=" << evals << " converged=" << all_converged
            << " (40 2-D + 20 1-D expectations; q20=" << netsor::to_string(q, 12) << ")" << std::endl;
}

// Runs the peer script (same directory as this file) and prints, per case, netsor's best warm time on 1 and 2
// threads against mpmath's best time, and the speed-up factor (mpmath seconds / netsor seconds).
void mpmath_side_by_side(bool quick) {
  const auto script = std::filesystem::path(__FILE__).parent_path() / "peer_mpmath_quadrature.py";
  const char* py = std::getenv("NETSOR_PYTHON");
  const std::string cmd = std::string(py != nullptr ? py : "/usr/bin/python3") + " " + script.string() +
                          (quick ? " --quick" : "");
  std::cout << "# peer: " << cmd << std::endl;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    std::cout << "# could not run the peer" << std::endl;
    return;
  }
  std::map<std::string, double> peer;
  char buf[1024];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) {
    std::cout << buf << std::flush;
    std::istringstream is(buf);
    std::string tool, name, digits, secs;
    if (!(is >> tool >> name >> digits >> secs) || tool != "mpmath" || secs.rfind("seconds=", 0) != 0) continue;
    peer[name + " " + digits] = std::stod(secs.substr(8));
  }
  pclose(pipe);
  std::cout << "# speed-up = mpmath seconds / netsor warm seconds (the peer is single-threaded)\n";
  std::cout << std::left << std::setw(40) << "case" << std::right << std::setw(12) << "mpmath s" << std::setw(12)
            << "netsor 1t" << std::setw(10) << "x (1t)" << std::setw(12) << "netsor 2t" << std::setw(10) << "x (2t)"
            << "\n";
  for (const auto& [key, by_threads] : g_netsor) {
    // The black-box variants are compared with the same mpmath case.
    std::string peer_key = key;
    if (const auto p = peer_key.find("_blackbox"); p != std::string::npos) peer_key.erase(p, 9);
    const auto it = peer.find(peer_key);
    if (it == peer.end()) continue;
    std::cout << std::left << std::setw(40) << ("ratio " + key) << std::right << std::setprecision(4) << std::setw(12)
              << it->second;
    for (unsigned th : {1u, 2u}) {
      const auto jt = by_threads.find(th);
      if (jt == by_threads.end()) {
        std::cout << std::setw(12) << "-" << std::setw(10) << "-";
      } else {
        std::cout << std::setw(12) << jt->second << std::setw(10) << std::setprecision(0) << std::fixed
                  << it->second / jt->second << std::defaultfloat;
      }
    }
    std::cout << "\n";
  }
  std::cout << std::flush;
}

// The alternative: Boost.Math's double-exponential integrators, built inside the precision scope (STYLE.md:
// Boost 1.74 caches nodes per object), with the Gaussian weight in the integrand, at tolerance 10^-digits.
// Boost 1.74 indexes past its row table (a crash) when an integral needs more halvings than max_refinements
// (default 9, which 100-digit tanh^2 does): hence kBoostRefinements.
constexpr std::size_t kBoostRefinements = 16;
void boost_de(unsigned digits) {
  netsor::precision_scope scope(digits + kGuardDigits);
  const Real inv_sqrt_2pi = 1 / sqrt(2 * boost::math::constants::pi<Real>());
  const Real tol = pow(Real(10), -static_cast<int>(digits));
  {
    const auto t0 = std::chrono::steady_clock::now();
    boost::math::quadrature::sinh_sinh<Real> integrator(kBoostRefinements);
    const auto f = [&](const Real& z) {
      const Real t = tanh(z);
      return Real(t * t * exp(-z * z / 2));
    };
    Real v = integrator.integrate(f, tol) * inv_sqrt_2pi;
    const double cold = seconds_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    v = integrator.integrate(f, tol) * inv_sqrt_2pi;
    std::cout << "boost sinh_sinh tanh2_1d digits=" << digits << std::setprecision(4) << " cold=" << cold
              << " warm=" << seconds_since(t1) << " agree=" << std::setprecision(3) << agree(v, Real(kTanh2Ref))
              << "\n";
  }
  {
    const auto t0 = std::chrono::steady_clock::now();
    boost::math::quadrature::exp_sinh<Real> integrator(kBoostRefinements);
    const auto f = [&](const Real& z) { return Real(z * z * exp(-z * z / 2)); };
    Real v = integrator.integrate(f, tol) * inv_sqrt_2pi;
    const double cold = seconds_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    v = integrator.integrate(f, tol) * inv_sqrt_2pi;
    std::cout << "boost exp_sinh relu2_1d digits=" << digits << std::setprecision(4) << " cold=" << cold
              << " warm=" << seconds_since(t1) << " agree=" << std::setprecision(3) << agree(v, Real(1) / 2) << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, mpmath = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    if (std::strcmp(argv[i], "--mpmath") == 0) mpmath = true;
  }
  std::cout << "# working precision = digits + " << kGuardDigits << "; seconds = warm = best of repeated calls\n";
  if (quick) {
    tanh2_1d(50, 1, 20);
    tanh2_1d(50, 1, 20, true);
    if (mpmath) mpmath_side_by_side(true);
    return 0;
  }
  for (unsigned d : {30u, 50u, 100u}) tanh2_1d(d, 1, 20);
  tanh2_1d(50, 2, 20);
  tanh2_1d(50, 1, 20, true);
  tanh2_1d(50, 2, 20, true);
  tanh2_1d(300, 1, 3);
  tanh2_1d(300, 2, 3);
  tanh2_1d(300, 1, 3, true);
  relu2_1d(50, 10);
  relu2_1d(300, 3);
  for (unsigned threads : {1u, 2u}) {
    tanh_tanh_2d(30, threads, 3);
    tanh_tanh_2d(50, threads, 3);
    tanh_tanh_2d(50, threads, 2, true);
  }
  mlp_kernel(30, 1);
  mlp_kernel(30, 2);
  boost_de(50);
  boost_de(100);
  if (mpmath) mpmath_side_by_side(false);
  return 0;
}

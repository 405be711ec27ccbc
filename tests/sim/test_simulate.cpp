// Tests of the finite-width simulator against facts that hold at every width, reproducibility, and
// convergence to known limits.
#include <netsor/netsor.hpp>
#include <netsor/programs.hpp>
#include <netsor/sim/random.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace netsor;

TEST_CASE("the ziggurat normal generator has the moments and distribution of N(0,1)") {
  detail::Xoshiro256 rng(detail::stream_key(42, 0, 0, 0));
  const long count = 2'000'000;
  std::vector<double> z(count);
  detail::fill_normal(rng, z.data(), count, 1.0);
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (double v : z) {
    m1 += v;
    m2 += v * v;
    m3 += v * v * v;
    m4 += v * v * v * v;
  }
  m1 /= count, m2 /= count, m3 /= count, m4 /= count;
  // Standard errors: sqrt(1/N), sqrt(2/N), sqrt(15/N), sqrt(96/N); allow 5 of them.
  const double se = 1 / std::sqrt(static_cast<double>(count));
  CHECK(std::abs(m1) < 5 * se);
  CHECK(std::abs(m2 - 1) < 5 * std::sqrt(2.0) * se);
  CHECK(std::abs(m3) < 5 * std::sqrt(15.0) * se);
  CHECK(std::abs(m4 - 3) < 5 * std::sqrt(96.0) * se);
  // Kolmogorov–Smirnov distance to Phi: the 0.1% critical value is 1.95/sqrt(N).
  std::sort(z.begin(), z.end());
  double ks = 0;
  for (long i = 0; i < count; i += 97) {
    const double cdf = 0.5 * std::erfc(-z[i] / std::sqrt(2.0));
    ks = std::max({ks, std::abs(cdf - static_cast<double>(i) / count), std::abs(cdf - static_cast<double>(i + 1) / count)});
  }
  CHECK(ks < 1.95 * se);
  // The tail beyond the base strip (|z| > 3.654) is sampled: P = 2.58e-4.
  const double tail = static_cast<double>(std::count_if(z.begin(), z.end(), [](double v) { return std::abs(v) > 3.6541528853610088; })) / count;
  CHECK(std::abs(tail - 2.5808e-4) < 5 * std::sqrt(2.58e-4 / count));
}

TEST_CASE("orthogonal matrices preserve norms exactly; Gaussian ones scale them by the variance") {
  Program p;
  Dim n = p.dim("n");
  Matrix O = p.orthogonal_matrix("O", n);
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = 3});
  Vector x = p.gaussian_vector("x", n);
  Vector ox = O * x;
  Vector otox = O.T() * ox;
  Vector wx = W * x;
  Scalar xx = p.moment("xx", x * x), oo = p.moment("oo", ox * ox), ww = p.moment("ww", wx * wx);
  Scalar back = p.moment("back", (otox - x) * (otox - x));
  Simulation sim = simulate(p, {.n = 200, .trials = 40, .seed = 3});
  for (int t = 0; t < sim.trials(); ++t) {
    CHECK(sim[oo].samples[t] == doctest::Approx(sim[xx].samples[t]).epsilon(1e-12));
    CHECK(sim[back].samples[t] < 1e-24);
  }
  // E[(1/n)|Wx|^2 | x] = variance (1/n)|x|^2: the ratio averages to 3 within 4 standard errors.
  std::vector<double> ratio(sim.trials());
  for (int t = 0; t < sim.trials(); ++t) ratio[t] = sim[ww].samples[t] / sim[xx].samples[t];
  Stat r = make_stat(ratio);
  CHECK(std::abs(r.mean - 3) < 4 * r.error);
  // O^T O = I at finite width
  Eigen::VectorXd ov = sim.vector(ox, 0);
  CHECK(ov.norm() == doctest::Approx(sim.vector(x, 0).norm()).epsilon(1e-12));
}

TEST_CASE("Wigner matrices are symmetric with the GOE variances") {
  Program p;
  Dim n = p.dim("n");
  Matrix S = p.wigner_matrix("S", n);
  Vector x = p.gaussian_vector("x", n);
  Vector y = p.gaussian_vector("y", n);
  Scalar a = p.moment("ySx", y * (S * x)), b = p.moment("xSy", x * (S * y));
  Simulation sim = simulate(p, {.n = 300, .trials = 4, .seed = 11});
  for (int t = 0; t < 4; ++t) CHECK(sim[a].samples[t] == doctest::Approx(sim[b].samples[t]).epsilon(1e-12));
  // The matrix itself: symmetric, off-diagonal variance 1/n, diagonal variance 2/n.
  auto tv = sim.run_trial(0);
  const Eigen::MatrixXd& M = tv.matrices[S.id()];
  CHECK((M - M.transpose()).norm() == 0);
  double off = 0, diag = 0;
  const long N = M.rows();
  for (long i = 0; i < N; ++i) {
    diag += M(i, i) * M(i, i);
    for (long j = i + 1; j < N; ++j) off += M(i, j) * M(i, j);
  }
  off /= N * (N - 1) / 2.0;
  diag /= N;
  CHECK(off * N == doctest::Approx(1).epsilon(0.02));     // 44850 samples: relative se 0.7%
  CHECK(diag * N == doctest::Approx(2).epsilon(0.35));     // 300 samples: relative se 8%
}

TEST_CASE("correlated input families have the requested covariance") {
  Program p;
  Dim n = p.dim("n");
  auto [a, b] = p.gaussian_vectors<2>({"a", "b"}, n, {{2, -0.6}, {-0.6, 1}});
  Scalar ab = p.moment("ab", a * b), aa = p.moment("aa", a * a), bb = p.moment("bb", b * b);
  Simulation sim = simulate(p, {.n = 4096, .trials = 16, .seed = 5});
  CHECK(std::abs(sim[ab].mean + 0.6) < 4 * sim[ab].error);
  CHECK(std::abs(sim[aa].mean - 2) < 4 * sim[aa].error);
  CHECK(std::abs(sim[bb].mean - 1) < 4 * sim[bb].error);
}

TEST_CASE("same seed, same numbers, whatever the thread count") {
  auto e = programs::make_program("mlp-backward-tanh");
  Simulation s1 = simulate(e.program, {.n = 256, .trials = 6, .seed = 99, .threads = 1});
  Simulation s2 = simulate(e.program, {.n = 256, .trials = 6, .seed = 99, .threads = 2});
  Simulation s3 = simulate(e.program, {.n = 256, .trials = 6, .seed = 99, .threads = 5});
  Simulation s4 = simulate(e.program, {.n = 256, .trials = 6, .seed = 100, .threads = 2});
  for (const auto& m : e.moments) {
    CHECK(s1[m].samples == s2[m].samples);
    CHECK(s1[m].samples == s3[m].samples);
    CHECK(s1[m].samples != s4[m].samples);
  }
  // Trials are independent of how many there are: trial 2 of a 6-trial run is trial 2 of a 3-trial run.
  Simulation s5 = simulate(e.program, {.n = 256, .trials = 3, .seed = 99});
  CHECK(s5[e.moments[0]].samples[2] == s1[e.moments[0]].samples[2]);
}

TEST_CASE("mean(expr) agrees with a Moment node and re-runs trials when vectors are not kept") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = W * x;
  Scalar s = p.moment("s", tanh(h) * h);
  Simulation kept = simulate(p, {.n = 128, .trials = 3, .seed = 1});
  Simulation rerun = simulate(p, {.n = 128, .trials = 3, .seed = 1, .keep_vectors = false});
  CHECK(kept.mean(tanh(h) * h).samples == kept[s].samples);
  CHECK(rerun.mean(tanh(h) * h).samples == kept[s].samples);
}

TEST_CASE("simulation errors name the width") {
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", Rational(1, 3));
  Matrix W = p.gaussian_matrix("W", m, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = W * x;
  (void)h;
  CHECK_THROWS_WITH_AS(simulate(p, {.n = 100}),
                       "simulate: width m = 1/3 n is not a positive integer at n = 100 (100/3)", invalid_argument);
  CHECK_THROWS_WITH_AS(simulate(p, {.n = 0}), "simulate: width n must be at least 1, got 0", invalid_argument);
  CHECK_THROWS_WITH_AS(simulate(p, {.n = 99, .trials = 0}), "simulate: trials must be at least 1, got 0",
                       invalid_argument);
  Program q;
  Dim nq = q.dim("n");
  Matrix big = q.gaussian_matrix("Big", nq, nq);
  Vector xq = q.gaussian_vector("x", nq);
  Vector y = big * xq;
  (void)y;
  try {
    simulate(q, {.n = 10'000'000});
    FAIL("expected a memory error");
  } catch (const invalid_argument& e) {
    const std::string msg = e.what();
    CHECK(msg.find("simulate: at n = 10000000 one trial needs") == 0);
    CHECK(msg.find("largest matrix Big (10000000 x 10000000): 800000.00 GB") != std::string::npos);
    CHECK(msg.find("use a smaller n") != std::string::npos);
  }
}

TEST_CASE("a 10 000-node program simulates") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = 0.5});
  Vector x = p.gaussian_vector("x", n);
  for (int i = 0; i < 5000; ++i) x = tanh(W * x) + 0.5 * x;
  Scalar s = p.moment("s", x * x);
  Simulation sim = simulate(p, {.n = 64, .trials = 2, .seed = 1});
  CHECK(std::isfinite(sim[s].mean));
}

TEST_CASE("MLP moments converge to their limits like n^-1/2") {
  // relu MLP with sigma_w^2 = 2, no bias, input N(0,1): q^l = |h^l|^2/n -> 1 at every layer (exactly:
  // q^1 = 2 E[x^2]/... = 2 * 1 * (1/2)... ; q^1 = sigma_w^2 E x^2 = 2, then q^{l+1} = 2 E relu(h)^2 = q^l).
  auto e = programs::mlp("relu", 3, 2, 0);
  const double limit = 2;
  // Agreement at n = 2048 within 4 standard errors, for every layer.
  Simulation s = simulate(e.program, {.n = 2048, .trials = 16, .seed = 2024});
  for (const auto& m : e.moments) CHECK(std::abs(s[m].mean - limit) < 4 * s[m].error);
  // The root-mean-square error over trials shrinks like n^-1/2 from n = 256 to 4096: fitted slope in [-0.75, -0.25].
  std::vector<double> logn, logerr;
  for (long n : {256L, 1024L, 4096L}) {
    Simulation sn = simulate(e.program, {.n = n, .trials = 16, .seed = 7});
    double mse = 0;
    for (double v : sn[e.moments[2]].samples) mse += (v - limit) * (v - limit);
    logn.push_back(std::log(static_cast<double>(n)));
    logerr.push_back(0.5 * std::log(mse / 16));
  }
  const double slope = (logerr.back() - logerr.front()) / (logn.back() - logn.front());
  CAPTURE(slope);
  CHECK(slope < -0.25);
  CHECK(slope > -0.75);
}

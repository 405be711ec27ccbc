// Tests of words, exact finite-width traces, and the freeness test (positive and negative cases).
#include <netsor/free/freeness_check.hpp>
#include <netsor/netsor.hpp>
#include <netsor/sim/trace.hpp>

#include <doctest/doctest.h>

#include <sstream>

using namespace netsor;

TEST_CASE("words: shapes, transposes, printing and errors naming the factors") {
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", 2);
  Matrix W = p.gaussian_matrix("W", m, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = (W * x).named("h");
  Word j = diag(h) * W;
  CHECK(j.to_string() == "diag(h) W");
  CHECK(j.rows() == m);
  CHECK(j.cols() == n);
  Word c = j * j.T();
  CHECK(c.to_string() == "diag(h) W W^T diag(h)");
  CHECK(c.square());
  CHECK_FALSE(j.square());
  CHECK_THROWS_WITH_AS(W * W, "word product (W) * (W): the left factor has n columns but the right factor has m rows",
                       invalid_program);
  CHECK_THROWS_WITH_AS(diag(x) * W, "word product (diag(x)) * (W): the left factor has n columns but the right factor has m rows",
                       invalid_program);
  Simulation sim = simulate(p, {.n = 16, .trials = 2, .seed = 1});
  CHECK_THROWS_WITH_AS(sim.trace(j), "Simulation::trace: the word diag(h) W is m x n, not square", invalid_program);
  CHECK_THROWS_WITH_AS(pow(j, 2), "pow(word, k): the word diag(h) W is not square", invalid_program);
}

TEST_CASE("exact traces agree with a direct dense computation") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Matrix V = p.gaussian_matrix("V", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector y = tanh(W * x);
  Simulation sim = simulate(p, {.n = 40, .trials = 2, .seed = 3});
  const auto tv = sim.run_trial(1);
  const Eigen::MatrixXd& Wm = tv.matrices[W.id()];
  const Eigen::MatrixXd& Vm = tv.matrices[V.id()];
  const Eigen::VectorXd& yv = tv.vectors[y.id()];
  const Eigen::MatrixXd D = yv.asDiagonal();
  const Word words[] = {Word(W), W * W.T(), diag(y) * W * diag(y) * V.T(), W * V * W.T() * diag(y) * V,
                        pow(W * diag(y), 3) * V, diag(y) * diag(x)};
  const Eigen::MatrixXd xd = tv.vectors[x.id()].asDiagonal();
  const Eigen::MatrixXd dense[] = {Wm, Wm * Wm.transpose(), D * Wm * D * Vm.transpose(), Wm * Vm * Wm.transpose() * D * Vm,
                                   Wm * D * Wm * D * Wm * D * Vm, D * xd};
  for (int i = 0; i < 6; ++i) {
    CAPTURE(words[i].to_string());
    const double t = detail::trace_of_product(detail::word_blocks(words[i], tv, sim.widths()));
    CHECK(t == doctest::Approx(dense[i].trace()).epsilon(1e-12));
  }
  // sim.trace averages the normalized trace over trials
  Stat s = sim.trace(W * W.T());
  CHECK(s.samples[1] == doctest::Approx((Wm * Wm.transpose()).trace() / 40).epsilon(1e-12));
}

TEST_CASE("sim.trace of W W^T converges to 1 and of (W W^T)^2 to 2 (Marchenko–Pastur moments)") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Simulation sim = simulate(p, {.n = 512, .trials = 8, .seed = 5});
  Stat t1 = sim.trace(W * W.T()), t2 = sim.trace(pow(W * W.T(), 2)), t3 = sim.trace(pow(W * W.T(), 3));
  CHECK(std::abs(t1.mean - 1) < 4 * t1.error + 1e-3);
  CHECK(std::abs(t2.mean - 2) < 4 * t2.error + 2.0 / 512);  // bias O(1/n)
  CHECK(std::abs(t3.mean - 5) < 4 * t3.error + 10.0 / 512);
}

TEST_CASE("check_freeness: the Free Independence Principle passes for {W, W^T} vs {diag(h), diag(tanh h)}") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = (W * x).named("h");
  Vector y = tanh(h).named("y");
  FreenessReport r = check_freeness(p, {W, W.T()}, {diag(h), diag(y)},
                                    {.degree = 4, .widths = {128, 256, 512}, .trials = 8, .seed = 1, .max_block = 1});
  std::ostringstream os;
  os << r;
  INFO(os.str());
  CHECK(r.free);
  CHECK(r.rows.size() == 9);  // alternating words of degree <= 4, up to rotation and transposition
  CHECK(os.str().find("verdict: asymptotically free") != std::string::npos);
}

TEST_CASE("check_freeness: Haar {O, O^T} vs the diagonal matrices of O x (Hayase–Collins) passes") {
  Program p;
  Dim n = p.dim("n");
  Matrix O = p.orthogonal_matrix("O", n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = (O * x).named("h");
  Vector y = tanh(h).named("y");
  FreenessReport r = check_freeness(p, {O, O.T()}, {diag(h), diag(y)},
                                    {.degree = 4, .widths = {128, 256, 512}, .trials = 8, .seed = 2, .max_block = 1});
  std::ostringstream os;
  os << r;
  INFO(os.str());
  CHECK(r.free);
}

TEST_CASE("check_freeness fails where freeness fails") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector y = p.gaussian_vector("y", n);
  SUBCASE("a family against itself") {
    FreenessReport r = check_freeness(p, {W, W.T()}, {W, W.T()},
                                      {.degree = 2, .widths = {64, 128, 256}, .trials = 6, .seed = 1, .max_block = 1});
    std::ostringstream os;
    os << r;
    INFO(os.str());
    CHECK_FALSE(r.free);
    CHECK(os.str().find("verdict: NOT free") != std::string::npos);
  }
  SUBCASE("two correlated diagonal matrices declared as separate families") {
    FreenessReport r = check_freeness(p, {diag(x)}, {diag(x + 0.1 * y)},
                                      {.degree = 4, .widths = {64, 128, 256}, .trials = 6, .seed = 1, .max_block = 1});
    std::ostringstream os;
    os << r;
    INFO(os.str());
    CHECK_FALSE(r.free);
  }
}

TEST_CASE("check_freeness rejects bad input with clear messages") {
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", 2);
  Matrix W = p.gaussian_matrix("W", m, n);
  Vector x = p.gaussian_vector("x", n);
  CHECK_THROWS_WITH_AS(check_freeness(p, {W}, {diag(x)}),
                       "check_freeness: the word W is not square; centered elements need square words (use e.g. W W^T "
                       "for a rectangular W)",
                       invalid_program);
  CHECK_THROWS_WITH_AS(check_freeness(p, {W.T() * W}, {diag(x)}, {.widths = {64}}),
                       "check_freeness: at least two widths are needed to fit a decay, got 1", invalid_argument);
}

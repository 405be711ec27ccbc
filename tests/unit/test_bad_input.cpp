// tests/unit/test_bad_input.cpp — the bad-input battery: every mistake a user can make, and the exact message
// netsor answers with. Nothing may crash, hang, or return a number; each message names the node, the width or
// the argument. Two items live elsewhere because they need the executable: `netsor check run` with an unknown
// check and a script that does not compile (tests/CMakeLists.txt: cli_unknown_check, cli_run_script_with_errors).
#include <netsor/netsor.hpp>
#include <netsor/programs.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

using namespace netsor;

namespace {
const double nan_v = std::numeric_limits<double>::quiet_NaN();
const double inf_v = std::numeric_limits<double>::infinity();

// The limit is evaluated on access; the message comes from the first Moment asked for.
template <class Build>
void limit_of_moment(Build build) {
  Program p;
  Dim n = p.dim("n");
  Scalar s = build(p, n);
  Limit lim = limit(p, {.digits = 20});
  (void)lim[s];
}
}  // namespace

TEST_CASE("bad input: widths") {
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", 2);
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector u = p.gaussian_vector("u", m);
  CHECK_THROWS_WITH_AS(Vector(tanh(x) * u), "Nonlin: width mismatch: 'x' (width n) and 'u' (width m) in tanh(x) * u",
                       invalid_program);
  CHECK_THROWS_WITH_AS(W * u, "MatMul W * u: W is n x n but 'u' has width m, not n", invalid_program);
  CHECK_THROWS_WITH_AS(p.dim("k", -1), "dim 'k': the ratio must be positive and finite, got -1", invalid_program);
  CHECK_THROWS_WITH_AS(p.dim("k", nan_v), "dim 'k': the ratio must be positive and finite, got nan", invalid_program);
}

TEST_CASE("bad input: handles from another program and duplicate names") {
  Program p, q;
  Dim n = p.dim("n");
  Dim nq = q.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector xq = q.gaussian_vector("xq", nq);
  CHECK_THROWS_WITH_AS(W.T() * xq, "MatMul W^T * vector: handle 'xq' belongs to another program", invalid_program);
  Scalar s = p.moment("s", x * x);
  CHECK_THROWS_WITH_AS(p.moment("s", tanh(x)), "name 's' is used twice: already the name of node 2", invalid_program);
  CHECK_THROWS_WITH_AS(Vector(tanh(x).named("W")), "name 'W' is used twice: already the name of node 0",
                       invalid_program);
  Simulation sim = simulate(q, {.n = 8, .trials = 2, .seed = 1});
  CHECK_THROWS_WITH_AS(sim[s], "Simulation[]: handle 's' belongs to another program", invalid_program);
}

TEST_CASE("bad input: words that are not square, products of words with mismatched widths") {
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", 2);
  Matrix V = p.gaussian_matrix("V", m, n);
  Vector x = p.gaussian_vector("x", n);
  Vector y = tanh(V * x).named("y");
  Limit lim = limit(p, {.digits = 20});
  CHECK_THROWS_WITH_AS(lim.trace(diag(y) * V), "Limit::trace: the word diag(y) V is m x n, not square",
                       invalid_program);
  Simulation sim = simulate(p, {.n = 16, .trials = 2, .seed = 1});
  CHECK_THROWS_WITH_AS(sim.trace(diag(y) * V), "Simulation::trace: the word diag(y) V is m x n, not square",
                       invalid_program);
  CHECK_THROWS_WITH_AS(Word(V) * Word(V),
                       "word product (V) * (V): the left factor has n columns but the right factor has m rows",
                       invalid_program);
}

TEST_CASE("bad input: NaN, infinite and negative variances; covariances that are not positive semidefinite") {
  Program p;
  Dim n = p.dim("n");
  CHECK_THROWS_WITH_AS(p.gaussian_matrix("W", n, n, {.variance = nan_v}),
                       "gaussian_matrix 'W': variance must be finite and non-negative, got nan", invalid_argument);
  CHECK_THROWS_WITH_AS(p.gaussian_vector("x", n, {.variance = inf_v}),
                       "gaussian_vector 'x': variance must be finite and non-negative, got inf", invalid_argument);
  CHECK_THROWS_WITH_AS(p.gaussian_vector("x", n, {.variance = -0.5}),
                       "gaussian_vector 'x': variance must be finite and non-negative, got -0.5", invalid_argument);
  CHECK_THROWS_WITH_AS(p.gaussian_vectors<2>({"a", "b"}, n, {{1, nan_v}, {nan_v, 1}}),
                       "gaussian_vectors {a, b}: covariance entry (0,1) is not finite, got nan", invalid_argument);
  // Every pairwise correlation is admissible, the 3 x 3 matrix is not.
  CHECK_THROWS_WITH_AS(p.gaussian_vectors<3>({"a", "b", "c"}, n, {{1, 0.9, -0.9}, {0.9, 1, 0.9}, {-0.9, 0.9, 1}}),
                       "gaussian_vectors {a, b, c}: covariance is not positive semidefinite (negative pivot at c)",
                       invalid_argument);
  Vector x = p.gaussian_vector("x", n);
  CHECK_THROWS_WITH_AS(Vector(tanh(x) * nan_v), "a constant in an expression must be finite, got nan",
                       invalid_argument);
  CHECK_THROWS_WITH_AS(Vector(pow(x, inf_v)), "pow: the exponent must be finite, got inf", invalid_argument);
}

TEST_CASE("bad input: digits, widths and trials outside what can be delivered") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = W * x;
  p.moment("q", h * h);
  CHECK_THROWS_WITH_AS(limit(p, {.digits = 14}), "limit: digits must be between 15 and 1000, got 14",
                       invalid_argument);
  CHECK_THROWS_WITH_AS(limit(p, {.digits = 1001}), "limit: digits must be between 15 and 1000, got 1001",
                       invalid_argument);
  CHECK_THROWS_WITH_AS(simulate(p, {.n = 0, .trials = 2, .seed = 1}), "simulate: width n must be at least 1, got 0",
                       invalid_argument);
  CHECK_THROWS_WITH_AS(simulate(p, {.n = 8, .trials = 0, .seed = 1}), "simulate: trials must be at least 1, got 0",
                       invalid_argument);
  // 2^24 x 2^24 doubles: refused before any allocation (the available memory in the message varies by machine).
  std::string what;
  try {
    simulate(p, {.n = 1L << 24, .trials = 2, .seed = 1});
  } catch (const invalid_argument& e) {
    what = e.what();
  }
  INFO(what);
  CHECK(what.rfind("simulate: at n = 16777216 one trial needs 2251800.08 GB (largest matrix W (16777216 x 16777216): "
                   "2251799.81 GB) but only ",
                   0) == 0);
  CHECK(what.find("GB of memory is available; use a smaller n") != std::string::npos);
  CHECK_THROWS_WITH_AS(check_freeness(p, {W}, {diag(h)}, {.degree = 1, .widths = {16, 32}, .trials = 2, .seed = 1}),
                       "check_freeness: degree must be at least 2, got 1", invalid_argument);
}

TEST_CASE("bad input: limits the theory does not cover are refused, not approximated") {
  // A Haar orthogonal transpose applied to something that is not O h.
  CHECK_THROWS_WITH_AS(limit_of_moment([](Program& p, Dim n) {
                         Matrix O = p.orthogonal_matrix("O", n);
                         Vector x = p.gaussian_vector("x", n);
                         Vector y = tanh(O * x).named("y");
                         Vector g = (O.T() * y).named("g");
                         return p.moment("s", g * x);
                       }),
                       "limit: g = O^T * y: the limit of a Haar orthogonal transpose is covered only as O^T (O h) = "
                       "h; here 'y' is not a product by O",
                       invalid_program);
  // Four independent Gaussian directions after reduction.
  CHECK_THROWS_WITH_AS(limit_of_moment([](Program& p, Dim n) {
                         auto [a, b, c, d] = p.gaussian_vectors<4>(
                             {"a", "b", "c", "d"}, n, {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}});
                         return p.moment("s", tanh(a) * tanh(b) * tanh(c) * tanh(a + d));
                       }),
                       "moment 's': the expectation needs a 4-dimensional Gaussian integral after reduction; netsor "
                       "integrates up to 3 dimensions (simplify the quantity, or split it into expectations of fewer "
                       "correlated vectors)",
                       convergence_error);
}

TEST_CASE("bad input: expectations that do not exist are refused; their simulation is not a number") {
  // An odd 1/x would integrate to its principal value 0; the expectation does not exist.
  CHECK_THROWS_WITH_AS(limit_of_moment([](Program& p, Dim n) { return p.moment("s", 1 / p.gaussian_vector("x", n)); }),
                       "moment 's': the expression divides by a Gaussian quantity, which vanishes with positive "
                       "density: 1/x is not integrable against a Gaussian, so the expectation does not exist",
                       invalid_program);
  CHECK_THROWS_WITH_AS(limit_of_moment([](Program& p, Dim n) { return p.moment("s", log(p.gaussian_vector("x", n))); }),
                       "moment 's': the expression takes the log of a Gaussian quantity, which is negative with "
                       "positive probability: the expectation is not a real number",
                       invalid_program);
  CHECK_THROWS_WITH_AS(limit_of_moment([](Program& p, Dim n) { return p.moment("s", pow(p.gaussian_vector("x", n), 0.5)); }),
                       "moment 's': the expression raises a Gaussian quantity, which is negative with positive "
                       "probability, to a non-integer or negative power: the expectation is not a real number",
                       invalid_program);
  // Not a number inside a nonlinearity: log(tanh(x) + 1/2) for x < -atanh(1/2).
  CHECK_THROWS_WITH_AS(
      limit_of_moment([](Program& p, Dim n) { return p.moment("s", log(tanh(p.gaussian_vector("x", n)) + 0.5)); }),
      "moment 's': the integrand is not a finite number at some points (log or sqrt of a negative value, a division "
      "by zero, an overflow): the expectation is not defined",
      invalid_program);
  // The same quantities are well defined where they should be: E sqrt|x| = 2^(1/4) Gamma(3/4) / sqrt(pi).
  Program ok;
  Dim n = ok.dim("n");
  Scalar r = ok.moment("r", sqrt(abs(ok.gaussian_vector("x", n))));
  const double closed = std::pow(2.0, 0.25) * std::tgamma(0.75) / std::sqrt(std::acos(-1.0));
  CHECK(std::abs(static_cast<double>(limit(ok, {.digits = 20})[r].value) - closed) < 1e-15);

  Program bad;
  Dim nb = bad.dim("n");
  Scalar s = bad.moment("s", log(bad.gaussian_vector("x", nb)));
  Simulation sim = simulate(bad, {.n = 64, .trials = 2, .seed = 1});
  CHECK_THROWS_WITH_AS(sim[s],
                       "Simulation[]: moment 's' is not a finite number in trial 0 at n = 64 (a nonlinearity gave NaN "
                       "or infinity: log or sqrt of a negative value, a division by zero, an overflow)",
                       invalid_program);
}

TEST_CASE("bad input: unknown names") {
  Program p;
  Dim n = p.dim("n");
  Vector x = p.gaussian_vector("x", n);
  CHECK_THROWS_WITH_AS(activation("relu6", x),
                       "unknown activation 'relu6'; known: linear, tanh, sigmoid, erf, relu, abs, step, exp, sin, "
                       "cos, softplus, gelu",
                       invalid_argument);
  std::string what;
  try {
    programs::make_program("mlp-tahn");
  } catch (const invalid_argument& e) {
    what = e.what();
  }
  CHECK(what.rfind("unknown program 'mlp-tahn'; the catalogue has: ", 0) == 0);
}

// Tests of the tensor-program DSL: building, naming, printing, errors (exact messages), deep programs.
#include <netsor/netsor.hpp>
#include <netsor/program/detail/program_data.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace netsor;

TEST_CASE("the shared/API.md program builds and prints one node a line") {
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", Rational(1, 2));
  Matrix W = p.gaussian_matrix("W", n, n);
  Matrix V = p.gaussian_matrix("V", m, n, {.variance = 2});
  Matrix O = p.orthogonal_matrix("O", n);
  Matrix S = p.wigner_matrix("S", n);
  Vector x = p.gaussian_vector("x", n);
  Vector u = p.gaussian_vector("u", n, {.variance = 2});
  auto [a, b] = p.gaussian_vectors<2>({"a", "b"}, n, {{1, 0.5}, {0.5, 1}});
  Vector h = W * x;
  Vector y = tanh(h);
  Vector g = W.T() * y;
  Vector z = y * g + 0.5 * h - 1;
  Scalar s = p.moment("s", y * y);
  Vector w = tanh(s * h);
  Vector k = V * x;
  (void)O, (void)S, (void)u, (void)a, (void)b, (void)z, (void)w;
  CHECK(k.dim() == m);
  CHECK(m.ratio() == Rational(1, 2));
  CHECK(V.T().rows() == n);
  CHECK(V.T().cols() == m);
  const std::string text = p.to_string();
  CHECK(text.find("m : width = 1/2 n") != std::string::npos);
  CHECK(text.find("V : gaussian matrix m x n, variance 2") != std::string::npos);
  CHECK(text.find("a : input in n, N(0, 1), covariance with b: 1/2") != std::string::npos);
  CHECK(text.find(" = W^T * ") != std::string::npos);
  CHECK(text.find("s = moment over n of ") != std::string::npos);
  CHECK(text.find("tanh(s * ") != std::string::npos);
  // one Nonlin node for the whole multi-input expression
  const auto& d = p.data();
  CHECK(d.nodes[z.id()].kind == detail::NodeKind::Nonlin);
  CHECK(d.nodes[z.id()].expr.leaves(detail::Op::Vec).size() == 3);
}

TEST_CASE("decimal literals are read as the decimals they print as") {
  CHECK(decimal_rational(0.05) == Rational(1, 20));
  CHECK(decimal_rational(1.5) == Rational(3, 2));
  CHECK(decimal_rational(-0.1) == Rational(-1, 10));
  CHECK(decimal_rational(1e-30) == Rational(1, Integer("1000000000000000000000000000000")));
  CHECK(decimal_rational(123456789.0) == Rational(123456789));
  CHECK_THROWS_AS(decimal_rational(std::nan("")), invalid_argument);
  CHECK(to_rational(0.1) != Rational(1, 10));  // the exact dyadic value is different
  CHECK(static_cast<double>(to_rational(0.1)) == 0.1);
}

TEST_CASE("names: explicit, automatic and renamed") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Vector x = p.gaussian_vector("x", n);
  Vector h = (W * x).named("h");
  CHECK(h.name() == "h");
  Vector y = tanh(h);
  CHECK(y.name() == "v2");  // automatic names count Nonlin/MatMul nodes
  Vector z = tanh(y).named("z");
  CHECK(z.name() == "z");
  Vector q = p.vector("q", z * z);
  CHECK(q.name() == "q");
}

TEST_CASE("ill-formed programs throw invalid_program naming the nodes and widths") {
  Program p;
  Dim n = p.dim("n");
  Dim m = p.dim("m", 2);
  Matrix W = p.gaussian_matrix("W", m, n);
  Vector x = p.gaussian_vector("x", n);
  Vector y = p.gaussian_vector("y", m);

  SUBCASE("matrix applied to a vector of the wrong width") {
    CHECK_THROWS_WITH_AS(W * y, "MatMul W * y: W is m x n but 'y' has width m, not n",
                         invalid_program);
    CHECK_THROWS_WITH_AS(W.T() * x, "MatMul W^T * x: W^T is n x m but 'x' has width n, not m",
                         invalid_program);
  }
  SUBCASE("width mismatch inside a Nonlin") {
    CHECK_THROWS_WITH_AS(Vector(x + y), "Nonlin: width mismatch: 'x' (width n) and 'y' (width m) in x + y",
                         invalid_program);
    CHECK_THROWS_WITH_AS(p.moment("bad", x * y),
                         "moment 'bad': width mismatch: 'x' (width n) and 'y' (width m) in x * y", invalid_program);
  }
  SUBCASE("a name used twice") {
    CHECK_THROWS_WITH_AS(p.gaussian_vector("x", n), "name 'x' is used twice: already the name of node 1",
                         invalid_program);
    CHECK_THROWS_WITH_AS(p.gaussian_matrix("n", n, n), "name 'n' is used twice: already the name of a dimension",
                         invalid_program);
    CHECK_THROWS_WITH_AS(p.dim("W"), "name 'W' is used twice", invalid_program);
  }
  SUBCASE("a handle from another program") {
    Program q;
    Dim nq = q.dim("n");
    Vector xq = q.gaussian_vector("xq", nq);
    CHECK_THROWS_WITH_AS(W * xq, "MatMul W * vector: handle 'xq' belongs to another program", invalid_program);
    CHECK_THROWS_WITH_AS(Vector(x + xq), "expression '+': operands belong to different programs", invalid_program);
    CHECK_THROWS_WITH_AS(p.gaussian_vector("z", nq),
                         "gaussian_vector 'z': dimension handle belongs to another program", invalid_program);
    CHECK_THROWS_WITH_AS(p.moment("t", xq * xq), "moment 't': expression belongs to another program",
                         invalid_program);
  }
  SUBCASE("an expression without vectors has no width") {
    Scalar s = p.moment("s", x * x);
    CHECK_THROWS_WITH_AS(Vector(s * 2), "Nonlin: the expression s * 2 has no vector input, so its width is unknown",
                         invalid_program);
  }
  SUBCASE("bad covariances and variances") {
    CHECK_THROWS_WITH_AS(p.gaussian_vectors<2>({"a", "b"}, n, {{1, 2}, {2, 1}}),
                         "gaussian_vectors {a, b}: covariance is not positive semidefinite (negative pivot at b)",
                         invalid_argument);
    CHECK_THROWS_WITH_AS(p.gaussian_vectors<2>({"a", "b"}, n, {{1, 0.5}, {0.4, 1}}),
                         "gaussian_vectors {a, b}: covariance is not symmetric at (0,1)", invalid_argument);
    CHECK_THROWS_WITH_AS(p.gaussian_matrix("V", n, n, {.variance = -1}),
                         "gaussian_matrix 'V': variance must be finite and non-negative, got -1",
                         invalid_argument);
    CHECK_THROWS_AS(p.gaussian_vector("u", n, {.variance = std::nan("")}), invalid_argument);
    CHECK_THROWS_WITH_AS(p.dim("k", 0), "dim 'k': the ratio must be positive and finite, got 0", invalid_program);
  }
  SUBCASE("unknown activation name") {
    CHECK_THROWS_WITH_AS(activation("tahn", x),
                         "unknown activation 'tahn'; known: linear, tanh, sigmoid, erf, relu, abs, step, exp, sin, "
                         "cos, softplus, gelu",
                         invalid_argument);
  }
}

TEST_CASE("a 10 000-node program builds, prints and is destroyed without deep recursion") {
  Program p;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = 0.5});
  Vector x = p.gaussian_vector("x", n);
  for (int i = 0; i < 5000; ++i) {
    x = W * x;
    x = tanh(x) + 0.1 * x;
  }
  CHECK(p.size() == 10002);
  CHECK(p.to_string().size() > 100000);
  // A single 12 000-operation expression too (built from temporaries, which move rather than copy):
  VExpr e = x;
  for (int i = 0; i < 4000; ++i) e = tanh(std::move(e)) * 0.5 + x;
  Vector big = e;
  CHECK(p.data().nodes[big.id()].expr.nodes.size() > 12000);
  CHECK(p.data().expr_text(p.data().nodes[big.id()].expr).size() > 80000);
}

// catalogue.cpp — the named tensor programs of netsor (see programs.hpp).
#include <netsor/programs.hpp>

#include <cmath>

namespace netsor::programs {

const std::vector<std::string>& catalogue() {
  static const std::vector<std::string> names = {
      "worked-example-tanh", "worked-example-relu", "mlp-tanh", "mlp-relu", "mlp-backward-tanh",
      "resnet-relu",         "rnn-tanh",            "moment-feedback", "kernel-erf", "semicircle",
      "marchenko-pastur-1/2"};
  return names;
}

Entry make_program(const std::string& name) {
  if (name == "worked-example-tanh") return worked_example("tanh");
  if (name == "worked-example-relu") return worked_example("relu");
  if (name == "mlp-tanh") return mlp("tanh", 3, 1.5, 0.05);
  if (name == "mlp-relu") return mlp("relu", 3, 2, 0);
  if (name == "mlp-backward-tanh") return mlp_backward("tanh", 2, 1.5);
  if (name == "resnet-relu") return resnet("relu", 3);
  if (name == "rnn-tanh") return rnn("tanh", 3);
  if (name == "moment-feedback") return moment_feedback();
  if (name == "kernel-erf") return kernel("erf", 2, 1.5, 0.1, 0.5);
  if (name == "semicircle") return semicircle(8);
  if (name == "marchenko-pastur-1/2") return marchenko_pastur(Rational(1, 2), 4);
  std::string known;
  for (const auto& n : catalogue()) known += (known.empty() ? "" : ", ") + n;
  throw invalid_argument("unknown program '" + name + "'; the catalogue has: " + known);
}

Entry worked_example(const std::string& activation, double weight_variance) {
  Entry e;
  e.name = "worked-example-" + activation;
  e.description = "h = W x, y = " + activation + "(h), g = W^T y, u = W g (shared/MATH.md)";
  Program& p = e.program;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = weight_variance});
  Vector x = p.gaussian_vector("x", n);
  Vector h = p.matmul("h", W, x);
  Vector y = p.vector("y", netsor::activation(activation, h));
  Vector g = p.matmul("g", W.T(), y);
  Vector u = p.matmul("u", W, g);
  e.moments = {p.moment("x.g", x * g), p.moment("|g|^2", g * g), p.moment("y.u", y * u)};
  return e;
}

Entry mlp(const std::string& activation, int depth, double weight_variance, double bias_variance) {
  Entry e;
  e.name = "mlp-" + activation;
  e.description = std::to_string(depth) + "-layer " + activation + " MLP, sigma_w^2 = " + Param(weight_variance).text() +
                  ", sigma_b^2 = " + Param(bias_variance).text();
  Program& p = e.program;
  Dim n = p.dim("n");
  Vector x = p.gaussian_vector("x", n);
  Vector act = x;
  for (int l = 1; l <= depth; ++l) {
    const std::string s = std::to_string(l);
    Matrix W = p.gaussian_matrix("W" + s, n, n, {.variance = weight_variance});
    Vector wx = p.matmul("W" + s + "x", W, act);
    Vector h = wx;
    if (bias_variance > 0) {
      Vector b = p.gaussian_vector("b" + s, n, {.variance = bias_variance});
      h = p.vector("h" + s, wx + b);
    }
    e.moments.push_back(p.moment("q" + s, h * h));
    act = p.vector("x" + s, netsor::activation(activation, h));
  }
  return e;
}

Entry mlp_backward(const std::string& activation, int depth, double weight_variance) {
  Entry e;
  e.name = "mlp-backward-" + activation;
  e.description = std::to_string(depth) + "-layer " + activation + " MLP, forward and backward with the true W^T";
  Program& p = e.program;
  Dim n = p.dim("n");
  Vector x = p.gaussian_vector("x", n);
  std::vector<Matrix> Ws;
  std::vector<Vector> hs;
  Vector act = x;
  for (int l = 1; l <= depth; ++l) {
    const std::string s = std::to_string(l);
    Ws.push_back(p.gaussian_matrix("W" + s, n, n, {.variance = weight_variance}));
    hs.push_back(p.matmul("h" + s, Ws.back(), act));
    act = p.vector("x" + s, netsor::activation(activation, hs.back()));
  }
  // Backward: the output gradient is an independent direction v; dh^L = phi'(h^L) v, dx^{l-1} = W^{lT} dh^l.
  Vector v = p.gaussian_vector("v", n);
  Vector dh = p.vector("dh" + std::to_string(depth), activation_derivative(activation, hs.back()) * v);
  for (int l = depth; l >= 1; --l) {
    const std::string s = std::to_string(l);
    Vector dx = p.matmul("dx" + std::to_string(l - 1), Ws[l - 1].T(), dh);
    e.moments.push_back(p.moment("|dx" + std::to_string(l - 1) + "|^2", dx * dx));
    if (l == 1) {
      e.moments.push_back(p.moment("x.dx0", x * dx));
    } else {
      dh = p.vector("dh" + std::to_string(l - 1), activation_derivative(activation, hs[l - 2]) * dx);
      e.moments.push_back(p.moment("h" + std::to_string(l - 1) + ".dh", hs[l - 2] * dh));
    }
  }
  return e;
}

Entry resnet(const std::string& activation, int depth) {
  Entry e;
  e.name = "resnet-" + activation;
  e.description = std::to_string(depth) + "-block residual " + activation + " network, h^{l+1} = h^l + W^l phi(h^l)/sqrt(L)";
  Program& p = e.program;
  Dim n = p.dim("n");
  Vector x = p.gaussian_vector("x", n);
  Matrix W0 = p.gaussian_matrix("W0", n, n);
  Vector h = p.matmul("h0", W0, x);
  const double scale = 1.0 / std::sqrt(static_cast<double>(depth));
  for (int l = 1; l <= depth; ++l) {
    const std::string s = std::to_string(l);
    Matrix W = p.gaussian_matrix("W" + s, n, n, {.variance = scale * scale});
    Vector a = p.vector("a" + s, netsor::activation(activation, h));
    Vector r = p.matmul("r" + s, W, a);
    h = p.vector("h" + s, h + r);
    e.moments.push_back(p.moment("|h" + s + "|^2", h * h));
  }
  return e;
}

Entry rnn(const std::string& activation, int steps) {
  Entry e;
  e.name = "rnn-" + activation;
  e.description = std::to_string(steps) + "-step " + activation + " RNN with shared weights W, U";
  Program& p = e.program;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n);
  Matrix U = p.gaussian_matrix("U", n, n);
  Vector s = p.gaussian_vector("s0", n);
  for (int t = 1; t <= steps; ++t) {
    const std::string k = std::to_string(t);
    Vector x = p.gaussian_vector("x" + k, n);
    Vector ws = p.matmul("Ws" + std::to_string(t - 1), W, s);
    Vector ux = p.matmul("Ux" + k, U, x);
    Vector next = p.vector("s" + k, netsor::activation(activation, ws + ux));
    e.moments.push_back(p.moment("|s" + k + "|^2", next * next));
    e.moments.push_back(p.moment("s" + k + ".s" + std::to_string(t - 1), next * s));
    s = next;
  }
  return e;
}

Entry moment_feedback() {
  Entry e;
  e.name = "moment-feedback";
  e.description = "a Moment feeding a later nonlinearity: s = E tanh(h)^2, y = tanh(s h + 1/2)";
  Program& p = e.program;
  Dim n = p.dim("n");
  Matrix W = p.gaussian_matrix("W", n, n, {.variance = 2});
  Vector x = p.gaussian_vector("x", n);
  Vector h = p.matmul("h", W, x);
  Scalar s = p.moment("s", tanh(h) * tanh(h));
  Vector y = p.vector("y", tanh(s * h + 0.5));
  Scalar t = p.moment("t", y * y);
  Matrix V = p.gaussian_matrix("V", n, n);
  Vector z = p.matmul("z", V, p.vector("w", y * t));
  e.moments = {s, t, p.moment("|z|^2", z * z), p.moment("z.relu(z)", z * relu(z))};
  return e;
}

Entry kernel(const std::string& activation, int depth, double weight_variance, double bias_variance,
             double correlation) {
  Entry e;
  e.name = "kernel-" + activation;
  e.description = std::to_string(depth) + "-layer " + activation + " MLP on two inputs with correlation " +
                  Param(correlation).text();
  Program& p = e.program;
  Dim n = p.dim("n");
  auto [a, b] = p.gaussian_vectors<2>({"a", "b"}, n, {{1, correlation}, {correlation, 1}});
  Vector xa = a, xb = b;
  for (int l = 1; l <= depth; ++l) {
    const std::string s = std::to_string(l);
    Matrix W = p.gaussian_matrix("W" + s, n, n, {.variance = weight_variance});
    Vector bias = p.gaussian_vector("bias" + s, n, {.variance = bias_variance});
    Vector ha = p.vector("ha" + s, W * xa + bias);
    Vector hb = p.vector("hb" + s, W * xb + bias);
    xa = p.vector("xa" + s, netsor::activation(activation, ha));
    xb = p.vector("xb" + s, netsor::activation(activation, hb));
    e.moments.push_back(p.moment("K" + s, xa * xb));
  }
  return e;
}

Entry semicircle(int kmax) {
  Entry e;
  e.name = "semicircle";
  e.description = "x_k = S x_{k-1}, x_0 = v, S Wigner: (1/n) v . x_k -> Catalan numbers (TP3 warm-up)";
  Program& p = e.program;
  Dim n = p.dim("n");
  Matrix S = p.wigner_matrix("S", n);
  e.matrices = {S};
  Vector v = p.gaussian_vector("v", n);
  Vector x = v;
  for (int k = 1; k <= kmax; ++k) {
    x = p.matmul("x" + std::to_string(k), S, x);
    e.moments.push_back(p.moment("m" + std::to_string(k), v * x));
  }
  return e;
}

Entry marchenko_pastur(const Rational& ratio, int kmax) {
  Entry e;
  e.name = "marchenko-pastur-" + ratio.str();
  e.description = "X n x m, m = " + ratio.str() + " n, entries N(0,1/n): (1/m) v . (X^T X)^k v -> MP moments";
  Program& p = e.program;
  Dim n = p.dim("n");
  Dim m = p.dim("m", ratio);
  // Entries N(0, 1/n) with fan-in m: variance parameter = m/n = ratio.
  Matrix X = p.gaussian_matrix("X", n, m, {.variance = ratio});
  e.matrices = {X};
  Vector v = p.gaussian_vector("v", m);
  Vector x = v;
  for (int k = 1; k <= kmax; ++k) {
    Vector y = p.matmul("y" + std::to_string(k), X, x);
    x = p.matmul("x" + std::to_string(k), X.T(), y);
    e.moments.push_back(p.moment("m" + std::to_string(k), v * x));
  }
  return e;
}

}  // namespace netsor::programs

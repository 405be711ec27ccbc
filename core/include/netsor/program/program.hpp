// netsor/program/program.hpp — the tensor-program DSL (shared/API.md, "Building a tensor program").
//
// A NETSOR-transpose program with Moment nodes (Yang, Tensor Programs I §2 and III §2): initial Gaussian
// vectors and matrices, MatMul (`W * x`, `W.T() * x`), coordinatewise Nonlin (any expression of earlier
// vectors and scalars, one node per expression) and Moment (`(1/width) sum_i psi(...)_i`, a Scalar).
//
// Storage: the program owns one vector of nodes in dependency order; nodes refer to each other by integer
// ids. Handles (`Dim`, `Vector`, `Matrix`, `Scalar`) are a pointer to the program's data plus an id: cheap to
// copy, valid while the Program lives. A handle used with another program throws `invalid_program`.
#pragma once

#include <netsor/errors.hpp>
#include <netsor/numbers.hpp>
#include <netsor/program/expr.hpp>
#include <netsor/program/param.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace netsor {

class Program;
class VExpr;
class Matrix;
namespace detail {
struct ProgramData;
}

/// A width: `ratio * n` for the program's base width n.
class Dim {
 public:
  Dim() = default;
  const std::string& name() const;
  const Rational& ratio() const;
  std::int32_t id() const { return id_; }
  bool operator==(const Dim& o) const { return data_ == o.data_ && id_ == o.id_; }

 private:
  friend class Program;
  friend class Vector;
  friend class Matrix;
  friend class Simulation;
  friend class Word;
  friend struct detail::ProgramData;
  Dim(detail::ProgramData* d, std::int32_t id) : data_(d), id_(id) {}
  detail::ProgramData* data_ = nullptr;
  std::int32_t id_ = -1;
};

/// A vector of the program (an input, a MatMul or a Nonlin node).
class Vector {
 public:
  Vector() = default;
  /// A Nonlin node computing `e` coordinatewise (automatically named).
  Vector(const VExpr& e);  // NOLINT: implicit, so that `Vector y = tanh(h);` reads like mathematics
  const std::string& name() const;
  /// Renames the node (names are unique in a program); returns the handle for chaining.
  Vector named(std::string_view name) const;
  Dim dim() const;
  std::int32_t id() const { return id_; }
  detail::ProgramData* data() const { return data_; }

 private:
  friend class Program;
  friend class VExpr;
  friend Vector operator*(const Matrix& w, const Vector& x);
  friend struct detail::ProgramData;
  Vector(detail::ProgramData* d, std::int32_t id) : data_(d), id_(id) {}
  detail::ProgramData* data_ = nullptr;
  std::int32_t id_ = -1;
};

/// A scalar of the program: the value of a Moment node.
class Scalar {
 public:
  Scalar() = default;
  const std::string& name() const;
  Scalar named(std::string_view name) const;
  std::int32_t id() const { return id_; }
  detail::ProgramData* data() const { return data_; }

 private:
  friend class Program;
  friend struct detail::ProgramData;
  Scalar(detail::ProgramData* d, std::int32_t id) : data_(d), id_(id) {}
  detail::ProgramData* data_ = nullptr;
  std::int32_t id_ = -1;
};

/// A random matrix of the program, possibly transposed (`W.T()`).
class Matrix {
 public:
  Matrix() = default;
  /// The transpose (no new node: MatMul by `W.T()` uses the same matrix).
  Matrix T() const { return Matrix(data_, id_, !transposed_); }
  bool transposed() const { return transposed_; }
  const std::string& name() const;
  /// Rows and columns of this (possibly transposed) matrix.
  Dim rows() const;
  Dim cols() const;
  std::int32_t id() const { return id_; }
  detail::ProgramData* data() const { return data_; }

 private:
  friend class Program;
  friend struct detail::ProgramData;
  Matrix(detail::ProgramData* d, std::int32_t id, bool t) : data_(d), id_(id), transposed_(t) {}
  detail::ProgramData* data_ = nullptr;
  std::int32_t id_ = -1;
  bool transposed_ = false;
};

/// MatMul: a new vector node `W x` (or `W^T x`). Widths are checked.
Vector operator*(const Matrix& w, const Vector& x);

/// A coordinatewise expression of program vectors, scalars and numbers (not yet a node).
class VExpr {
 public:
  VExpr() = default;
  VExpr(int c);                // NOLINT: numbers enter expressions implicitly
  VExpr(long c);               // NOLINT
  VExpr(double c);             // NOLINT (read as its shortest decimal: 0.1 is 1/10)
  VExpr(const Rational& c);    // NOLINT
  VExpr(const Vector& v);      // NOLINT
  VExpr(const Scalar& s);      // NOLINT
  VExpr(detail::ProgramData* d, detail::Expr e) : data_(d), expr_(std::move(e)) {}
  detail::Expr& mutable_expr() { return expr_; }
  void set_data(detail::ProgramData* d) { data_ = d; }

  /// Creates the Nonlin node with a given name.
  Vector named(std::string_view name) const;
  const detail::Expr& expr() const { return expr_; }
  /// The program the expression belongs to (nullptr for a pure number).
  detail::ProgramData* data() const { return data_; }

 private:
  detail::ProgramData* data_ = nullptr;
  detail::Expr expr_;
};

// Operands are taken by value so that chains of temporaries (`tanh(e) * 0.5 + x`) move, not copy.
VExpr operator+(VExpr a, const VExpr& b);
VExpr operator-(VExpr a, const VExpr& b);
VExpr operator*(VExpr a, const VExpr& b);
VExpr operator/(VExpr a, const VExpr& b);
VExpr operator-(VExpr a);
VExpr operator+(VExpr a);

VExpr tanh(VExpr x);
VExpr sigmoid(VExpr x);
VExpr erf(VExpr x);
VExpr relu(VExpr x);
VExpr abs(VExpr x);
VExpr step(VExpr x);  // 1 for x > 0, else 0
VExpr sign(VExpr x);
VExpr exp(VExpr x);
VExpr log(VExpr x);
VExpr sin(VExpr x);
VExpr cos(VExpr x);
VExpr sqrt(VExpr x);
VExpr softplus(VExpr x);
VExpr gelu(VExpr x);  // x Phi(x)
VExpr pow(const VExpr& x, int k);
VExpr pow(const VExpr& x, double c);
VExpr pow(const VExpr& x, const Rational& c);
/// Applies a nonlinearity given by name ("tanh", "relu", "linear", ...); throws for an unknown name.
VExpr activation(std::string_view name, const VExpr& x);
/// The derivative phi'(x) of a named activation, symbolically (relu' = step; step' = 0 almost everywhere).
VExpr activation_derivative(std::string_view name, const VExpr& x);
/// The names `activation` accepts.
const std::vector<std::string>& activation_names();

struct VectorOptions {
  Param variance = 1;
};
struct MatrixOptions {
  Param variance = 1;
};

/// A tensor program.
class Program {
 public:
  Program();
  ~Program();
  Program(Program&&) noexcept;
  Program& operator=(Program&&) noexcept;
  Program(const Program&) = delete;  // handles point into one program; share it by reference
  Program& operator=(const Program&) = delete;

  /// A width `ratio * n` (the first dimension declared is usually the base width, ratio 1).
  Dim dim(std::string_view name, Param ratio = 1);

  /// Gaussian matrix `rows x cols`, entries iid N(0, variance / cols) (fan-in scaling).
  Matrix gaussian_matrix(std::string_view name, Dim rows, Dim cols, MatrixOptions opt = {});
  /// Haar-distributed orthogonal `n x n` matrix, times sqrt(variance).
  Matrix orthogonal_matrix(std::string_view name, Dim n, MatrixOptions opt = {});
  /// Wigner (GOE) `n x n` matrix `sqrt(variance) (A + A^T)/sqrt 2`, A Gaussian: off-diagonal N(0, variance/n).
  Matrix wigner_matrix(std::string_view name, Dim n, MatrixOptions opt = {});

  /// Input vector, coordinates iid N(0, variance).
  Vector gaussian_vector(std::string_view name, Dim n, VectorOptions opt = {});
  /// K correlated input vectors: coordinates (a_i, b_i, ...) iid N(0, covariance).
  template <std::size_t K>
  std::array<Vector, K> gaussian_vectors(const std::array<std::string, K>& names, Dim n,
                                         const std::vector<std::vector<Param>>& covariance) {
    std::vector<std::string> nm(names.begin(), names.end());
    auto v = gaussian_family(nm, n, covariance);
    std::array<Vector, K> out;
    for (std::size_t i = 0; i < K; ++i) out[i] = v[i];
    return out;
  }
  /// The same with a run-time number of vectors.
  std::vector<Vector> gaussian_family(const std::vector<std::string>& names, Dim n,
                                      const std::vector<std::vector<Param>>& covariance);

  /// A Nonlin node with a name.
  Vector vector(std::string_view name, const VExpr& e);
  /// A MatMul node with a name.
  Vector matmul(std::string_view name, const Matrix& w, const Vector& x);
  /// A Moment node: `(1/width) sum_i e_i`.
  Scalar moment(std::string_view name, const VExpr& e);

  /// The program, one node a line.
  std::string to_string() const;
  /// Number of nodes (dimensions not counted).
  std::size_t size() const;

  detail::ProgramData& data() { return *data_; }
  const detail::ProgramData& data() const { return *data_; }

 private:
  std::unique_ptr<detail::ProgramData> data_;
};

std::ostream& operator<<(std::ostream& os, const Program& p);

}  // namespace netsor

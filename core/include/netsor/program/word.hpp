// netsor/program/word.hpp — words in the matrices of a program: products of Matrix, Matrix.T() and diag(v)
// (shared/API.md, "Matrices, traces and freeness"). A word is a value (a list of letters); shapes are checked
// when words are multiplied, squareness when a trace is taken.
#pragma once

#include <netsor/program/program.hpp>

#include <string>
#include <vector>

namespace netsor {

struct Letter {
  enum class Kind : std::uint8_t { Matrix, Diag };
  Kind kind = Kind::Matrix;
  std::int32_t matrix = -1;   // Matrix: node id
  bool transposed = false;    // Matrix: W^T
  detail::Expr diag;          // Diag: the coordinatewise expression on the diagonal
  std::int32_t rows = -1, cols = -1;  // dims
};

class Word {
 public:
  Word() = default;
  Word(const Matrix& m);  // NOLINT: a matrix is a one-letter word
  /// The transpose: letters reversed, matrices transposed (diagonals are symmetric).
  Word T() const;
  Dim rows() const;
  Dim cols() const;
  bool square() const { return !letters_.empty() && letters_.front().rows == letters_.back().cols; }
  std::size_t size() const { return letters_.size(); }
  bool empty() const { return letters_.empty(); }
  const std::vector<Letter>& letters() const { return letters_; }
  detail::ProgramData* data() const { return data_; }
  std::string to_string() const;

  friend Word operator*(const Word& a, const Word& b);
  friend Word diag(const VExpr& e);

 private:
  detail::ProgramData* data_ = nullptr;
  std::vector<Letter> letters_;
};

/// diag(v): the diagonal matrix of a vector (or of any coordinatewise expression of program vectors).
Word diag(const VExpr& e);
inline Word diag(const Vector& v) { return diag(VExpr(v)); }
/// Product of words; the widths must match (the message names both factors).
Word operator*(const Word& a, const Word& b);
/// w^k for a square word, k >= 1.
Word pow(const Word& w, int k);

}  // namespace netsor

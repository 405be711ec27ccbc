// word.cpp — words in matrices and diagonal matrices: construction, shapes, printing.
#include <netsor/program/detail/program_data.hpp>
#include <netsor/program/word.hpp>

namespace netsor {

Word::Word(const Matrix& m) : data_(m.data()) {
  if (!data_) throw invalid_program("Word: empty Matrix handle (default-constructed)");
  const auto& n = data_->nodes[m.id()];
  Letter l;
  l.kind = Letter::Kind::Matrix;
  l.matrix = m.id();
  l.transposed = m.transposed();
  l.rows = m.transposed() ? n.cols : n.rows;
  l.cols = m.transposed() ? n.rows : n.cols;
  letters_.push_back(std::move(l));
}

Word diag(const VExpr& e) {
  if (!e.data()) throw invalid_program("diag: the expression has no vector input, so its width is unknown");
  const auto dim = e.data()->expr_dim(e.expr(), "diag");
  Word w;
  w.data_ = e.data();
  Letter l;
  l.kind = Letter::Kind::Diag;
  l.diag = e.expr().simplified();
  l.rows = l.cols = dim;
  w.letters_.push_back(std::move(l));
  return w;
}

Word Word::T() const {
  Word w;
  w.data_ = data_;
  for (auto it = letters_.rbegin(); it != letters_.rend(); ++it) {
    Letter l = *it;
    if (l.kind == Letter::Kind::Matrix) l.transposed = !l.transposed;
    std::swap(l.rows, l.cols);
    w.letters_.push_back(std::move(l));
  }
  return w;
}

Dim Word::rows() const {
  if (letters_.empty()) throw invalid_program("Word::rows: empty word");
  return data_->dim_handle(letters_.front().rows);
}
Dim Word::cols() const {
  if (letters_.empty()) throw invalid_program("Word::cols: empty word");
  return data_->dim_handle(letters_.back().cols);
}

std::string Word::to_string() const {
  std::string s;
  for (const auto& l : letters_) {
    if (!s.empty()) s += " ";
    if (l.kind == Letter::Kind::Matrix) {
      s += data_->nodes[l.matrix].name + (l.transposed ? "^T" : "");
    } else {
      s += "diag(" + data_->expr_text(l.diag) + ")";
    }
  }
  return s.empty() ? "I" : s;
}

Word operator*(const Word& a, const Word& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  if (a.data_ != b.data_) throw invalid_program("word product " + a.to_string() + " * " + b.to_string() +
                                                ": the factors belong to different programs");
  if (a.letters_.back().cols != b.letters_.front().rows)
    throw invalid_program("word product (" + a.to_string() + ") * (" + b.to_string() + "): the left factor has " +
                          a.data_->dims[a.letters_.back().cols].name + " columns but the right factor has " +
                          b.data_->dims[b.letters_.front().rows].name + " rows");
  Word w = a;
  w.letters_.insert(w.letters_.end(), b.letters_.begin(), b.letters_.end());
  return w;
}

Word pow(const Word& w, int k) {
  if (k < 1) throw invalid_argument("pow(word, k): k must be at least 1, got " + std::to_string(k));
  if (!w.square()) throw invalid_program("pow(word, k): the word " + w.to_string() + " is not square");
  Word r = w;
  for (int i = 1; i < k; ++i) r = r * w;
  return r;
}

}  // namespace netsor

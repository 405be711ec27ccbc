// program.cpp — building tensor programs: nodes, names, width checks, printing.
#include <netsor/program/detail/program_data.hpp>
#include <netsor/program/program.hpp>

#include <atomic>
#include <charconv>
#include <cmath>
#include <ostream>
#include <sstream>

namespace netsor {

// ------------------------------------------------------------------------------------------------ Param
std::string Param::text() const {
  if (std::isnan(approx)) return "nan";
  if (std::isinf(approx)) return approx > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, approx);  // shortest round-trip: "-1", "0.05", "1e+300"
  return std::string(buf, res.ptr);
}

Rational decimal_rational(double x) {
  if (!std::isfinite(x)) {
    std::ostringstream os;
    os << "number " << x << " is not finite";
    throw invalid_argument(os.str());
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string s(buf, res.ptr);  // shortest round-trip, e.g. "5e-02", "-1.25e+00"
  const auto epos = s.find('e');
  std::string mant = s.substr(0, epos);
  int exp10 = std::stoi(s.substr(epos + 1));
  bool neg = false;
  if (!mant.empty() && mant[0] == '-') {
    neg = true;
    mant.erase(0, 1);
  }
  const auto dot = mant.find('.');
  if (dot != std::string::npos) {
    exp10 -= static_cast<int>(mant.size() - dot - 1);
    mant.erase(dot, 1);
  }
  Integer num(mant);
  Integer ten = 1;
  for (int i = 0; i < std::abs(exp10); ++i) ten *= 10;
  Rational q = exp10 >= 0 ? Rational(num * ten) : Rational(num, ten);
  return neg ? Rational(-q) : q;
}

namespace detail {

namespace {
std::atomic<std::uint64_t> next_serial{1};

bool valid_name(std::string_view s) {
  if (s.empty()) return false;
  // Any printable text without spaces: names like "x.g", "|w|^2" or "h[3]" read like the mathematics.
  for (char c : s)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) return false;
  return true;
}
}  // namespace

std::string ProgramData::width_text(std::int32_t id) const {
  return "'" + nodes[id].name + "' (width " + dims[nodes[id].dim].name + ")";
}

std::int32_t ProgramData::add_node(Node n, std::string_view name) {
  const auto id = static_cast<std::int32_t>(nodes.size());
  if (name.empty()) {
    const char prefix = n.kind == NodeKind::Moment ? 's' : 'v';
    std::string nm;
    do nm = prefix + std::to_string(++auto_counter);
    while (names.count(nm));
    n.name = nm;
    n.auto_named = true;
  } else {
    if (!valid_name(name))
      throw invalid_program("invalid name '" + std::string(name) +
                            "': a name is printable text without spaces");
    if (auto it = names.find(std::string(name)); it != names.end())
      throw invalid_program("name '" + std::string(name) + "' is used twice: already the name of " +
                            (it->second < 0 ? std::string("a dimension") : "node " + std::to_string(it->second)));
    n.name = std::string(name);
  }
  names[n.name] = id;
  nodes.push_back(std::move(n));
  return id;
}

void ProgramData::rename(std::int32_t id, std::string_view name) {
  if (!valid_name(name))
    throw invalid_program("invalid name '" + std::string(name) + "': a name is printable text without spaces");
  if (nodes[id].name == name) return;
  if (names.count(std::string(name)))
    throw invalid_program("name '" + std::string(name) + "' is used twice: cannot rename '" + nodes[id].name +
                          "' to it");
  names.erase(nodes[id].name);
  nodes[id].name = std::string(name);
  nodes[id].auto_named = false;
  names[nodes[id].name] = id;
}

void ProgramData::own(const ProgramData* other, std::string_view what, std::string_view handle_name) const {
  if (other == nullptr)
    throw invalid_program(std::string(what) + ": handle '" + std::string(handle_name) +
                          "' is empty (default-constructed)");
  if (other != this)
    throw invalid_program(std::string(what) + ": handle '" + std::string(handle_name) +
                          "' belongs to another program");
}

std::int32_t ProgramData::expr_dim(const Expr& e, std::string_view what) const {
  std::int32_t dim = -1, first = -1;
  for (auto id : e.leaves(Op::Vec)) {
    if (dim < 0) {
      dim = nodes[id].dim;
      first = id;
    } else if (nodes[id].dim != dim) {
      throw invalid_program(std::string(what) + ": width mismatch: " + width_text(first) + " and " +
                            width_text(id) + " in " + expr_text(e));
    }
  }
  return dim;
}

Dim ProgramData::dim_handle(std::int32_t d) { return Dim(this, d); }

std::string ProgramData::expr_text(const Expr& e) const {
  return e.to_string([this](Op, std::int32_t ref) { return nodes[ref].name; });
}

}  // namespace detail

using detail::NodeKind;
using detail::Op;

// ------------------------------------------------------------------------------------------------ handles
const std::string& Dim::name() const { return data_->dims.at(id_).name; }
const Rational& Dim::ratio() const { return data_->dims.at(id_).ratio; }

const std::string& Vector::name() const { return data_->nodes.at(id_).name; }
Vector Vector::named(std::string_view name) const {
  if (!data_) throw invalid_program("named: empty Vector handle");
  data_->rename(id_, name);
  return *this;
}
Dim Vector::dim() const { return Dim(data_, data_->nodes.at(id_).dim); }

const std::string& Scalar::name() const { return data_->nodes.at(id_).name; }
Scalar Scalar::named(std::string_view name) const {
  if (!data_) throw invalid_program("named: empty Scalar handle");
  data_->rename(id_, name);
  return *this;
}

const std::string& Matrix::name() const { return data_->nodes.at(id_).name; }
Dim Matrix::rows() const {
  const auto& n = data_->nodes.at(id_);
  return Dim(data_, transposed_ ? n.cols : n.rows);
}
Dim Matrix::cols() const {
  const auto& n = data_->nodes.at(id_);
  return Dim(data_, transposed_ ? n.rows : n.cols);
}

Vector::Vector(const VExpr& e) : Vector(e.named("")) {}

Vector operator*(const Matrix& w, const Vector& x) {
  auto* d = w.data();
  if (!d) throw invalid_program("MatMul: the matrix handle is empty (default-constructed)");
  d->own(x.data(), "MatMul " + w.name() + (w.transposed() ? "^T" : "") + " * vector", x.data() ? x.name() : "?");
  const auto& m = d->nodes[w.id()];
  const std::int32_t in_dim = w.transposed() ? m.rows : m.cols;
  const std::int32_t out_dim = w.transposed() ? m.cols : m.rows;
  const auto& xv = d->nodes[x.id()];
  if (xv.dim != in_dim) {
    std::string wn = m.name + (w.transposed() ? "^T" : "");
    throw invalid_program("MatMul " + wn + " * " + xv.name + ": " + wn + " is " + d->dims[out_dim].name + " x " +
                          d->dims[in_dim].name + " but '" + xv.name + "' has width " +
                          d->dims[xv.dim].name + ", not " + d->dims[in_dim].name);
  }
  detail::Node n{};
  n.kind = NodeKind::MatMul;
  n.dim = out_dim;
  n.matrix = w.id();
  n.arg = x.id();
  n.transposed = w.transposed();
  return Vector(d, d->add_node(std::move(n), ""));
}

// ----------------------------------------------------------------------------------------------- VExpr
VExpr::VExpr(int c) : expr_(detail::Expr::make_constant(Rational(c))) {}
VExpr::VExpr(long c) : expr_(detail::Expr::make_constant(Rational(c))) {}
namespace {
Rational finite_constant(double c, const char* what) {
  if (!std::isfinite(c)) throw invalid_argument(std::string(what) + " must be finite, got " + Param(c).text());
  return decimal_rational(c);
}
}  // namespace

VExpr::VExpr(double c) : expr_(detail::Expr::make_constant(finite_constant(c, "a constant in an expression"))) {}
VExpr::VExpr(const Rational& c) : expr_(detail::Expr::make_constant(c)) {}
VExpr::VExpr(const Vector& v) : data_(v.data()), expr_(detail::Expr::make_leaf(Op::Vec, v.id())) {
  if (!data_) throw invalid_program("expression: empty Vector handle (default-constructed)");
}
VExpr::VExpr(const Scalar& s) : data_(s.data()), expr_(detail::Expr::make_leaf(Op::Sca, s.id())) {
  if (!data_) throw invalid_program("expression: empty Scalar handle (default-constructed)");
}

Vector VExpr::named(std::string_view name) const {
  if (!data_)
    throw invalid_program("Nonlin: the expression " + expr_.to_string([](Op, std::int32_t) { return "?"; }) +
                          " has no vector input, so its width is unknown");
  const auto dim = data_->expr_dim(expr_, "Nonlin");
  if (dim < 0)
    throw invalid_program("Nonlin: the expression " + data_->expr_text(expr_) +
                          " has no vector input, so its width is unknown");
  detail::Node n{};
  n.kind = NodeKind::Nonlin;
  n.dim = dim;
  n.expr = expr_.simplified();
  return Vector(data_, data_->add_node(std::move(n), name));
}

namespace {
detail::ProgramData* common_program(const VExpr& a, const VExpr& b, const char* op) {
  if (a.data() && b.data() && a.data() != b.data())
    throw invalid_program(std::string("expression '") + op + "': operands belong to different programs");
  return a.data() ? a.data() : b.data();
}
VExpr binary(Op op, VExpr a, const VExpr& b) {
  auto* d = common_program(a, b, detail::op_name(op));
  detail::Expr& e = a.mutable_expr();
  const auto ra = e.root();
  const auto rb = e.append(b.expr());
  e.binary(op, ra, rb);
  a.set_data(d);
  return a;
}
VExpr unary(Op op, VExpr a) {
  detail::Expr& e = a.mutable_expr();
  e.unary(op, e.root());
  return a;
}
}  // namespace

VExpr operator+(VExpr a, const VExpr& b) { return binary(Op::Add, std::move(a), b); }
VExpr operator-(VExpr a, const VExpr& b) { return binary(Op::Sub, std::move(a), b); }
VExpr operator*(VExpr a, const VExpr& b) { return binary(Op::Mul, std::move(a), b); }
VExpr operator/(VExpr a, const VExpr& b) { return binary(Op::Div, std::move(a), b); }
VExpr operator-(VExpr a) { return unary(Op::Neg, std::move(a)); }
VExpr operator+(VExpr a) { return a; }
VExpr tanh(VExpr x) { return unary(Op::Tanh, std::move(x)); }
VExpr sigmoid(VExpr x) { return unary(Op::Sigmoid, std::move(x)); }
VExpr erf(VExpr x) { return unary(Op::Erf, std::move(x)); }
VExpr relu(VExpr x) { return unary(Op::Relu, std::move(x)); }
VExpr abs(VExpr x) { return unary(Op::Abs, std::move(x)); }
VExpr step(VExpr x) { return unary(Op::Step, std::move(x)); }
VExpr sign(VExpr x) { return unary(Op::Sign, std::move(x)); }
VExpr exp(VExpr x) { return unary(Op::Exp, std::move(x)); }
VExpr log(VExpr x) { return unary(Op::Log, std::move(x)); }
VExpr sin(VExpr x) { return unary(Op::Sin, std::move(x)); }
VExpr cos(VExpr x) { return unary(Op::Cos, std::move(x)); }
VExpr sqrt(VExpr x) { return unary(Op::Sqrt, std::move(x)); }
VExpr softplus(VExpr x) { return unary(Op::Softplus, std::move(x)); }
VExpr gelu(VExpr x) { return unary(Op::Gelu, std::move(x)); }
VExpr pow(const VExpr& x, int k) {
  if (k < 0) return VExpr(1) / pow(x, -k);
  detail::Expr e = x.expr();
  e.pow(e.root(), k);
  return VExpr(x.data(), std::move(e));
}
VExpr pow(const VExpr& x, const Rational& c) {
  if (boost::multiprecision::denominator(c) == 1 && c >= 0 && c < 1 << 20)
    return pow(x, static_cast<int>(boost::multiprecision::numerator(c)));
  detail::Expr e = x.expr();
  e.powc(e.root(), c);
  return VExpr(x.data(), std::move(e));
}
VExpr pow(const VExpr& x, double c) { return pow(x, finite_constant(c, "pow: the exponent")); }

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names = {"linear", "tanh", "sigmoid", "erf",  "relu", "abs",
                                                 "step",   "exp",  "sin",     "cos",  "softplus", "gelu"};
  return names;
}

VExpr activation(std::string_view name, const VExpr& x) {
  if (name == "linear" || name == "identity") return x;
  static const std::pair<const char*, Op> table[] = {
      {"tanh", Op::Tanh}, {"sigmoid", Op::Sigmoid}, {"erf", Op::Erf}, {"relu", Op::Relu},
      {"abs", Op::Abs},   {"step", Op::Step},       {"exp", Op::Exp}, {"sin", Op::Sin},
      {"cos", Op::Cos},   {"softplus", Op::Softplus}, {"gelu", Op::Gelu}};
  for (const auto& [n, op] : table)
    if (name == n) return unary(op, VExpr(x));
  std::string known;
  for (const auto& n : activation_names()) known += (known.empty() ? "" : ", ") + n;
  throw invalid_argument("unknown activation '" + std::string(name) + "'; known: " + known);
}

VExpr activation_derivative(std::string_view name, const VExpr& x) {
  // phi applied to a placeholder variable, differentiated, then the placeholder replaced by x.
  VExpr placeholder(nullptr, detail::Expr::make_leaf(Op::Var, 0));
  detail::Expr d = activation(name, placeholder).expr().derivative(Op::Var, 0);
  const detail::Expr* subs[] = {&x.expr()};
  return VExpr(x.data(), d.substitute(Op::Var, {subs[0]}));
}

// --------------------------------------------------------------------------------------------- Program
Program::Program() : data_(std::make_unique<detail::ProgramData>()) { data_->serial = detail::next_serial++; }
Program::~Program() = default;
Program::Program(Program&&) noexcept = default;
Program& Program::operator=(Program&&) noexcept = default;

std::size_t Program::size() const { return data_->nodes.size(); }

Dim Program::dim(std::string_view name, Param ratio) {
  if (!ratio.finite() || ratio.exact <= 0)
    throw invalid_program("dim '" + std::string(name) + "': the ratio must be positive and finite, got " +
                          (ratio.finite() ? ratio.exact.str() : ratio.text()));
  if (!detail::valid_name(name)) throw invalid_program("dim: invalid name '" + std::string(name) + "'");
  if (data_->names.count(std::string(name)))
    throw invalid_program("name '" + std::string(name) + "' is used twice");
  const auto id = static_cast<std::int32_t>(data_->dims.size());
  data_->dims.push_back({std::string(name), ratio.exact});
  data_->names[std::string(name)] = -1 - id;
  return Dim(data_.get(), id);
}

namespace {
void check_variance(const Param& v, std::string_view what, std::string_view name) {
  if (!v.finite() || v.exact < 0)
    throw invalid_argument(std::string(what) + " '" + std::string(name) +
                           "': variance must be finite and non-negative, got " + v.text());
}
}  // namespace

#define NETSOR_OWN_DIM(dimv, what)                                                                    \
  do {                                                                                                \
    if ((dimv).id() < 0 || (dimv) != Dim(data_.get(), (dimv).id()))                                   \
      throw invalid_program(std::string(what) + ": dimension handle belongs to another program");    \
  } while (0)

Matrix Program::gaussian_matrix(std::string_view name, Dim rows, Dim cols, MatrixOptions opt) {
  NETSOR_OWN_DIM(rows, "gaussian_matrix '" + std::string(name) + "'");
  NETSOR_OWN_DIM(cols, "gaussian_matrix '" + std::string(name) + "'");
  check_variance(opt.variance, "gaussian_matrix", name);
  detail::Node n{};
  n.kind = NodeKind::Matrix;
  n.matrix_kind = detail::MatrixKind::Gaussian;
  n.rows = rows.id();
  n.cols = cols.id();
  n.variance = opt.variance;
  return Matrix(data_.get(), data_->add_node(std::move(n), name), false);
}

Matrix Program::orthogonal_matrix(std::string_view name, Dim dn, MatrixOptions opt) {
  NETSOR_OWN_DIM(dn, "orthogonal_matrix '" + std::string(name) + "'");
  check_variance(opt.variance, "orthogonal_matrix", name);
  detail::Node n{};
  n.kind = NodeKind::Matrix;
  n.matrix_kind = detail::MatrixKind::Orthogonal;
  n.rows = n.cols = dn.id();
  n.variance = opt.variance;
  return Matrix(data_.get(), data_->add_node(std::move(n), name), false);
}

Matrix Program::wigner_matrix(std::string_view name, Dim dn, MatrixOptions opt) {
  NETSOR_OWN_DIM(dn, "wigner_matrix '" + std::string(name) + "'");
  check_variance(opt.variance, "wigner_matrix", name);
  detail::Node n{};
  n.kind = NodeKind::Matrix;
  n.matrix_kind = detail::MatrixKind::Wigner;
  n.rows = n.cols = dn.id();
  n.variance = opt.variance;
  return Matrix(data_.get(), data_->add_node(std::move(n), name), false);
}

Vector Program::gaussian_vector(std::string_view name, Dim dn, VectorOptions opt) {
  NETSOR_OWN_DIM(dn, "gaussian_vector '" + std::string(name) + "'");
  check_variance(opt.variance, "gaussian_vector", name);
  return gaussian_family({std::string(name)}, dn, {{opt.variance}})[0];
}

std::vector<Vector> Program::gaussian_family(const std::vector<std::string>& names, Dim dn,
                                             const std::vector<std::vector<Param>>& cov) {
  std::string all;
  for (const auto& s : names) all += (all.empty() ? "" : ", ") + s;
  const std::string what = "gaussian_vectors {" + all + "}";
  NETSOR_OWN_DIM(dn, what);
  const std::size_t k = names.size();
  if (k == 0) throw invalid_program(what + ": no names given");
  if (cov.size() != k)
    throw invalid_program(what + ": covariance has " + std::to_string(cov.size()) + " rows, expected " +
                          std::to_string(k));
  for (std::size_t i = 0; i < k; ++i) {
    if (cov[i].size() != k)
      throw invalid_program(what + ": covariance row " + std::to_string(i) + " has " +
                            std::to_string(cov[i].size()) + " entries, expected " + std::to_string(k));
    for (std::size_t j = 0; j < k; ++j) {
      if (!cov[i][j].finite())
        throw invalid_argument(what + ": covariance entry (" + std::to_string(i) + "," + std::to_string(j) +
                               ") is not finite, got " + cov[i][j].text());
      if (cov[i][j].exact != cov[j][i].exact)
        throw invalid_argument(what + ": covariance is not symmetric at (" + std::to_string(i) + "," +
                               std::to_string(j) + ")");
    }
  }
  // Positive semidefiniteness, exactly: symmetric Gaussian elimination with pivoting on the diagonal in Q.
  {
    std::vector<std::vector<Rational>> a(k, std::vector<Rational>(k));
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < k; ++j) a[i][j] = cov[i][j].exact;
    for (std::size_t p = 0; p < k; ++p) {
      if (a[p][p] < 0)
        throw invalid_argument(what + ": covariance is not positive semidefinite (negative pivot at " +
                               names[p] + ")");
      if (a[p][p] == 0) {
        for (std::size_t j = p + 1; j < k; ++j)
          if (a[p][j] != 0)
            throw invalid_argument(what + ": covariance is not positive semidefinite (zero variance for " +
                                   names[p] + " with non-zero covariance)");
        continue;
      }
      for (std::size_t i = p + 1; i < k; ++i) {
        Rational f = a[i][p] / a[p][p];
        for (std::size_t j = p; j < k; ++j) a[i][j] -= f * a[p][j];
      }
    }
  }
  detail::InputFamily fam;
  fam.covariance = cov;
  const auto fid = static_cast<std::int32_t>(data_->families.size());
  // Validate all names first so that a failure leaves the program unchanged.
  for (std::size_t i = 0; i < k; ++i) {
    if (auto it = data_->names.find(names[i]); it != data_->names.end())
      throw invalid_program("name '" + names[i] + "' is used twice: already the name of " +
                            (it->second < 0 ? std::string("a dimension") : "node " + std::to_string(it->second)));
    for (std::size_t j = 0; j < i; ++j)
      if (names[j] == names[i]) throw invalid_program("name '" + names[i] + "' is used twice");
  }
  std::vector<Vector> out;
  for (std::size_t i = 0; i < k; ++i) {
    detail::Node n{};
    n.kind = NodeKind::Input;
    n.dim = dn.id();
    n.family = fid;
    n.member = static_cast<std::int32_t>(i);
    const auto id = data_->add_node(std::move(n), names[i]);
    fam.members.push_back(id);
    out.push_back(Vector(data_.get(), id));
  }
  data_->families.push_back(std::move(fam));
  return out;
}

Vector Program::vector(std::string_view name, const VExpr& e) {
  if (e.data() && e.data() != data_.get())
    throw invalid_program("vector '" + std::string(name) + "': expression belongs to another program");
  if (!e.data()) throw invalid_program("vector '" + std::string(name) + "': the expression has no vector input");
  return e.named(name);
}

Vector Program::matmul(std::string_view name, const Matrix& w, const Vector& x) {
  if (w.data() != data_.get()) throw invalid_program("matmul '" + std::string(name) + "': matrix belongs to another program");
  Vector v = w * x;
  return v.named(name);
}

Scalar Program::moment(std::string_view name, const VExpr& e) {
  if (e.data() && e.data() != data_.get())
    throw invalid_program("moment '" + std::string(name) + "': expression belongs to another program");
  const auto dim = e.data() ? data_->expr_dim(e.expr(), "moment '" + std::string(name) + "'") : -1;
  if (dim < 0)
    throw invalid_program("moment '" + std::string(name) + "': the expression has no vector input, so there is "
                          "no width to average over");
  detail::Node n{};
  n.kind = NodeKind::Moment;
  n.dim = dim;
  n.expr = e.expr().simplified();
  return Scalar(data_.get(), data_->add_node(std::move(n), name));
}

std::string Program::to_string() const {
  const auto& d = *data_;
  std::ostringstream os;
  for (const auto& di : d.dims) {
    os << di.name << " : width";
    if (di.ratio != 1) os << " = " << di.ratio.str() << " n";
    os << '\n';
  }
  for (std::size_t i = 0; i < d.nodes.size(); ++i) {
    const auto& n = d.nodes[i];
    switch (n.kind) {
      case NodeKind::Input: {
        const auto& fam = d.families[n.family];
        os << n.name << " : input in " << d.dims[n.dim].name << ", N(0, " << fam.covariance[n.member][n.member].exact.str()
           << ")";
        if (fam.members.size() > 1) {
          os << ", covariance with";
          for (std::size_t j = 0; j < fam.members.size(); ++j)
            if (static_cast<std::int32_t>(j) != n.member)
              os << ' ' << d.nodes[fam.members[j]].name << ": " << fam.covariance[n.member][j].exact.str();
        }
        break;
      }
      case NodeKind::Matrix: {
        const char* kind = n.matrix_kind == detail::MatrixKind::Gaussian     ? "gaussian"
                           : n.matrix_kind == detail::MatrixKind::Orthogonal ? "orthogonal"
                                                                               : "wigner";
        os << n.name << " : " << kind << " matrix " << d.dims[n.rows].name << " x " << d.dims[n.cols].name
           << ", variance " << n.variance.exact.str();
        break;
      }
      case NodeKind::MatMul:
        os << n.name << " = " << d.nodes[n.matrix].name << (n.transposed ? "^T" : "") << " * " << d.nodes[n.arg].name
           << "  [" << d.dims[n.dim].name << "]";
        break;
      case NodeKind::Nonlin: os << n.name << " = " << d.expr_text(n.expr) << "  [" << d.dims[n.dim].name << "]"; break;
      case NodeKind::Moment:
        os << n.name << " = moment over " << d.dims[n.dim].name << " of " << d.expr_text(n.expr);
        break;
    }
    os << '\n';
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Program& p) { return os << p.to_string(); }

}  // namespace netsor

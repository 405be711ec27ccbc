// limit.cpp — the public Limit: certification by two working precisions, the exact path, printing.
#include <netsor/limit/detail/limit_state.hpp>
#include <netsor/limit/limit.hpp>
#include <netsor/program/detail/program_data.hpp>

#include <cmath>
#include <ostream>
#include <sstream>

namespace netsor {

namespace detail {

namespace {
constexpr unsigned min_digits = 15, max_digits = 1000;
constexpr int max_attempts = 3;

// Guard digits: the lower working precision is D + g, the higher D + 2g; each retry doubles g.
unsigned guard(unsigned digits, int attempt) { return (10 + digits / 8) << attempt; }
}  // namespace

LimitState::LimitState(const Program& p, const LimitOptions& opt) : d_(p.data()), opt_(opt) {
  if (opt.digits < min_digits || opt.digits > max_digits)
    throw invalid_argument("limit: digits must be between " + std::to_string(min_digits) + " and " +
                           std::to_string(max_digits) + ", got " + std::to_string(opt.digits));
  if (opt.exact) exact_ = std::make_unique<Evaluator<Rational>>(d_, 0);
}

void LimitState::ensure_real(int attempt) {
  if (attempt_ >= attempt) return;
  attempt_ = attempt;
  const unsigned g = guard(opt_.digits, attempt);
  lo_digits_ = opt_.digits + g;
  hi_digits_ = opt_.digits + 2 * g;
  lo_.reset();
  hi_.reset();
  {
    precision_scope scope(lo_digits_);
    lo_ = std::make_unique<Evaluator<Real>>(d_, lo_digits_);
  }
  {
    precision_scope scope(hi_digits_);
    hi_ = std::make_unique<Evaluator<Real>>(d_, hi_digits_);
  }
}

Estimate LimitState::certify(const std::string& name,
                             const std::function<std::optional<Rational>(Evaluator<Rational>&)>& exact,
                             const std::function<std::optional<Real>(Evaluator<Real>&)>& real) {
  Estimate e;
  e.name = name;
  e.digits = opt_.digits;
  if (exact_) {
    auto q = exact(*exact_);
    if (q) {
      precision_scope scope(opt_.digits + 10);
      e.exact = *q;
      e.value = to_real(*q);
      e.error = 0;
      return e;
    }
  }
  double reached = 0;
  for (int attempt = std::max(attempt_, 0); attempt < max_attempts; ++attempt) {
    ensure_real(attempt);
    std::optional<Real> v1, v2;
    {
      precision_scope scope(lo_digits_);
      v1 = real(*lo_);
    }
    {
      precision_scope scope(hi_digits_);
      v2 = real(*hi_);
      if (!v1 || !v2) throw convergence_error(name + ": no value could be computed", 0);
      const Real diff = abs(*v1 - *v2);
      const Real scale = std::max(abs(*v2), pow(Real(10), -static_cast<int>(opt_.digits)));
      const Real tol = scale * pow(Real(10), -static_cast<int>(opt_.digits + 1));
      reached = diff == 0 ? static_cast<double>(hi_digits_) : static_cast<double>(-log10(diff / scale));
      if (diff <= tol) {
        e.value = *v2;
        // The higher evaluation is the value; the gap to the lower one bounds its error (the higher one is at
        // least as accurate), floored at the working precision.
        e.error = std::max(diff, Real(scale * pow(Real(10), -static_cast<int>(hi_digits_ - 2))));
        return e;
      }
    }
  }
  std::ostringstream os;
  os << name << ": could not be certified to " << opt_.digits << " digits: evaluations at " << lo_digits_ << " and "
     << hi_digits_ << " working digits agree to only " << std::floor(reached * 10) / 10 << " digits";
  throw convergence_error(os.str(), reached);
}

}  // namespace detail

std::ostream& operator<<(std::ostream& os, const Estimate& e) {
  if (e.exact && boost::multiprecision::denominator(*e.exact) == 1) return os << e.exact->str();
  return os << to_string(e.value, e.digits);
}

Limit::Limit(std::unique_ptr<detail::LimitState> s) : state_(std::move(s)) {}
Limit::Limit(Limit&&) noexcept = default;
Limit& Limit::operator=(Limit&&) noexcept = default;
Limit::~Limit() = default;

unsigned Limit::digits() const { return state_->options().digits; }

Estimate Limit::operator[](const Scalar& s) const {
  const auto& d = state_->data();
  d.own(s.data(), "Limit[]", s.data() ? s.name() : "?");
  if (s.id() >= static_cast<std::int32_t>(d.nodes.size()))
    throw invalid_program("Limit[]: scalar was added after the limit was built");
  const auto id = s.id();
  return state_->certify(
      "moment '" + s.name() + "'", [&](detail::Evaluator<Rational>& ev) { return ev.moment(id); },
      [&](detail::Evaluator<Real>& ev) { return ev.moment(id); });
}

Estimate Limit::expect(const VExpr& e) const {
  const auto& d = state_->data();
  if (e.data() && e.data() != &d) throw invalid_program("Limit::expect: the expression belongs to another program");
  for (auto id : e.expr().leaves(detail::Op::Vec))
    if (id >= static_cast<std::int32_t>(d.nodes.size()))
      throw invalid_program("Limit::expect: a vector was added after the limit was built");
  const std::string name = "E[" + (e.data() ? d.expr_text(e.expr()) : std::string("constant")) + "]";
  return state_->certify(
      name, [&](detail::Evaluator<Rational>& ev) { return ev.expect(e.expr(), name); },
      [&](detail::Evaluator<Real>& ev) { return ev.expect(e.expr(), name); });
}

Limit limit(const Program& p, const LimitOptions& opt) {
  auto st = std::make_unique<detail::LimitState>(p, opt);
  // Arithmetic on the returned values should keep their digits: raise the default precision if needed.
  if (Real::default_precision() < opt.digits + 5) Real::default_precision(opt.digits + 5);
  return Limit(std::move(st));
}

}  // namespace netsor

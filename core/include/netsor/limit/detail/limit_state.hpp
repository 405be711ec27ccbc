// netsor/limit/detail/limit_state.hpp — what a Limit holds (internal): the exact evaluator and two MPFR
// evaluators at different working precisions, and the rule that certifies a value from the two.
#pragma once

#include <netsor/limit/detail/evaluator.hpp>
#include <netsor/limit/limit.hpp>

#include <functional>
#include <memory>

namespace netsor::detail {

class LimitState {
 public:
  LimitState(const Program& p, const LimitOptions& opt);

  /// Certifies a quantity: `exact` computes it in Rational (or nullopt), `real` in Real at the evaluator's
  /// precision. Returns an Estimate good to opt.digits or throws convergence_error.
  Estimate certify(const std::string& name, const std::function<std::optional<Rational>(Evaluator<Rational>&)>& exact,
                   const std::function<std::optional<Real>(Evaluator<Real>&)>& real);

  const ProgramData& data() const { return d_; }
  const LimitOptions& options() const { return opt_; }
  Evaluator<Rational>* exact() { return exact_.get(); }

 private:
  void ensure_real(int attempt);
  const ProgramData& d_;
  LimitOptions opt_;
  std::unique_ptr<Evaluator<Rational>> exact_;
  int attempt_ = -1;
  unsigned lo_digits_ = 0, hi_digits_ = 0;
  std::unique_ptr<Evaluator<Real>> lo_, hi_;
};

}  // namespace netsor::detail

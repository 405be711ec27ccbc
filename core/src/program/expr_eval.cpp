// expr_eval.cpp — the MPFR versions of the elementary nonlinearities.
#include <netsor/program/expr_eval.hpp>

#include <mpfr.h>

namespace netsor::detail {

Real real_pi() {
  Real pi;
  mpfr_const_pi(pi.backend().data(), MPFR_RNDN);
  return pi;
}

Real ScalarOps<Real>::apply(Op op, const Real& x) {
  using namespace boost::multiprecision;
  switch (op) {
    case Op::Neg: return -x;
    case Op::Tanh: return tanh(x);
    case Op::Sigmoid: return 1 / (1 + exp(-x));
    case Op::Erf: return erf(x);
    case Op::Relu: return x > 0 ? x : Real(0);
    case Op::Abs: return abs(x);
    case Op::Step: return x > 0 ? Real(1) : Real(0);
    case Op::Sign: return x > 0 ? Real(1) : (x < 0 ? Real(-1) : Real(0));
    case Op::Exp: return exp(x);
    case Op::Log: return log(x);
    case Op::Sin: return sin(x);
    case Op::Cos: return cos(x);
    case Op::Sqrt: return sqrt(x);
    case Op::Softplus: return (x > 0 ? x : Real(0)) + log1p(exp(-abs(x)));
    case Op::Gelu: return x * erfc(-x / sqrt(Real(2))) / 2;
    case Op::ErfPrime: return 2 * exp(-x * x) / sqrt(real_pi());
    case Op::GeluPrime: {
      Real pdf = exp(-x * x / 2) / sqrt(2 * real_pi());
      return erfc(-x / sqrt(Real(2))) / 2 + x * pdf;
    }
    case Op::NormPdf: return exp(-x * x / 2) / sqrt(2 * real_pi());
    default: throw invalid_program(std::string("evaluate: bad unary operation ") + op_name(op));
  }
}

}  // namespace netsor::detail

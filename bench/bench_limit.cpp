// bench_limit.cpp — whole-program limits: the 20-layer tanh MLP kernel on two correlated inputs (2-D Gaussian
// integrals at every layer) at 30 digits, and the semicircle moments to k = 40 (exact path).
// Issue 3's target: the 20-layer kernel at 30 digits in under 1 s. Output: "limit case=<c> seconds=<s>".
#include <netsor/netsor.hpp>
#include <netsor/limit/detail/limit_state.hpp>
#include <netsor/programs.hpp>

#include <chrono>
#include <iostream>

int main() {
  using namespace netsor;
  auto time = [](auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  for (unsigned digits : {30u}) {
    auto e = programs::kernel("tanh", 20, 1.5, 0.05, 0.5);
    Estimate last;
    const double s = time([&] {
      Limit lim = limit(e.program, {.digits = digits});
      for (const auto& m : e.moments) last = lim[m];
    });
    std::cout << "limit case=mlp20-kernel-" << digits << "d seconds=" << s << "  (K20 = " << last << ")\n";
  }
  auto sc = programs::semicircle(40);
  Estimate m40;
  const double s = time([&] {
    Limit lim = limit(sc.program, {.digits = 30});
    m40 = lim[sc.moments.back()];
  });
  std::cout << "limit case=semicircle-k40-exact seconds=" << s << "  (m40 = " << m40 << ")\n";
}

// bench_free.cpp — free cumulants and both free convolutions of 200 moments in Rational (issue 4's target:
// under a second). Output: "free case=<c> seconds=<s>".
#include <netsor/free.hpp>

#include <chrono>
#include <iostream>

int main() {
  using namespace netsor;
  const auto mp = free::MarchenkoPastur{.ratio = Rational(1, 2)}.moments<Rational>(200);
  const auto sc = free::Semicircle{.variance = Rational(3, 2)}.moments<Rational>(200);
  auto time = [](const char* name, auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    std::cout << "free case=" << name << " seconds="
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << "\n";
  };
  time("cumulants-200", [&] { (void)free::free_cumulants(mp); });
  time("moments-from-cumulants-200", [&] { (void)free::moments_from_cumulants(free::free_cumulants(sc)); });
  time("additive-200", [&] { (void)free::free_additive_convolution(mp, sc); });
  time("multiplicative-200", [&] { (void)free::free_multiplicative_convolution(mp, mp); });
}

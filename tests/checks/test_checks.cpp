// tests/checks/test_checks.cpp — every theorem check passes on small widths, and its verdict flips when the
// infinite-width side is wrong or when the independence the theorem needs is broken (a check that cannot fail
// is a defect).
#include <check.hpp>

#include <doctest/doctest.h>

#include <netsor/errors.hpp>

#include <cmath>

using namespace netsor;
using namespace netsor::checks;

namespace {

Options small() {
  Options o;
  o.widths = {128, 256, 512};
  o.trials = 16;
  o.seed = 7;
  o.digits = 20;
  return o;
}

std::string first_failure(const Result& r) { return r.failures.empty() ? std::string() : r.failures.front(); }

Options injected_with(Inject i) {
  Options o = small();
  o.inject = i;
  return o;
}

}  // namespace

TEST_CASE("checks: the registry lists the checks of issue 5 and rejects unknown names") {
  std::vector<std::string> names;
  for (const Check& c : all_checks()) names.push_back(c.name);
  CHECK(names == std::vector<std::string>{"semicircle", "marchenko-pastur", "master-theorem", "fip-gaussian",
                                          "fip-orthogonal", "gradient-independence",
                                          "jacobian-spectrum"});
  CHECK_THROWS_WITH_AS(run_check("nope", small()),
                       "unknown check 'nope'; the checks are: semicircle, marchenko-pastur, master-theorem, "
                       "fip-gaussian, fip-orthogonal, gradient-independence, jacobian-spectrum",
                       invalid_argument);
  Options o = small();
  o.widths = {256};
  CHECK_THROWS_WITH_AS(run_check("semicircle", o), "check: at least two widths are needed, got 1",
                       invalid_argument);
  o.widths = {256, 128};
  CHECK_THROWS_WITH_AS(run_check("semicircle", o), "check: widths must increase, got 256 then 128",
                       invalid_argument);
  o = small();
  o.trials = 1;
  CHECK_THROWS_WITH_AS(run_check("semicircle", o),
                       "check: at least 2 trials are needed for error bars, got 1", invalid_argument);
}

TEST_CASE("checks: statistics helpers") {
  // A ladder sampled exactly around its limit with O(1/n) bias and n^-1/2 noise passes; shifted, it fails.
  const std::vector<long> widths = {100, 400, 1600, 6400};
  std::vector<std::vector<double>> samples;
  for (long n : widths) {
    std::vector<double> s;
    for (int t = 0; t < 16; ++t) s.push_back(1 + 1.0 / n + ((t % 2) ? 1 : -1) * (1 + 0.1 * t) / std::sqrt(n));
    samples.push_back(s);
  }
  const Ladder good = compare_ladder("q", 1.0, "1", widths, samples);
  CHECK(good.pass);
  CHECK(good.exponent == doctest::Approx(-0.5).epsilon(0.05));
  const Ladder bad = compare_ladder("q", 1.05, "1.05", widths, samples);
  CHECK_FALSE(bad.pass);
  CHECK(bad.why.find("standard errors from the limit 1.05") != std::string::npos);

  // Kolmogorov distance of a point mass's samples against a uniform law on [0, 1]: 1/2 at best, exactly.
  const auto uniform = [](double x) { return x <= 0 ? 0.0 : x >= 1 ? 1.0 : x; };
  CHECK(kolmogorov_distance({0.5, 0.5, 0.5, 0.5}, uniform) == doctest::Approx(0.5));
  // Samples at the quantiles (i + 1/2)/n are 1/(2n) away.
  std::vector<double> q;
  for (int i = 0; i < 100; ++i) q.push_back((i + 0.5) / 100);
  CHECK(kolmogorov_distance(q, uniform) == doctest::Approx(0.005));
  // An atom: half the samples exactly at 0 against F = 1/2 at 0 then uniform on [0, 1] for the other half.
  const auto mixed = [](double x) { return x < 0 ? 0.0 : x >= 1 ? 1.0 : 0.5 + x / 2; };
  std::vector<double> m(100, 0.0);
  for (int i = 0; i < 100; ++i) m.push_back((i + 0.5) / 100);
  CHECK(kolmogorov_distance(m, mixed, 0.0, 0.5) == doctest::Approx(0.0025));
  // The CDF built from a density: the semicircle's closed form at a few points.
  const auto F = cdf_from_density([](double x) { return std::sqrt(std::max(0.0, 4 - x * x)) / (2 * M_PI); }, -2, 2);
  for (double x : {-1.5, -0.3, 0.0, 0.7, 1.9}) {
    const double want = 0.5 + x * std::sqrt(4 - x * x) / (4 * M_PI) + std::asin(x / 2) / M_PI;
    CHECK(F(x) == doctest::Approx(want).epsilon(1e-7));
  }
}

TEST_CASE("check semicircle: passes, holds the Catalan numbers exactly, and fails with a wrong law") {
  const Result r = run_check("semicircle", small());
  INFO(first_failure(r));
  CHECK(r.pass);
  const nlohmann::json j = to_json(r);
  CHECK(j["data"]["catalan"] == nlohmann::json({"0", "1", "0", "2", "0", "5", "0", "14"}));
  CHECK(j["quantities"][7]["limit_exact"] == "14");
  CHECK(j["quantities"][7]["mean"].size() == 3);
  CHECK_FALSE(run_check("semicircle", injected_with(Inject::wrong_limit)).pass);
}

TEST_CASE("check marchenko-pastur: passes and fails with a wrong law") {
  const Result r = run_check("marchenko-pastur", small());
  INFO(first_failure(r));
  CHECK(r.pass);
  CHECK(to_json(r)["data"]["moments"]["2"] == nlohmann::json({"1", "3", "11", "45", "197", "903"}));
  CHECK_FALSE(run_check("marchenko-pastur", injected_with(Inject::wrong_limit)).pass);
}

TEST_CASE("check master-theorem: passes and fails with wrong limits") {
  const Result r = run_check("master-theorem", small());
  INFO(first_failure(r));
  CHECK(r.pass);
  CHECK(r.ladders.size() >= 20);
  const Result bad = run_check("master-theorem", injected_with(Inject::wrong_limit));
  CHECK_FALSE(bad.pass);
  CHECK(bad.failures.size() >= 10);  // most quantities see a 10% error
}

TEST_CASE("check fip-gaussian: passes, and fails when the families share a dependence or the limit is wrong") {
  const Result r = run_check("fip-gaussian", small());
  INFO(first_failure(r));
  CHECK(r.pass);
  const Result dep = run_check("fip-gaussian", injected_with(Inject::dependence));
  CHECK_FALSE(dep.pass);
  CHECK(dep.failures.front().find("does not vanish") != std::string::npos);
  CHECK_FALSE(run_check("fip-gaussian", injected_with(Inject::wrong_limit)).pass);
}

TEST_CASE("check fip-orthogonal: passes, and fails when the families share a dependence" * doctest::test_suite("slow")) {
  const Result r = run_check("fip-orthogonal", small());
  INFO(first_failure(r));
  CHECK(r.pass);
  CHECK_FALSE(run_check("fip-orthogonal", injected_with(Inject::dependence)).pass);
  CHECK_FALSE(run_check("fip-orthogonal", injected_with(Inject::wrong_limit)).pass);
}

TEST_CASE("check gradient-independence: passes, and fails for a read-out the theorem does not cover") {
  const Result r = run_check("gradient-independence", small());
  INFO(first_failure(r));
  CHECK(r.pass);
  CHECK(r.extra["control_largest_relative_difference"].get<double>() > 0.1);
  const Result dep = run_check("gradient-independence", injected_with(Inject::dependence));
  CHECK_FALSE(dep.pass);
  CHECK(dep.failures.front().find("differs from the independent-copy limit") != std::string::npos);
  CHECK_FALSE(run_check("gradient-independence", injected_with(Inject::wrong_limit)).pass);
}

// tests/checks/test_jacobian_spectrum.cpp — the jacobian-spectrum check passes on small widths and its verdict
// flips when the predicted side is 10% off (a check that cannot fail is a defect).
#include <check.hpp>

#include <doctest/doctest.h>

using namespace netsor::checks;

TEST_CASE("check jacobian-spectrum: passes, and fails for a wrong limit") {
  Options o;
  o.widths = {128, 256, 512};
  o.trials = 16;
  o.seed = 7;
  o.digits = 20;
  const Result r = run_check("jacobian-spectrum", o);
  for (const auto& f : r.failures) MESSAGE(f);
  CHECK(r.pass);
  o.inject = Inject::wrong_limit;
  CHECK_FALSE(run_check("jacobian-spectrum", o).pass);
}

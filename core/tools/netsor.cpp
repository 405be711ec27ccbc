// core/tools/netsor.cpp — the `netsor` command: theorem checks, scripts, spectra (shared/API.md).
#include "commands.hpp"

#include <netsor/errors.hpp>

#include <cstdio>
#include <exception>

namespace netsor::cli {
int& exit_status() {
  static int status = 0;
  return status;
}
}  // namespace netsor::cli

int main(int argc, char** argv) {
  CLI::App app{"netsor: tensor programs, their infinite-width limits and their finite-width behaviour"};
  app.require_subcommand(1);
  netsor::cli::add_check_command(app);
  netsor::cli::add_run_command(app);
  netsor::cli::add_spectrum_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netsor: %s\n", e.what());
    return 2;
  }
  return netsor::cli::exit_status();
}

// core/tools/commands.hpp — the subcommands of the `netsor` executable (shared/API.md, "Command line").
//
// Each subcommand lives in its own file and registers itself on the CLI11 application; netsor.cpp only wires
// them together. A command reports failure by its exit status: the callback stores it in `exit_status`.
#pragma once

#include <CLI/CLI.hpp>

namespace netsor::cli {

/// Exit status of the command that ran (0 = success). Set by the subcommand callbacks.
int& exit_status();

/// `netsor check list | run NAME... | all` — proofs_check/ (cmd_check.cpp).
void add_check_command(CLI::App& app);
/// `netsor run SCRIPT.cpp [args]` — compile a DSL script against the library and run it (cmd_run.cpp).
void add_run_command(CLI::App& app);
/// `netsor spectrum ...` — the limiting Jacobian spectrum of an MLP (cmd_spectrum.cpp).
void add_spectrum_command(CLI::App& app);

}  // namespace netsor::cli

// Each subcommand registers its options on the CLI11 app and returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "ringload/error.hpp"

namespace ringload::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the operation failed (I/O, out of memory, ...)
inline constexpr int kExitBadInput = 2;  // a file is not a valid model, or an option is wrong

// `ringload load`'s exit code for a failed load, with or without --mpi: the machine failed it
// (I/O, memory, no device, a cancel) or the input did.
[[nodiscard]] inline int load_exit_code(const Error& e) {
  return e.kind == ErrorKind::io || e.kind == ErrorKind::out_of_memory || e.kind == ErrorKind::no_device ||
                 e.kind == ErrorKind::cancelled
             ? kExitFailure
             : kExitBadInput;
}

// Each returns the subcommand's `run` hook, called after parsing when that subcommand was chosen.
std::function<int()> add_inspect(CLI::App& app);
std::function<int()> add_gen(CLI::App& app);
std::function<int()> add_load(CLI::App& app);
std::function<int()> add_memstat(CLI::App& app);
std::function<int()> add_bench(CLI::App& app);

}  // namespace ringload::cli

// Each subcommand registers its options on the CLI11 app and returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace ringload::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the operation failed (I/O, out of memory, ...)
inline constexpr int kExitBadInput = 2;  // a file is not a valid model, or an option is wrong

// Each returns the subcommand's `run` hook, called after parsing when that subcommand was chosen.
std::function<int()> add_inspect(CLI::App& app);
std::function<int()> add_gen(CLI::App& app);
std::function<int()> add_load(CLI::App& app);
std::function<int()> add_memstat(CLI::App& app);
std::function<int()> add_bench(CLI::App& app);

}  // namespace ringload::cli

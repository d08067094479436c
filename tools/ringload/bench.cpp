// Placeholder: filled in on branch benchcmd.
#include "commands.hpp"

namespace ringload::cli {
std::function<int()> add_bench(CLI::App& app) {
  app.add_subcommand("bench", "Benchmark every strategy side by side (not written yet)");
  return [] { return kExitFailure; };
}
}  // namespace ringload::cli
